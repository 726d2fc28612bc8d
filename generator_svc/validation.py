"""The rules of a ``GenerationSpec``: every bad field raises ``InvalidArgument``
(or ``NotFound``) naming its path as clients send it (``spec.width_px``), and
the defaults of what a call leaves unset are applied. Nothing is rounded
silently: a size the variant cannot make is an error that states the rule.
The image bytes are checked later, off the event loop (``references``).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from generator_svc.calls import GenerationSpec, ImageFormat
from generator_svc.options import BatchKey, Family
from generator_svc.variants import MAX_GUIDANCE_SCALE, MAX_TRUE_CFG_SCALE, MEGAPIXEL, Registry, VariantConfig
from serving import errors

# The request field that holds the spec: every path below starts with it.
SPEC = "spec"
DEFAULT_FORMAT = ImageFormat.PNG
DEFAULT_QUALITY = 90
MAX_QUALITY = 100
# Unset strength of a FLUX.1 img2img or inpaint call.
DEFAULT_STRENGTH = 0.85
MAX_SEED = 2**63 - 1
# A seed drawn for a call that sends none fits a signed 32-bit integer, which every client can store.
RANDOM_SEED_LIMIT = 2**31

_RATIO = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def _bad(name: str, description: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.of(f"{SPEC}.{name}", description)


@dataclass(frozen=True)
class Plan:
    """A validated spec: the batch key (``solo`` still 0) and the per-call values."""

    variant: VariantConfig
    key: BatchKey
    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    output_format: ImageFormat
    quality: int
    strength: float | None


def variant(registry: Registry, name: str) -> VariantConfig:
    served = ", ".join(registry.names) or "none"
    if not name:
        raise _bad("variant", f"a variant is required; served variants: {served}")
    found = registry.get(name)
    if found is None:
        raise errors.NotFound(
            f"no variant named {name!r}; served variants: {served}",
            field=f"{SPEC}.variant",
            reason="VARIANT_NOT_FOUND",
            metadata={"variant": name},
        )
    return found


def adapter(name: str, v: VariantConfig) -> str:
    """The adapter name, when ``v`` serves it; "" (the base model) stays ""."""
    if not name or name in v.adapter_names:
        return name
    served = (
        f"its adapters: {', '.join(v.adapter_names)}"
        if v.adapters
        else "it has none; leave adapter empty for the base model"
    )
    description = f"variant {v.name} serves no adapter named {name!r}; {served}"
    raise errors.InvalidArgument(
        message=f"{SPEC}.adapter: {description}",
        reason="ADAPTER_NOT_FOUND",
        metadata={"variant": v.name, "adapter": name},
        violations=[errors.FieldViolation(f"{SPEC}.adapter", description)],
    )


def size(spec: GenerationSpec, v: VariantConfig) -> tuple[int, int]:
    """The output (width, height) in pixels by the contract's rules; never rounded."""
    width, height = spec.width_px, spec.height_px
    if width or height:
        if spec.aspect_ratio or spec.megapixels:
            name = "aspect_ratio" if spec.aspect_ratio else "megapixels"
            raise _bad(name, "give width_px and height_px, or aspect_ratio and megapixels, not both")
        for name, side in (("width_px", width), ("height_px", height)):
            if not side:
                raise _bad(name, "set both width_px and height_px, or neither")
            if not v.min_side_px <= side <= v.max_side_px:
                raise _bad(
                    name, f"{side} px is outside {v.min_side_px}-{v.max_side_px} px for variant {v.name}"
                )
            if side % v.side_multiple_px:
                lower = side // v.side_multiple_px * v.side_multiple_px
                raise _bad(
                    name,
                    f"{side} px is not a multiple of {v.side_multiple_px} px (variant {v.name}); "
                    f"try {lower} or {lower + v.side_multiple_px}",
                )
        if width * height > v.max_pixels:
            raise _bad(
                "width_px",
                f"{width}x{height} is {width * height / MEGAPIXEL:g} MP; variant {v.name} allows at most "
                f"{v.max_megapixels:g} MP",
            )
        return width, height
    if not spec.aspect_ratio and not spec.megapixels:
        return v.default_width_px, v.default_height_px
    return _from_ratio(spec.aspect_ratio or "1:1", spec.megapixels, v)


