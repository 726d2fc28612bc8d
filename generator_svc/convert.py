"""The gRPC edge's conversions: ``imaging.generator.v1`` messages to the typed
calls of ``calls`` and back. Nothing is checked here but what has no typed
form (an output format this server does not know); ``validation`` checks the rest.
"""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from generator_svc.calls import EncodedImage, Generated, GenerationSpec, ImageFormat, Progress, Quoted
from generator_svc.options import Family
from generator_svc.validation import SPEC
from generator_svc.variants import Pricing, PricingModel, VariantConfig
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from serving import errors

# IMAGE_FORMAT_UNSPECIFIED is left out: an unset format takes the default (validation.DEFAULT_FORMAT).
_FORMATS = {
    common_pb2.IMAGE_FORMAT_PNG: ImageFormat.PNG,
    common_pb2.IMAGE_FORMAT_JPEG: ImageFormat.JPEG,
    common_pb2.IMAGE_FORMAT_WEBP: ImageFormat.WEBP,
}
_FAMILIES = {Family.FLUX_1: pb.FAMILY_FLUX_1, Family.FLUX_2: pb.FAMILY_FLUX_2}


def _image(message: common_pb2.Image) -> EncodedImage:
    return EncodedImage(message.data, message.media_type)


def _output_format(value: common_pb2.ImageFormat.ValueType) -> ImageFormat | None:
    if value == common_pb2.IMAGE_FORMAT_UNSPECIFIED:
        return None
    found = _FORMATS.get(value)
    if found is None:
        raise errors.InvalidArgument.of(
            f"{SPEC}.output_format", f"unknown image format {value}; use PNG, JPEG or WEBP"
        )
    return found


def spec(message: pb.GenerationSpec) -> GenerationSpec:
    return GenerationSpec(
        prompt=message.prompt,
        variant=message.variant,
        negative_prompt=message.negative_prompt,
        width_px=message.width_px,
        height_px=message.height_px,
        aspect_ratio=message.aspect_ratio,
        megapixels=message.megapixels,
        steps=message.steps if message.HasField("steps") else None,
        guidance_scale=message.guidance_scale if message.HasField("guidance_scale") else None,
        true_cfg_scale=message.true_cfg_scale if message.HasField("true_cfg_scale") else None,
        image_count=message.image_count,
        seed=message.seed if message.HasField("seed") else None,
        output_format=_output_format(message.output_format),
        output_quality=message.output_quality,
        reference_images=tuple(_image(image) for image in message.reference_images),
        mask=_image(message.mask) if message.HasField("mask") else None,
        strength=message.strength if message.HasField("strength") else None,
        adapter=message.adapter,
    )


def cost(micros: int, currency_code: str) -> common_pb2.Cost:
    return common_pb2.Cost(currency_code=currency_code, amount_micros=micros)


def duration(seconds: float) -> Duration:
    message = Duration()
    message.FromNanoseconds(max(0, round(seconds * 1e9)))
    return message


def response(generated: Generated) -> pb.GenerateResponse:
    currency = generated.currency_code
    return pb.GenerateResponse(
        images=[
            pb.GeneratedImage(
                image=common_pb2.Image(data=image.data, media_type=image.media_type),
                seed=image.seed,
                width_px=image.width_px,
                height_px=image.height_px,
                cost=cost(image.cost_micros, currency),
            )
            for image in generated.images
        ],
        seed=generated.images[0].seed,
        variant=generated.variant,
        steps=generated.steps,
        timings=pb.Timings(
            queue_duration=duration(generated.queue_s),
            encode_duration=duration(generated.encode_s),
            denoise_duration=duration(generated.denoise_s),
            decode_duration=duration(generated.decode_s),
            total_duration=duration(generated.total_s),
        ),
        usage=common_pb2.Usage(
            image_count=len(generated.images),
            megapixels=generated.megapixels,
            input_megapixels=generated.input_megapixels,
            cost=cost(generated.cost_micros, currency),
        ),
    )


def quote_response(quoted: Quoted) -> pb.QuoteResponse:
    currency = quoted.currency_code
    return pb.QuoteResponse(
        variant=quoted.variant,
        width_px=quoted.width_px,
        height_px=quoted.height_px,
        steps=quoted.steps,
        image_count=quoted.image_count,
        cost_per_image=cost(quoted.image_cost_micros, currency),
        usage=common_pb2.Usage(
            image_count=quoted.image_count,
            megapixels=quoted.megapixels,
            input_megapixels=quoted.input_megapixels,
            cost=cost(quoted.cost_micros, currency),
        ),
    )


def progress(step: Progress) -> pb.StepProgress:
    message = pb.StepProgress(
        step=step.step,
        total_steps=step.total_steps,
        elapsed_duration=duration(step.elapsed_s),
        estimated_remaining_duration=duration(step.remaining_s),
    )
    if step.preview is not None:
        message.preview.CopyFrom(common_pb2.Image(data=step.preview.data, media_type=step.preview.media_type))
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
        adapters=[pb.Adapter(name=a.name, description=a.description) for a in v.adapters],
    )
