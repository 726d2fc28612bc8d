"""What each forwarded method bills: how many images a request may bill (to
reserve quota before forwarding), which response message carries the billed
usage, and the per-image records made from it.

The captioner bills the input images it read (Caption, StreamCaption,
EmbedImages, MatchImageText, GetCrossAttention); the generator bills each
output image at the cost it stated. Discovery (GetModelInfo, ListVariants),
pricing (Quote) and EmbedTexts (no image) are never billed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from PIL import Image

from gateway.store.ledger import BilledImage
from imaging.captioner.v1 import captioner_pb2
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2

CAPTIONER_SERVICE = captioner_pb2.DESCRIPTOR.services_by_name["CaptionerService"]
GENERATOR_SERVICE = generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"]


@dataclass(frozen=True)
class MethodRule:
    """How one forwarded method is metered; ``planned_images`` None: free."""

    request_type: type[Message]
    response_type: type[Message]
    planned_images: Callable[[Any], int] | None = None
    # The message that carries the call's usage (a stream's last one); None: the only one.
    is_final: Callable[[Any], bool] | None = None
    variant: Callable[[Any], str] = lambda request: ""

    @property
    def billed(self) -> bool:
        return self.planned_images is not None


def _spec(request: Any) -> generator_pb2.GenerationSpec:
    spec: generator_pb2.GenerationSpec = request.spec
    return spec


def _generated_count(request: Any) -> int:
    return max(1, _spec(request).image_count)


RULES: dict[str, MethodRule] = {
    "/imaging.captioner.v1.CaptionerService/GetModelInfo": MethodRule(
        captioner_pb2.GetModelInfoRequest, captioner_pb2.GetModelInfoResponse
    ),
    "/imaging.captioner.v1.CaptionerService/Caption": MethodRule(
        captioner_pb2.CaptionRequest, captioner_pb2.CaptionResponse, lambda r: len(r.images)
    ),
    "/imaging.captioner.v1.CaptionerService/StreamCaption": MethodRule(
        captioner_pb2.StreamCaptionRequest,
        captioner_pb2.StreamCaptionResponse,
        lambda r: 1,
        is_final=lambda m: m.WhichOneof("event") == "caption",
    ),
    "/imaging.captioner.v1.CaptionerService/EmbedImages": MethodRule(
        captioner_pb2.EmbedImagesRequest, captioner_pb2.EmbedImagesResponse, lambda r: len(r.images)
    ),
    "/imaging.captioner.v1.CaptionerService/EmbedTexts": MethodRule(
        captioner_pb2.EmbedTextsRequest, captioner_pb2.EmbedTextsResponse
    ),
    "/imaging.captioner.v1.CaptionerService/MatchImageText": MethodRule(
        captioner_pb2.MatchImageTextRequest, captioner_pb2.MatchImageTextResponse, lambda r: 1
    ),
    "/imaging.captioner.v1.CaptionerService/GetCrossAttention": MethodRule(
        captioner_pb2.GetCrossAttentionRequest, captioner_pb2.GetCrossAttentionResponse, lambda r: 1
    ),
    "/imaging.generator.v1.GeneratorService/ListVariants": MethodRule(
        generator_pb2.ListVariantsRequest, generator_pb2.ListVariantsResponse
    ),
    "/imaging.generator.v1.GeneratorService/Quote": MethodRule(
        generator_pb2.QuoteRequest, generator_pb2.QuoteResponse
    ),
    "/imaging.generator.v1.GeneratorService/Generate": MethodRule(
        generator_pb2.GenerateRequest,
        generator_pb2.GenerateResponse,
        _generated_count,
        variant=lambda r: _spec(r).variant,
    ),
    "/imaging.generator.v1.GeneratorService/StreamGenerate": MethodRule(
        generator_pb2.StreamGenerateRequest,
        generator_pb2.StreamGenerateResponse,
        _generated_count,
        is_final=lambda m: m.WhichOneof("event") == "result",
        variant=lambda r: _spec(r).variant,
    ),
}


def billed_images(message: Any, currency: str) -> list[BilledImage]:
    """One record per image of a final response message."""
    if isinstance(message, generator_pb2.StreamGenerateResponse):
        message = message.result
    if isinstance(message, generator_pb2.GenerateResponse):
        return _generated(message, currency)
    usage: common_pb2.Usage = message.usage
    return _split_usage(usage, currency)


def _generated(response: generator_pb2.GenerateResponse, currency: str) -> list[BilledImage]:
    count = len(response.images)
    input_mp = response.usage.input_megapixels / count if count else 0.0
    return [
        BilledImage(
            image_index=i,
            model=response.variant,
            megapixels=image.width_px * image.height_px / 1_000_000,
            input_megapixels=input_mp,
            token_count=0,
            cost_micros=image.cost.amount_micros,
            currency_code=image.cost.currency_code or currency,
        )
        for i, image in enumerate(response.images)
    ]


def _split_usage(usage: common_pb2.Usage, currency: str) -> list[BilledImage]:
    """Splits a call's usage into its images; integer parts (tokens, micros)
    are spread so that the records sum to the call's totals exactly."""
    count = usage.image_count
    if count <= 0:
        return []
    tokens = _spread(usage.token_count, count)
    costs = _spread(usage.cost.amount_micros, count)
    return [
        BilledImage(
            image_index=i,
            model="",
            megapixels=usage.megapixels / count,
            input_megapixels=usage.input_megapixels / count,
            token_count=tokens[i],
            cost_micros=costs[i],
            currency_code=usage.cost.currency_code or currency,
        )
        for i in range(count)
    ]


def _spread(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def estimate_cost_micros(spec: generator_pb2.GenerationSpec, variant: generator_pb2.Variant | None) -> int:
    """An upper bound of what the generator will charge for ``spec``, to reserve
    spend before forwarding (the generator's stated cost is what is billed)."""
    if variant is None:
        return 0
    pricing = variant.pricing
    count = max(1, spec.image_count)
    if pricing.model == generator_pb2.PRICING_MODEL_FLAT:
        return count * pricing.per_image.amount_micros
    if spec.width_px and spec.height_px:
        output_mp = spec.width_px * spec.height_px / 1_000_000
    elif spec.megapixels > 0:
        output_mp = spec.megapixels
    else:
        output_mp = variant.default_width_px * variant.default_height_px / 1_000_000
    input_mp = sum(_header_megapixels(image.data) for image in spec.reference_images)
    per_image = (
        pricing.first_megapixel.amount_micros
        + pricing.per_extra_megapixel.amount_micros * max(0.0, output_mp - 1.0)
        + pricing.per_input_megapixel.amount_micros * input_mp
    )
    return count * math.ceil(per_image)


def _header_megapixels(data: bytes) -> float:
    """Width x height from the image header alone (no pixels decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # the generator will refuse it with a precise error
        return 0.0
    return width * height / 1_000_000
