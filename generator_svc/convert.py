"""Validation and conversion between the wire messages and the engine's dataclasses.

Every bad field raises ``InvalidArgument`` (or ``NotFound``) naming its path
(``spec.width_px``, ``spec.reference_images[1].data``), so the servicer stays
a thin decode/await/encode shell. Nothing is rounded silently: a size the
variant cannot make is an error that states the rule.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration

from generator_svc.options import BatchKey, Family
from generator_svc.variants import (
    MAX_GUIDANCE_SCALE,
    MAX_TRUE_CFG_SCALE,
    MEGAPIXEL,
    Pricing,
    PricingModel,
    Registry,
    VariantConfig,
)
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from serving import errors

DEFAULT_QUALITY = 90
# Unset strength of a FLUX.1 img2img or inpaint call.
DEFAULT_STRENGTH = 0.85
MAX_SEED = 2**63 - 1
# A seed drawn for a call that sends none fits a signed 32-bit integer, which every client can store.
RANDOM_SEED_LIMIT = 2**31

_FORMATS = {
    common_pb2.IMAGE_FORMAT_UNSPECIFIED: "image/png",
    common_pb2.IMAGE_FORMAT_PNG: "image/png",
    common_pb2.IMAGE_FORMAT_JPEG: "image/jpeg",
    common_pb2.IMAGE_FORMAT_WEBP: "image/webp",
}
_FAMILIES = {Family.FLUX_1: pb.FAMILY_FLUX_1, Family.FLUX_2: pb.FAMILY_FLUX_2}
_RATIO = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def _bad(field: str, description: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.of(field, description)


@dataclass(frozen=True)
class Plan:
    """A validated spec: the batch key (``solo`` still 0) and the per-call values."""

    variant: VariantConfig
    key: BatchKey
    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    media_type: str
    quality: int
    strength: float | None


def variant(registry: Registry, name: str, field: str = "spec.variant") -> VariantConfig:
    if not name:
        raise _bad(field, f"a variant is required; served variants: {', '.join(registry.names) or 'none'}")
    found = registry.get(name)
    if found is None:
        raise errors.NotFound(
            f"no variant named {name!r}; served variants: {', '.join(registry.names) or 'none'}",
            field=field,
            reason="VARIANT_NOT_FOUND",
            metadata={"variant": name},
        )
    return found


def size(spec: pb.GenerationSpec, v: VariantConfig, field: str = "spec") -> tuple[int, int]:
    """The output (width, height) in pixels by the contract's rules; never rounded."""
    width, height = spec.width_px, spec.height_px
    if width or height:
        if spec.aspect_ratio or spec.megapixels:
            name = "aspect_ratio" if spec.aspect_ratio else "megapixels"
            raise _bad(
                f"{field}.{name}", "give width_px and height_px, or aspect_ratio and megapixels, not both"
            )
        for name, side in (("width_px", width), ("height_px", height)):
            if not side:
                raise _bad(f"{field}.{name}", "set both width_px and height_px, or neither")
            if not v.min_side_px <= side <= v.max_side_px:
                raise _bad(
                    f"{field}.{name}",
                    f"{side} px is outside {v.min_side_px}-{v.max_side_px} px for variant {v.name}",
                )
            if side % v.side_multiple_px:
                lower = side // v.side_multiple_px * v.side_multiple_px
                raise _bad(
                    f"{field}.{name}",
                    f"{side} px is not a multiple of {v.side_multiple_px} px (variant {v.name}); "
                    f"try {lower} or {lower + v.side_multiple_px}",
                )
        if width * height > v.max_pixels:
            raise _bad(
                f"{field}.width_px",
                f"{width}x{height} is {width * height / MEGAPIXEL:g} MP; variant {v.name} allows at most "
                f"{v.max_megapixels:g} MP",
            )
        return width, height
    if not spec.aspect_ratio and not spec.megapixels:
        return v.default_width_px, v.default_height_px
    return _from_ratio(spec.aspect_ratio or "1:1", spec.megapixels, v, field)


def _from_ratio(ratio: str, megapixels: float, v: VariantConfig, field: str) -> tuple[int, int]:
    """The largest size with exactly ``ratio``, the variant's multiple, limits and area."""
    match = _RATIO.match(ratio)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise _bad(f"{field}.aspect_ratio", f'{ratio!r} is not a ratio "W:H" of positive integers, e.g. 16:9')
    if megapixels < 0 or math.isnan(megapixels):
        raise _bad(f"{field}.megapixels", f"must be > 0 (0: the variant's default area), got {megapixels}")
    if megapixels > v.max_megapixels:
        raise _bad(
            f"{field}.megapixels", f"{megapixels:g} MP exceeds variant {v.name}'s {v.max_megapixels:g} MP"
        )
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
            f"{field}.aspect_ratio",
            f"no size with ratio {a}:{b}, sides multiples of {m} px within "
            f"{v.min_side_px}-{v.max_side_px} px fits {area / MEGAPIXEL:g} MP on variant {v.name}; "
            "change the ratio or megapixels",
        )
    return width, height


