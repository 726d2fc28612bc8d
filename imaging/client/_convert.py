"""Typed values to request messages and response messages to typed values: the
one place where the clients touch the generated messages' fields. Pure: no I/O
beyond reading an image file the caller named."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from google.protobuf import duration_pb2, timestamp_pb2
from PIL import Image

from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.client import types as t
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2 as gw
from imaging.generator.v1 import generator_pb2 as gen

# -- inputs -------------------------------------------------------------------------


def image(value: t.ImageInput, what: str = "image") -> common_pb2.Image:
    """An ``Image`` message from bytes, a path or a PIL image (encoded as PNG).
    Bytes and files travel as they are; the server sniffs their format."""
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return common_pb2.Image(data=buffer.getvalue(), media_type="image/png")
    if isinstance(value, bytes | bytearray | memoryview):
        return common_pb2.Image(data=bytes(value))
    if isinstance(value, str | os.PathLike):
        return common_pb2.Image(data=Path(value).read_bytes())
    raise TypeError(f"{what} must be bytes, a path or a PIL image, not {type(value).__name__}")


_STRATEGIES = {
    "greedy": cap.DECODING_STRATEGY_GREEDY,
    "beam_search": cap.DECODING_STRATEGY_BEAM_SEARCH,
    "sampling": cap.DECODING_STRATEGY_SAMPLING,
}
_RESIZE = {
    "stretch": cap.RESIZE_MODE_STRETCH,
    "center_crop": cap.RESIZE_MODE_CENTER_CROP,
    "letterbox": cap.RESIZE_MODE_LETTERBOX,
}
_FORMATS = {
    "png": common_pb2.IMAGE_FORMAT_PNG,
    "jpeg": common_pb2.IMAGE_FORMAT_JPEG,
    "webp": common_pb2.IMAGE_FORMAT_WEBP,
}


def decoding(options: t.Decoding | None) -> cap.DecodingOptions | None:
    if options is None:
        return None
    message = cap.DecodingOptions(
        strategy=_STRATEGIES[options.strategy],
        beam_count=options.beams or 0,
        temperature=options.temperature or 0.0,
        top_k=options.top_k or 0,
        top_p=options.top_p or 0.0,
        repetition_penalty=options.repetition_penalty or 0.0,
        length_penalty=options.length_penalty or 0.0,
        min_new_tokens=options.min_new_tokens or 0,
        max_new_tokens=options.max_new_tokens or 0,
        early_stopping=options.early_stopping,
        stop_sequences=list(options.stop_sequences),
    )
    if options.seed is not None:
        message.seed = options.seed
    return message


def resize(mode: t.ResizeMode | None) -> cap.ResizeMode.ValueType:
    return _RESIZE[mode] if mode is not None else cap.RESIZE_MODE_UNSPECIFIED


def caption_request(
    images: Sequence[t.ImageInput],
    options: t.Decoding | None,
    prefix: str,
    adapter: str,
    resize_mode: t.ResizeMode | None,
) -> cap.CaptionRequest:
    return cap.CaptionRequest(
        images=[image(v, f"images[{i}]") for i, v in enumerate(images)],
        decoding=decoding(options),
        prefix=prefix,
        adapter=adapter,
        resize_mode=resize(resize_mode),
    )


def stream_caption_request(
    value: t.ImageInput,
    options: t.Decoding | None,
    prefix: str,
    adapter: str,
    resize_mode: t.ResizeMode | None,
) -> cap.StreamCaptionRequest:
    return cap.StreamCaptionRequest(
        image=image(value),
        decoding=decoding(options),
        prefix=prefix,
        adapter=adapter,
        resize_mode=resize(resize_mode),
    )


def attention_request(
    value: t.ImageInput,
    caption: str,
    options: t.Decoding | None,
    layers: Sequence[int],
    per_head: bool,
    heatmaps: bool,
    resize_mode: t.ResizeMode | None,
) -> cap.GetCrossAttentionRequest:
    return cap.GetCrossAttentionRequest(
        image=image(value),
        caption=caption,
        decoding=decoding(options),
        head_reduction=cap.HEAD_REDUCTION_NONE if per_head else cap.HEAD_REDUCTION_MEAN,
        layers=list(layers),
        render_heatmaps=heatmaps,
        resize_mode=resize(resize_mode),
    )


def generation_spec(
    prompt: str,
    *,
    variant: str,
    width_px: int | None = None,
    height_px: int | None = None,
    aspect_ratio: str | None = None,
    megapixels: float | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    true_cfg_scale: float | None = None,
    negative_prompt: str = "",
    seed: int | None = None,
    count: int = 1,
    output_format: t.ImageFormat | None = None,
    quality: int | None = None,
    references: Sequence[t.ImageInput] = (),
    mask: t.ImageInput | None = None,
    strength: float | None = None,
    adapter: str = "",
) -> gen.GenerationSpec:
    spec = gen.GenerationSpec(
        prompt=prompt,
        negative_prompt=negative_prompt,
        variant=variant,
        width_px=width_px or 0,
        height_px=height_px or 0,
        aspect_ratio=aspect_ratio or "",
        megapixels=megapixels or 0.0,
        image_count=count,
        output_format=_FORMATS[output_format] if output_format else common_pb2.IMAGE_FORMAT_UNSPECIFIED,
        output_quality=quality or 0,
        reference_images=[image(v, f"references[{i}]") for i, v in enumerate(references)],
        adapter=adapter,
    )
    if mask is not None:
        spec.mask.CopyFrom(image(mask, "mask"))
    if steps is not None:
        spec.steps = steps
    if guidance_scale is not None:
        spec.guidance_scale = guidance_scale
    if true_cfg_scale is not None:
        spec.true_cfg_scale = true_cfg_scale
    if seed is not None:
        spec.seed = seed
    if strength is not None:
        spec.strength = strength
    return spec


def embed_images_request(
    images: Sequence[t.ImageInput], resize_mode: t.ResizeMode | None
) -> cap.EmbedImagesRequest:
    return cap.EmbedImagesRequest(
        images=[image(v, f"images[{i}]") for i, v in enumerate(images)], resize_mode=resize(resize_mode)
    )


def match_request(
    value: t.ImageInput, texts: Sequence[str], resize_mode: t.ResizeMode | None
) -> cap.MatchImageTextRequest:
    return cap.MatchImageTextRequest(image=image(value), texts=list(texts), resize_mode=resize(resize_mode))


def create_key_request(
    display_name: str, key_quota: t.Quota | None, scopes: Sequence[str], expires: datetime | None
) -> gw.CreateApiKeyRequest:
    request = gw.CreateApiKeyRequest(display_name=display_name, scopes=list(scopes))
    if key_quota is not None:
        request.quota.CopyFrom(quota(key_quota))
    if expires is not None:
        request.expire_time.CopyFrom(timestamp_message(expires))
    return request


def rotate_key_request(key_id: str, grace_period_s: float) -> gw.RotateApiKeyRequest:
    request = gw.RotateApiKeyRequest(key_id=key_id)
    if grace_period_s:
        request.grace_period.CopyFrom(duration_message(grace_period_s))
    return request


def export_request(key_id: str, start: datetime | None, end: datetime | None) -> gw.ExportUsageRequest:
    request = gw.ExportUsageRequest(key_id=key_id)
    if start is not None:
        request.start_time.CopyFrom(timestamp_message(start))
    if end is not None:
        request.end_time.CopyFrom(timestamp_message(end))
    return request


def quota(value: t.Quota) -> gw.Quota:
    message = gw.Quota(
        plan=value.plan,
        requests_per_minute=value.requests_per_minute,
        images_per_month=value.images_per_month,
        allowed_variants=list(value.allowed_variants),
    )
    if value.spend_per_month is not None:
        message.spend_per_month.CopyFrom(cost_message(value.spend_per_month))
    return message


def cost_message(value: t.Cost) -> common_pb2.Cost:
    return common_pb2.Cost(currency_code=value.currency_code, amount_micros=value.amount_micros)


def timestamp_message(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return message


def duration_message(seconds: float) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(timedelta(seconds=seconds))
    return message


# -- outputs ------------------------------------------------------------------------


def cost(message: common_pb2.Cost) -> t.Cost:
    return t.Cost(amount_micros=message.amount_micros, currency_code=message.currency_code)


def usage(message: common_pb2.Usage) -> t.Usage:
    return t.Usage(
        image_count=message.image_count,
        megapixels=message.megapixels,
        input_megapixels=message.input_megapixels,
        token_count=message.token_count,
        cost=cost(message.cost),
    )


_FINISH = {
    cap.FINISH_REASON_END_OF_SEQUENCE: t.FinishReason.END_OF_SEQUENCE,
    cap.FINISH_REASON_LENGTH: t.FinishReason.LENGTH,
    cap.FINISH_REASON_STOP_SEQUENCE: t.FinishReason.STOP_SEQUENCE,
}


def caption(message: cap.Caption) -> t.Caption:
    return t.Caption(
        text=message.text,
        token_count=message.token_count,
        finish_reason=_FINISH.get(message.finish_reason, t.FinishReason.UNSPECIFIED),
        mean_log_probability=message.mean_log_probability,
    )


def caption_result(message: cap.CaptionResponse) -> t.CaptionResult:
    return t.CaptionResult(
        captions=tuple(caption(c) for c in message.captions), seed=message.seed, usage=usage(message.usage)
    )


def caption_event(message: cap.StreamCaptionResponse) -> t.CaptionToken | t.CaptionResult:
    """A streamed token, or the final caption as a one-caption result."""
    if message.HasField("token"):
        token = message.token
        return t.CaptionToken(
            id=token.id, text=token.text, index=token.index, log_probability=token.log_probability
        )
    return t.CaptionResult(
        captions=(caption(message.caption),), seed=message.seed, usage=usage(message.usage)
    )


def embeddings(
    message: cap.EmbedImagesResponse | cap.EmbedTextsResponse, call_usage: t.Usage | None = None
) -> t.Embeddings:
    dimension = message.dimension
    rows = [np.asarray(e.values, dtype=np.float32) for e in message.embeddings]
    vectors = np.stack(rows) if rows else np.zeros((0, dimension), dtype=np.float32)
    return t.Embeddings(vectors=vectors, usage=call_usage or ZERO_USAGE)


def match_result(message: cap.MatchImageTextResponse) -> t.MatchResult:
    return t.MatchResult(
        matches=tuple(
            t.TextMatch(text=m.text, match_probability=m.match_probability, similarity=m.similarity)
            for m in message.matches
        ),
        usage=usage(message.usage),
    )


def attention(message: cap.GetCrossAttentionResponse) -> t.Attention:
    height, width = message.grid_height, message.grid_width
    first = message.tokens[0].maps if message.tokens else []
    layers = tuple(m.layer for m in first)
    heads = tuple(m.head if m.HasField("head") else None for m in first)
    maps = np.zeros((len(message.tokens), len(first), height, width), dtype=np.float32)
    for i, token in enumerate(message.tokens):
        for j, attention_map in enumerate(token.maps):
            maps[i, j] = np.asarray(attention_map.weights, dtype=np.float32).reshape(height, width)
    tokens = tuple(
        t.AttentionToken(
            index=token.index,
            token_id=token.token_id,
            text=token.text,
            heatmap_png=token.heatmap.data if token.HasField("heatmap") and token.heatmap.data else None,
        )
        for token in message.tokens
    )
    return t.Attention(
        caption=message.caption,
        tokens=tokens,
        maps=maps,
        layers=layers,
        heads=heads,
        grid_height=height,
        grid_width=width,
        layer_count=message.layer_count,
        head_count=message.head_count,
        usage=usage(message.usage),
    )


def adapter(message: cap.Adapter | gen.Adapter) -> t.Adapter:
    return t.Adapter(name=message.name, description=message.description)


def model_info(message: cap.GetModelInfoResponse) -> t.ModelInfo:
    return t.ModelInfo(
        caption_model=message.caption_model,
        retrieval_model=message.retrieval_model,
        capabilities=tuple(
            cap.Capability.Name(c).removeprefix("CAPABILITY_").lower() for c in message.capabilities
        ),
        image_size_px=message.image_size_px,
        patch_size_px=message.patch_size_px,
        grid_height=message.grid_height,
        grid_width=message.grid_width,
        max_new_tokens_limit=message.max_new_tokens_limit,
        default_max_new_tokens=message.default_max_new_tokens,
        max_images_per_request=message.max_images_per_request,
        max_image_bytes=message.max_image_bytes,
        max_image_pixels=message.max_image_pixels,
        embedding_dimension=message.embedding_dimension,
        adapters=tuple(adapter(a) for a in message.adapters),
        max_batch_size=message.max_batch_size,
    )


_FAMILIES = {gen.FAMILY_FLUX_1: "flux.1", gen.FAMILY_FLUX_2: "flux.2"}
_PRICING = {gen.PRICING_MODEL_FLAT: "flat", gen.PRICING_MODEL_MEGAPIXEL: "megapixel"}


def variant(message: gen.Variant) -> t.Variant:
    pricing = message.pricing
    return t.Variant(
        name=message.name,
        family=_FAMILIES.get(message.family, "unspecified"),
        description=message.description,
        min_side_px=message.min_side_px,
        max_side_px=message.max_side_px,
        side_multiple_px=message.side_multiple_px,
        max_megapixels=message.max_megapixels,
        default_width_px=message.default_width_px,
        default_height_px=message.default_height_px,
        default_steps=message.default_steps,
        max_steps=message.max_steps,
        supports_guidance=message.supports_guidance,
        default_guidance_scale=message.default_guidance_scale,
        supports_true_cfg=message.supports_true_cfg,
        default_true_cfg_scale=message.default_true_cfg_scale,
        max_reference_images=message.max_reference_images,
        supports_mask=message.supports_mask,
        pricing=t.Pricing(
            model=_PRICING.get(pricing.model, "unspecified"),
            per_image=cost(pricing.per_image),
            first_megapixel=cost(pricing.first_megapixel),
            per_extra_megapixel=cost(pricing.per_extra_megapixel),
            per_input_megapixel=cost(pricing.per_input_megapixel),
        ),
        max_image_count=message.max_image_count,
        max_prompt_chars=message.max_prompt_chars,
        adapters=tuple(adapter(a) for a in message.adapters),
    )


def _seconds(message: duration_pb2.Duration) -> float:
    return message.seconds + message.nanos / 1e9


def generation(message: gen.GenerateResponse) -> t.Generation:
    timings = message.timings
    return t.Generation(
        images=tuple(
            t.GeneratedImage(
                data=i.image.data,
                media_type=i.image.media_type,
                seed=i.seed,
                width_px=i.width_px,
                height_px=i.height_px,
                cost=cost(i.cost),
            )
            for i in message.images
        ),
        seed=message.seed,
        variant=message.variant,
        steps=message.steps,
        timings=t.Timings(
            queue_s=_seconds(timings.queue_duration),
            encode_s=_seconds(timings.encode_duration),
            denoise_s=_seconds(timings.denoise_duration),
            decode_s=_seconds(timings.decode_duration),
            total_s=_seconds(timings.total_duration),
        ),
        usage=usage(message.usage),
    )


def quote(message: gen.QuoteResponse) -> t.Quote:
    return t.Quote(
        variant=message.variant,
        width_px=message.width_px,
        height_px=message.height_px,
        steps=message.steps,
        image_count=message.image_count,
        cost_per_image=cost(message.cost_per_image),
        usage=usage(message.usage),
    )


def generation_event(message: gen.StreamGenerateResponse) -> t.Progress | t.Generation:
    if message.HasField("progress"):
        progress = message.progress
        return t.Progress(
            step=progress.step,
            total_steps=progress.total_steps,
            elapsed_s=_seconds(progress.elapsed_duration),
            remaining_s=_seconds(progress.estimated_remaining_duration),
            preview_png=progress.preview.data if progress.preview.data else None,
        )
    return generation(message.result)


def _time(message: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return message.ToDatetime(tzinfo=UTC) if present else None


_STATES = {
    gw.API_KEY_STATE_ACTIVE: "active",
    gw.API_KEY_STATE_REVOKED: "revoked",
    gw.API_KEY_STATE_EXPIRED: "expired",
}


def quota_of(message: gw.Quota) -> t.Quota:
    return t.Quota(
        plan=message.plan,
        requests_per_minute=message.requests_per_minute,
        images_per_month=message.images_per_month,
        spend_per_month=cost(message.spend_per_month) if message.spend_per_month.amount_micros else None,
        allowed_variants=tuple(message.allowed_variants),
    )


def api_key(message: gw.ApiKey) -> t.ApiKey:
    return t.ApiKey(
        key_id=message.key_id,
        display_name=message.display_name,
        state=_STATES.get(message.state, "unspecified"),
        quota=quota_of(message.quota),
        secret_prefix=message.secret_prefix,
        scopes=tuple(message.scopes),
        created=_time(message.create_time, message.HasField("create_time")),
        revoked=_time(message.revoke_time, message.HasField("revoke_time")),
        expires=_time(message.expire_time, message.HasField("expire_time")),
    )


def created_key(message: gw.CreateApiKeyResponse) -> t.CreatedKey:
    return t.CreatedKey(key=api_key(message.key), secret=message.secret)


def rotated_key(message: gw.RotateApiKeyResponse) -> t.RotatedKey:
    return t.RotatedKey(
        key=api_key(message.key),
        secret=message.secret,
        old_secret_expires=_time(message.old_secret_expire_time, message.HasField("old_secret_expire_time")),
    )


def usage_report(message: gw.GetUsageResponse) -> t.UsageReport:
    return t.UsageReport(
        key=api_key(message.key),
        period_start=_time(message.period_start_time, message.HasField("period_start_time")),
        usage=usage(message.period_usage),
        remaining_images=message.remaining_images if message.HasField("remaining_images") else None,
        remaining_spend=cost(message.remaining_spend) if message.HasField("remaining_spend") else None,
        breakdown=tuple(
            t.UsageLine(method=b.method, model=b.model, usage=usage(b.usage)) for b in message.breakdown
        ),
    )


def usage_record(message: gw.UsageRecord) -> t.UsageRecord:
    return t.UsageRecord(
        record_id=message.record_id,
        key_id=message.key_id,
        method=message.method,
        model=message.model,
        usage=usage(message.usage),
        request_id=message.request_id,
        created=_time(message.create_time, message.HasField("create_time")),
        image_index=message.image_index,
    )


def audit_event(message: gw.AuditEvent) -> t.AuditEvent:
    return t.AuditEvent(
        event_id=message.event_id,
        created=_time(message.create_time, message.HasField("create_time")),
        actor=message.actor,
        action=message.action,
        key_id=message.key_id,
        details=dict(message.details),
    )


ZERO_USAGE = t.Usage(image_count=0, megapixels=0.0, input_megapixels=0.0, token_count=0, cost=t.Cost(0))
