"""A call and its answers as typed values: what ``convert`` (the gRPC edge)
makes of the messages and what ``generation`` (the typed layer) returns.

No transport here: every field mirrors one of ``imaging.generator.v1``'s, in
its units; a field a call leaves unset is ``None`` where the contract tells
"unset" apart from zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ImageFormat(Enum):
    """An output file format, by its media type."""

    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"


@dataclass(frozen=True)
class EncodedImage:
    """Image file bytes as sent (PNG/JPEG/WebP); ``media_type`` may be empty."""

    data: bytes
    media_type: str = ""


@dataclass(frozen=True)
class GenerationSpec:
    """What a caller asked for, not yet validated (``validation.plan`` does)."""

    prompt: str = ""
    variant: str = ""
    negative_prompt: str = ""
    width_px: int = 0
    height_px: int = 0
    aspect_ratio: str = ""
    megapixels: float = 0.0
    steps: int | None = None
    guidance_scale: float | None = None
    true_cfg_scale: float | None = None
    image_count: int = 0
    seed: int | None = None
    output_format: ImageFormat | None = None
    output_quality: int = 0
    reference_images: tuple[EncodedImage, ...] = ()
    mask: EncodedImage | None = None
    strength: float | None = None
    adapter: str = ""


@dataclass(frozen=True)
class ImageFile:
    """One generated image, encoded, with its seed and price."""

    data: bytes
    media_type: str
    seed: int
    width_px: int
    height_px: int
    cost_micros: int


@dataclass(frozen=True)
class Generated:
    """A finished call: its files, what ran, where the time went (seconds from
    its arrival) and its usage; prices in micros of ``currency_code``."""

    images: tuple[ImageFile, ...]
    variant: str
    steps: int
    currency_code: str
    queue_s: float
    encode_s: float
    denoise_s: float
    decode_s: float
    total_s: float
    megapixels: float
    input_megapixels: float
    cost_micros: int


@dataclass(frozen=True)
class Quoted:
    """A validated, priced spec that was not generated; prices in micros of ``currency_code``."""

    variant: str
    width_px: int
    height_px: int
    steps: int
    image_count: int
    currency_code: str
    image_cost_micros: int
    megapixels: float
    input_megapixels: float

    @property
    def cost_micros(self) -> int:
        return self.image_cost_micros * self.image_count


@dataclass(frozen=True)
class Progress:
    """One finished denoising step of a streamed call; ``preview`` on preview steps."""

    step: int
    total_steps: int
    elapsed_s: float
    remaining_s: float
    preview: EncodedImage | None = None