def plan(spec: pb.GenerationSpec, registry: Registry, field: str = "spec") -> Plan:
    """Validates everything in ``spec`` but the image bytes, and applies the defaults."""
    v = variant(registry, spec.variant, f"{field}.variant")
    if not spec.prompt.strip():
        raise _bad(f"{field}.prompt", "a prompt is required")
    if len(spec.prompt) > v.max_prompt_chars:
        raise _bad(
            f"{field}.prompt",
            f"{len(spec.prompt)} characters; variant {v.name} takes at most {v.max_prompt_chars}",
        )
    if len(spec.negative_prompt) > v.max_prompt_chars:
        raise _bad(f"{field}.negative_prompt", f"at most {v.max_prompt_chars} characters")
    width, height = size(spec, v, field)
    steps = spec.steps if spec.HasField("steps") else v.default_steps
    if not 1 <= steps <= v.max_steps:
        raise _bad(f"{field}.steps", f"must be between 1 and {v.max_steps} for variant {v.name}, got {steps}")
    guidance = v.default_guidance_scale
    if spec.HasField("guidance_scale"):
        if not 0 <= spec.guidance_scale <= MAX_GUIDANCE_SCALE:
            raise _bad(
                f"{field}.guidance_scale",
                f"must be between 0 and {MAX_GUIDANCE_SCALE:g}, got {spec.guidance_scale}",
            )
        # A variant without guidance ignores it; keeping the default keeps such calls batchable.
        if v.supports_guidance:
            guidance = spec.guidance_scale
    true_cfg = v.default_true_cfg_scale
    if spec.HasField("true_cfg_scale"):
        if not 1 <= spec.true_cfg_scale <= MAX_TRUE_CFG_SCALE:
            raise _bad(
                f"{field}.true_cfg_scale",
                f"must be between 1 and {MAX_TRUE_CFG_SCALE:g}, got {spec.true_cfg_scale}",
            )
        if spec.true_cfg_scale != 1 and not v.supports_true_cfg:
            raise _bad(f"{field}.true_cfg_scale", f"variant {v.name} has no true CFG; leave it unset or 1")
        true_cfg = spec.true_cfg_scale
    count = spec.image_count or 1
    if not 1 <= count <= v.max_image_count:
        raise _bad(f"{field}.image_count", f"must be between 1 and {v.max_image_count} for variant {v.name}")
    seed = spec.seed if spec.HasField("seed") else random.randrange(RANDOM_SEED_LIMIT)
    if not 0 <= seed <= MAX_SEED - (count - 1):
        raise _bad(f"{field}.seed", f"must be between 0 and {MAX_SEED - (count - 1)}, got {seed}")
    if spec.output_format not in _FORMATS:
        raise _bad(
            f"{field}.output_format", f"unknown image format {spec.output_format}; use PNG, JPEG or WEBP"
        )
    quality = spec.output_quality or DEFAULT_QUALITY
    if not 1 <= quality <= 100:
        raise _bad(f"{field}.output_quality", f"must be between 1 and 100, got {spec.output_quality}")
    references = len(spec.reference_images)
    if references > v.max_reference_images:
        raise _bad(
            f"{field}.reference_images",
            f"{references} reference images; variant {v.name} takes at most {v.max_reference_images}",
        )
    if spec.HasField("mask"):
        if not v.supports_mask:
            raise _bad(f"{field}.mask", f"variant {v.name} does not inpaint; send no mask")
        if not references:
            raise _bad(f"{field}.mask", "a mask needs the image to inpaint as reference_images[0]")
    strength: float | None = None
    if spec.HasField("strength"):
        if not 0 < spec.strength <= 1:
            raise _bad(f"{field}.strength", f"must be in (0, 1], got {spec.strength}")
        if v.family is not Family.FLUX_1 or not references:
            raise _bad(f"{field}.strength", "applies to flux.1 calls with a reference image only")
        strength = spec.strength
    elif references and v.family is Family.FLUX_1:
        strength = DEFAULT_STRENGTH
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
    )
    return Plan(
        variant=v,
        key=key,
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        seeds=tuple(seed + i for i in range(count)),
        media_type=_FORMATS[spec.output_format],
        quality=quality,
        strength=strength,
    )


# -- responses -------------------------------------------------------------------------


def cost(micros: int, currency_code: str) -> common_pb2.Cost:
    return common_pb2.Cost(currency_code=currency_code, amount_micros=micros)


def duration(seconds: float) -> Duration:
    message = Duration()
    message.FromNanoseconds(max(0, round(seconds * 1e9)))
    return message


def pricing_message(pricing: Pricing, currency_code: str) -> pb.Pricing:
    if pricing.model is PricingModel.FLAT:
        return pb.Pricing(
            model=pb.PRICING_MODEL_FLAT, per_image=cost(pricing.per_image_micros, currency_code)
        )
    return pb.Pricing(
        model=pb.PRICING_MODEL_MEGAPIXEL,
        first_megapixel=cost(pricing.first_megapixel_micros, currency_code),
        per_extra_megapixel=cost(pricing.per_extra_megapixel_micros, currency_code),
        per_input_megapixel=cost(pricing.per_input_megapixel_micros, currency_code),
    )


def variant_message(v: VariantConfig, currency_code: str) -> pb.Variant:
    return pb.Variant(
        name=v.name,
        family=_FAMILIES[v.family],
        description=v.description,
        min_side_px=v.min_side_px,
        max_side_px=v.max_side_px,
        side_multiple_px=v.side_multiple_px,
        max_megapixels=v.max_megapixels,
        default_width_px=v.default_width_px,
        default_height_px=v.default_height_px,
        default_steps=v.default_steps,
        max_steps=v.max_steps,
        supports_guidance=v.supports_guidance,
        default_guidance_scale=v.default_guidance_scale if v.supports_guidance else 0.0,
        supports_true_cfg=v.supports_true_cfg,
        default_true_cfg_scale=v.default_true_cfg_scale,
        max_reference_images=v.max_reference_images,
        supports_mask=v.supports_mask,
        pricing=pricing_message(v.pricing, currency_code),
        max_image_count=v.max_image_count,
        max_prompt_chars=v.max_prompt_chars,
    )
