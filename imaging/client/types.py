"""The typed values the clients take and return: small frozen dataclasses,
numpy arrays for vectors and attention, PIL images for pictures.

Nothing here imports gRPC or the generated messages; ``imaging.client._convert``
turns messages into these and back.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from PIL import Image

ImageInput: TypeAlias = bytes | str | os.PathLike[str] | Image.Image
"""An image to send: encoded bytes (PNG, JPEG, WebP, BMP, GIF), a file path, or a
PIL image (sent as PNG)."""

ResizeMode: TypeAlias = Literal["stretch", "center_crop", "letterbox"]
"""How the captioner fits an image to its square input (default "stretch")."""

ImageFormat: TypeAlias = Literal["png", "jpeg", "webp"]
"""The encoding of generated images (default "png")."""


# -- common -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """An amount of money: integer micros (1 USD = 1,000,000) of ``currency_code``."""

    amount_micros: int
    currency_code: str = ""

    @property
    def amount(self) -> Decimal:
        """The amount in currency units, exact: ``Decimal("0.003")``."""
        return Decimal(self.amount_micros) / Decimal(1_000_000)

    def __str__(self) -> str:
        text = f"{self.amount.normalize():f}"
        return f"{text} {self.currency_code}".strip()


@dataclass(frozen=True)
class Usage:
    """What a call consumed: the unit the gateway bills."""

    image_count: int
    megapixels: float
    input_megapixels: float
    token_count: int
    cost: Cost


# -- captioner ----------------------------------------------------------------------


@dataclass(frozen=True)
class Decoding:
    """Caption decoding options; None leaves the server's default.

    Build one with ``Decoding.greedy()``, ``Decoding.beam_search(beams=3)`` or
    ``Decoding.sampling(top_p=0.9, seed=7)``.
    """

    strategy: Literal["greedy", "beam_search", "sampling"] = "greedy"
    beams: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None
    min_new_tokens: int | None = None
    max_new_tokens: int | None = None
    early_stopping: bool = False
    stop_sequences: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def greedy(
        cls,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        repetition_penalty: float | None = None,
        stop_sequences: tuple[str, ...] = (),
    ) -> Decoding:
        """The most probable token at every step. Deterministic."""
        return cls(
            strategy="greedy",
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            repetition_penalty=repetition_penalty,
            stop_sequences=stop_sequences,
        )

    @classmethod
    def beam_search(
        cls,
        beams: int = 3,
        *,
        length_penalty: float | None = None,
        early_stopping: bool = False,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        repetition_penalty: float | None = None,
        stop_sequences: tuple[str, ...] = (),
    ) -> Decoding:
        """Keeps the ``beams`` best sequences (1-10). Deterministic."""
        return cls(
            strategy="beam_search",
            beams=beams,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            repetition_penalty=repetition_penalty,
            stop_sequences=stop_sequences,
        )

    @classmethod
    def sampling(
        cls,
        *,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        repetition_penalty: float | None = None,
        stop_sequences: tuple[str, ...] = (),
    ) -> Decoding:
        """Samples with temperature, top-k and top-p; reproducible with ``seed``."""
        return cls(
            strategy="sampling",
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            repetition_penalty=repetition_penalty,
            stop_sequences=stop_sequences,
        )


class FinishReason(StrEnum):
    """Why decoding of a caption stopped."""

    UNSPECIFIED = "unspecified"
    END_OF_SEQUENCE = "end_of_sequence"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"


@dataclass(frozen=True)
class Caption:
    """One caption: ``text`` (prefix included), the tokens generated, why it
    stopped and the mean natural-log probability per token (<= 0)."""

    text: str
    token_count: int
    finish_reason: FinishReason
    mean_log_probability: float


@dataclass(frozen=True)
class CaptionResult:
    """The captions of a call, one per image in order, the sampling seed used,
    and what the call consumed. ``text`` is the first caption's text."""

    captions: tuple[Caption, ...]
    seed: int
    usage: Usage

    @property
    def text(self) -> str:
        return self.captions[0].text if self.captions else ""