def _from_ratio(ratio: str, megapixels: float, v: VariantConfig) -> tuple[int, int]:
    """The largest size with exactly ``ratio``, the variant's multiple, limits and area."""
    match = _RATIO.match(ratio)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise _bad("aspect_ratio", f'{ratio!r} is not a ratio "W:H" of positive integers, e.g. 16:9')
    if megapixels < 0 or math.isnan(megapixels):
        raise _bad("megapixels", f"must be > 0 (0: the variant's default area), got {megapixels}")
    if megapixels > v.max_megapixels:
        raise _bad("megapixels", f"{megapixels:g} MP exceeds variant {v.name}'s {v.max_megapixels:g} MP")
    area = megapixels * MEGAPIXEL if megapixels else v.default_width_px * v.default_height_px
    a, b = int(match.group(1)), int(match.group(2))
    divisor = math.gcd(a, b)
    a, b = a // divisor, b // divisor
    m = v.side_multiple_px
    # w = a*s and h = b*s are multiples of m exactly when s is a multiple of this step.
    step = math.lcm(m // math.gcd(m, a), m // math.gcd(m, b))
    k = math.isqrt(int(area // (a * b * step * step)))
    while k > 0 and a * b * (k * step) ** 2 > area:
        k -= 1
    while k > 0 and max(a, b) * k * step > v.max_side_px:
        k -= 1
    width, height = a * k * step, b * k * step
    if k == 0 or min(width, height) < v.min_side_px:
        raise _bad(
            "aspect_ratio",
            f"no size with ratio {a}:{b}, sides multiples of {m} px within "
            f"{v.min_side_px}-{v.max_side_px} px fits {area / MEGAPIXEL:g} MP on variant {v.name}; "
            "change the ratio or megapixels",
        )
    return width, height


def plan(spec: GenerationSpec, registry: Registry) -> Plan:
    """Validates everything in ``spec`` but the image bytes, and applies the defaults."""
    v = variant(registry, spec.variant)
    chosen_adapter = adapter(spec.adapter, v)
    if not spec.prompt.strip():
        raise _bad("prompt", "a prompt is required")
    if len(spec.prompt) > v.max_prompt_chars:
        raise _bad(
            "prompt", f"{len(spec.prompt)} characters; variant {v.name} takes at most {v.max_prompt_chars}"
        )
    if len(spec.negative_prompt) > v.max_prompt_chars:
        raise _bad("negative_prompt", f"at most {v.max_prompt_chars} characters")
    width, height = size(spec, v)
    steps = v.default_steps if spec.steps is None else spec.steps
    if not 1 <= steps <= v.max_steps:
        raise _bad("steps", f"must be between 1 and {v.max_steps} for variant {v.name}, got {steps}")
    guidance, true_cfg = _guidance(spec, v), _true_cfg(spec, v)
    count = spec.image_count or 1
    if not 1 <= count <= v.max_image_count:
        raise _bad("image_count", f"must be between 1 and {v.max_image_count} for variant {v.name}")
    seed = random.randrange(RANDOM_SEED_LIMIT) if spec.seed is None else spec.seed
    if not 0 <= seed <= MAX_SEED - (count - 1):
        raise _bad("seed", f"must be between 0 and {MAX_SEED - (count - 1)}, got {seed}")
    quality = spec.output_quality or DEFAULT_QUALITY
    if not 1 <= quality <= MAX_QUALITY:
        raise _bad("output_quality", f"must be between 1 and {MAX_QUALITY}, got {spec.output_quality}")
    key = BatchKey(
        variant=v.name,
        checkpoint=v.checkpoint,
        family=v.family,
        width_px=width,
        height_px=height,
        steps=steps,
        guidance_scale=guidance,
        true_cfg_scale=true_cfg,
        max_sequence_length=v.max_sequence_length,
        text_encoder_out_layers=v.text_encoder_out_layers,
        default_negative_prompt=v.default_negative_prompt,
        adapter=chosen_adapter,
    )
    return Plan(
        variant=v,
        key=key,
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        seeds=tuple(seed + i for i in range(count)),
        output_format=spec.output_format or DEFAULT_FORMAT,
        quality=quality,
        strength=_strength(spec, v),
    )


def _guidance(spec: GenerationSpec, v: VariantConfig) -> float:
    if spec.guidance_scale is None:
        return v.default_guidance_scale
    if not 0 <= spec.guidance_scale <= MAX_GUIDANCE_SCALE:
        raise _bad(
            "guidance_scale", f"must be between 0 and {MAX_GUIDANCE_SCALE:g}, got {spec.guidance_scale}"
        )
    # A variant without guidance ignores it; keeping the default keeps such calls batchable.
    return spec.guidance_scale if v.supports_guidance else v.default_guidance_scale


def _true_cfg(spec: GenerationSpec, v: VariantConfig) -> float:
    if spec.true_cfg_scale is None:
        return v.default_true_cfg_scale
    if not 1 <= spec.true_cfg_scale <= MAX_TRUE_CFG_SCALE:
        raise _bad(
            "true_cfg_scale", f"must be between 1 and {MAX_TRUE_CFG_SCALE:g}, got {spec.true_cfg_scale}"
        )
    if spec.true_cfg_scale != 1 and not v.supports_true_cfg:
        raise _bad("true_cfg_scale", f"variant {v.name} has no true CFG; leave it unset or 1")
    return spec.true_cfg_scale


def _strength(spec: GenerationSpec, v: VariantConfig) -> float | None:
    """The img2img/inpaint strength, after the reference-image and mask counts are checked."""
    references = len(spec.reference_images)
    if references > v.max_reference_images:
        raise _bad(
            "reference_images",
            f"{references} reference images; variant {v.name} takes at most {v.max_reference_images}",
        )
    if spec.mask is not None:
        if not v.supports_mask:
            raise _bad("mask", f"variant {v.name} does not inpaint; send no mask")
        if not references:
            raise _bad("mask", "a mask needs the image to inpaint as reference_images[0]")
    if spec.strength is not None:
        if not 0 < spec.strength <= 1:
            raise _bad("strength", f"must be in (0, 1], got {spec.strength}")
        if v.family is not Family.FLUX_1 or not references:
            raise _bad("strength", "applies to flux.1 calls with a reference image only")
        return spec.strength
    return DEFAULT_STRENGTH if references and v.family is Family.FLUX_1 else None
