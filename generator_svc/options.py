"""What the engine needs to know of a call, as plain frozen dataclasses.

``BatchKey`` is hashable and is the micro-batcher's compatibility key: calls
with equal keys run as one pipeline call (a list of prompts and one seeded
generator per image) with one LoRA adapter (or none) active. Calls with
reference images carry a unique ``solo`` number, since a pipeline call shares
its reference images across the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PIL import Image

# A checkpoint named ``hub:owner/name`` loads from the Hugging Face hub; any other is a directory.
HUB_PREFIX = "hub:"


class Family(Enum):
    FLUX_1 = "flux.1"
    FLUX_2 = "flux.2"


@dataclass(frozen=True)
class BatchKey:
    """Parameters every image of one pipeline call shares (defaults applied), the
    variant's text-encoder settings included, so compute needs no registry look-up."""

    variant: str
    checkpoint: str
    family: Family
    width_px: int
    height_px: int
    steps: int
    guidance_scale: float
    true_cfg_scale: float
    max_sequence_length: int
    text_encoder_out_layers: tuple[int, ...] = ()
    default_negative_prompt: str = ""
    # The LoRA adapter active for the whole call, by name; "": the base model.
    adapter: str = ""
    # 0: batchable text-to-image; otherwise unique per call (reference images, masks).
    solo: int = 0


@dataclass(frozen=True)
class GenerationJob:
    """One call: ``len(seeds)`` images of one prompt; image i uses ``seeds[i]``.

    ``reference_images`` are decoded RGB images; for FLUX.1 the first is the
    img2img/inpaint start image (``mask`` white = repaint) moved ``strength``
    of the way to noise (``validation.plan`` sets it for such calls); for FLUX.2
    they are edit/subject references.
    """

    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    reference_images: tuple[Image.Image, ...] = ()
    mask: Image.Image | None = None
    strength: float | None = None
    preview_every_steps: int = 0


@dataclass(frozen=True)
class StepEvent:
    """Progress after one denoising step of a job; ``preview`` only on preview steps."""

    step: int
    total_steps: int
    elapsed_s: float
    remaining_s: float
    preview: Image.Image | None = None


@dataclass(frozen=True)
class GenerationResult:
    """A finished job: one RGB image per seed, in seed order, and where the time went.

    ``started_at`` and ``first_step_at`` are ``time.monotonic()`` values; the
    durations are seconds of the pipeline call this job ran in.
    """

    images: tuple[Image.Image, ...]
    seeds: tuple[int, ...]
    steps_run: int
    started_at: float
    first_step_at: float
    encode_s: float
    denoise_s: float
    decode_s: float