@dataclass(frozen=True)
class CaptionToken:
    """A token as decoded: vocabulary ``id``, the ``text`` it adds to the caption
    (with any leading space), its 0-based ``index`` and log-probability."""

    id: int
    text: str
    index: int
    log_probability: float


@dataclass(frozen=True, eq=False)
class Embeddings:
    """L2-normalised vectors in the shared image-text space: ``vectors`` has
    shape ``(inputs, dimension)``, float32, in input order."""

    vectors: NDArray[np.float32]
    usage: Usage

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@dataclass(frozen=True)
class TextMatch:
    """How well ``text`` describes the image: the matching head's probability
    in [0, 1] and the embeddings' cosine similarity in [-1, 1]."""

    text: str
    match_probability: float
    similarity: float


@dataclass(frozen=True)
class MatchResult:
    """One ``TextMatch`` per candidate text, in request order."""

    matches: tuple[TextMatch, ...]
    usage: Usage

    def ranked(self) -> tuple[TextMatch, ...]:
        """The matches, best first (by match probability, then similarity)."""
        return tuple(sorted(self.matches, key=lambda m: (-m.match_probability, -m.similarity)))


@dataclass(frozen=True)
class AttentionToken:
    """One caption token: position, vocabulary id, the tokenizer's text for it
    (a WordPiece such as "red" or "##dish") and, when asked for, the server's
    heatmap PNG."""

    index: int
    token_id: int
    text: str
    heatmap_png: bytes | None = None


@dataclass(frozen=True, eq=False)
class Attention:
    """The decoder's cross-attention over the image patches, per caption token.

    ``maps`` has shape ``(tokens, maps_per_token, grid_height, grid_width)``;
    map j of every token is decoder layer ``layers[j]`` and head ``heads[j]``
    (None: the mean over heads). The vision CLS token is dropped, so a map
    sums to at most 1.
    """

    caption: str
    tokens: tuple[AttentionToken, ...]
    maps: NDArray[np.float32]
    layers: tuple[int, ...]
    heads: tuple[int | None, ...]
    grid_height: int
    grid_width: int
    layer_count: int
    head_count: int
    usage: Usage

    def mean(self) -> NDArray[np.float32]:
        """Each token's maps averaged: shape ``(tokens, grid_height, grid_width)``."""
        if self.maps.shape[1] == 0:
            return np.zeros((len(self.tokens), self.grid_height, self.grid_width), dtype=np.float32)
        means: NDArray[np.float32] = self.maps.mean(axis=1, dtype=np.float32)
        return means


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter a request may name."""

    name: str
    description: str


@dataclass(frozen=True)
class ModelInfo:
    """What the captioner serves and its limits (GetModelInfo)."""

    caption_model: str
    retrieval_model: str
    capabilities: tuple[str, ...]
    image_size_px: int
    patch_size_px: int
    grid_height: int
    grid_width: int
    max_new_tokens_limit: int
    default_max_new_tokens: int
    max_images_per_request: int
    max_image_bytes: int
    max_image_pixels: int
    embedding_dimension: int
    adapters: tuple[Adapter, ...]
    max_batch_size: int


# -- generator ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """A variant's price list: ``model`` "flat" uses ``per_image``; "megapixel"
    the three per-megapixel prices (see the generator's contract)."""

    model: str
    per_image: Cost
    first_megapixel: Cost
    per_extra_megapixel: Cost
    per_input_megapixel: Cost

    def __str__(self) -> str:
        if self.model == "flat":
            return f"{self.per_image} per image"
        if self.model == "megapixel":
            return f"{self.first_megapixel} first MP + {self.per_extra_megapixel} per extra MP"
        return self.model


@dataclass(frozen=True)
class Variant:
    """A generation variant with its defaults, limits and price (ListVariants)."""

    name: str
    family: str
    description: str
    min_side_px: int
    max_side_px: int
    side_multiple_px: int
    max_megapixels: float
    default_width_px: int
    default_height_px: int
    default_steps: int
    max_steps: int
    supports_guidance: bool
    default_guidance_scale: float
    supports_true_cfg: bool
    default_true_cfg_scale: float
    max_reference_images: int
    supports_mask: bool
    pricing: Pricing
    max_image_count: int
    max_prompt_chars: int
    adapters: tuple[Adapter, ...]


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image: the encoded file as the server sent it (PNG files
    carry the prompt and seed in text chunks), its seed, size and price."""

    data: bytes
    media_type: str
    seed: int
    width_px: int
    height_px: int
    cost: Cost

    @cached_property
    def image(self) -> Image.Image:
        """The decoded picture (decoded on first access)."""
        return _decode(self.data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the file exactly as received; returns the path."""
        target = Path(path)
        target.write_bytes(self.data)
        return target


@dataclass(frozen=True)
class Timings:
    """Where a generation's time went, in seconds."""

    queue_s: float
    encode_s: float
    denoise_s: float
    decode_s: float
    total_s: float


@dataclass(frozen=True)
class Generation:
    """The images of a generation call, in seed order, with the first seed,
    the variant and steps used, timings and what the call cost."""

    images: tuple[GeneratedImage, ...]
    seed: int
    variant: str
    steps: int
    timings: Timings
    usage: Usage


@dataclass(frozen=True)
class Quote:
    """What a generation would make and cost: the size after the variant's rules
    and defaults, the steps, the image count, each image's price and the usage
    (total cost included) that ``generate`` with the same arguments bills."""

    variant: str
    width_px: int
    height_px: int
    steps: int
    image_count: int
    cost_per_image: Cost
    usage: Usage


@dataclass(frozen=True)
class Progress:
    """Progress after a denoising step (1-based ``step`` of ``total_steps``),
    with seconds elapsed and estimated remaining, and on preview steps a
    low-resolution preview of the first image."""

    step: int
    total_steps: int
    elapsed_s: float
    remaining_s: float
    preview_png: bytes | None = None

    @property
    def preview(self) -> Image.Image | None:
        return _decode(self.preview_png) if self.preview_png else None


# -- gateway ------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """A key's limits; zero (or None) means unlimited. ``allowed_variants``
    empty: every variant. ``plan`` alone names a gateway plan ("free")."""

    plan: str = ""
    requests_per_minute: int = 0
    images_per_month: int = 0
    spend_per_month: Cost | None = None
    allowed_variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiKey:
    """An API key without its secret. ``state`` is "active", "revoked" or "expired"."""

    key_id: str
    display_name: str
    state: str
    quota: Quota
    secret_prefix: str
    scopes: tuple[str, ...]
    created: datetime | None
    revoked: datetime | None
    expires: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret: shown only here, the gateway keeps a hash."""

    key: ApiKey
    secret: str = field(repr=False)


@dataclass(frozen=True)
class RotatedKey:
    """A rotated key's new secret, and when the old one stops working (None: at once)."""

    key: ApiKey
    secret: str = field(repr=False)
    old_secret_expires: datetime | None = None


@dataclass(frozen=True)
class UsageLine:
    """Usage of one method (and variant) in the period."""

    method: str
    model: str
    usage: Usage


@dataclass(frozen=True)
class UsageReport:
    """The calling key's usage this quota period (the month, UTC) and what is
    left: None means unlimited."""

    key: ApiKey
    period_start: datetime | None
    usage: Usage
    remaining_images: int | None
    remaining_spend: Cost | None
    breakdown: tuple[UsageLine, ...]


@dataclass(frozen=True)
class UsageRecord:
    """One billed image in the ledger (AdminService.ExportUsage)."""

    record_id: str
    key_id: str
    method: str
    model: str
    usage: Usage
    request_id: str
    created: datetime | None
    image_index: int


@dataclass(frozen=True)
class AuditEvent:
    """One change to a key in the append-only audit log."""

    event_id: int
    created: datetime | None
    actor: str
    action: str
    key_id: str
    details: Mapping[str, str]


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
