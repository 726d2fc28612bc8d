"""The gRPC edge's translation: request messages into typed calls
(``calls``), typed outcomes back into response messages.

It checks what the wire alone decides (enum values, ranges, lengths, required
fields) and raises ``InvalidArgument`` naming the field's path; what depends
on the loaded models or the settings is checked by ``captioning``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from captioner_svc.calls import (
    Attention,
    AttentionCall,
    CaptionCall,
    Captions,
    Decoding,
    Embeddings,
    EmbedImagesCall,
    EncodedImage,
    MatchCall,
    Matches,
    ModelInfo,
    StreamedCaption,
    Usage,
)
from captioner_svc.options import CaptionResult, DecodeOptions, Finish, Strategy, TokenEvent
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.common.v1 import common_pb2
from serving import errors
from serving.images import ResizeMode

MAX_BEAMS = 10
# Beams of a beam search that leaves beam_count unset.
DEFAULT_BEAMS = 3
MAX_TEMPERATURE = 5.0
MAX_REPETITION_PENALTY = 5.0
MAX_LENGTH_PENALTY = 5.0
MAX_STOP_SEQUENCES = 4
MAX_STOP_SEQUENCE_CHARS = 64
MAX_PREFIX_CHARS = 256
MAX_TEXTS = 64
MAX_TEXT_CHARS = 512
# Seeds are int64 on the wire and image i of a request uses seed + i.
MAX_SEED = 2**63 - 1
# An unset seed is drawn below this, so that it reads well when echoed back.
RANDOM_SEED_BOUND = 2**31
_HEATMAP_MEDIA_TYPE = "image/png"
# Usage megapixels are reported to the pixel (1e-6 MP).
_MEGAPIXEL_DECIMALS = 6
# Unset float fields (0 on the wire) mean the contract's neutral value.
_NEUTRAL = DecodeOptions()

_STRATEGIES = {
    pb.DECODING_STRATEGY_UNSPECIFIED: Strategy.GREEDY,
    pb.DECODING_STRATEGY_GREEDY: Strategy.GREEDY,
    pb.DECODING_STRATEGY_BEAM_SEARCH: Strategy.BEAM_SEARCH,
    pb.DECODING_STRATEGY_SAMPLING: Strategy.SAMPLING,
}
_RESIZE_MODES = {
    pb.RESIZE_MODE_UNSPECIFIED: ResizeMode.STRETCH,
    pb.RESIZE_MODE_STRETCH: ResizeMode.STRETCH,
    pb.RESIZE_MODE_CENTER_CROP: ResizeMode.CENTER_CROP,
    pb.RESIZE_MODE_LETTERBOX: ResizeMode.LETTERBOX,
}
_HEAD_REDUCTIONS = {
    pb.HEAD_REDUCTION_UNSPECIFIED: False,
    pb.HEAD_REDUCTION_MEAN: False,
    pb.HEAD_REDUCTION_NONE: True,
}
_FINISH = {
    Finish.END_OF_SEQUENCE: pb.FINISH_REASON_END_OF_SEQUENCE,
    Finish.LENGTH: pb.FINISH_REASON_LENGTH,
    Finish.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
}


def _bad(field: str, description: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.of(field, description)


# -- requests -------------------------------------------------------------------------


def caption_call(request: pb.CaptionRequest) -> CaptionCall:
    return CaptionCall(
        images=_images(request.images),
        decoding=_decoding(request.decoding, request.prefix, request.adapter, len(request.images)),
        resize=_resize_mode(request.resize_mode),
    )


def stream_caption_call(request: pb.StreamCaptionRequest) -> CaptionCall:
    decoding = _decoding(request.decoding, request.prefix, request.adapter, 1)
    resize = _resize_mode(request.resize_mode)
    return CaptionCall((_image(request, "image"),), decoding, resize)


def embed_images_call(request: pb.EmbedImagesRequest) -> EmbedImagesCall:
    return EmbedImagesCall(_images(request.images), _resize_mode(request.resize_mode))


def embed_texts_call(request: pb.EmbedTextsRequest) -> tuple[str, ...]:
    return _texts(request.texts)


def match_call(request: pb.MatchImageTextRequest) -> MatchCall:
    image = _image(request, "image")
    return MatchCall(image, _texts(request.texts), _resize_mode(request.resize_mode))


def attention_call(request: pb.GetCrossAttentionRequest) -> AttentionCall:
    image = _image(request, "image")
    if request.head_reduction not in _HEAD_REDUCTIONS:
        raise _bad("head_reduction", f"unknown head reduction {request.head_reduction}")
    if len(request.caption) > MAX_TEXT_CHARS:
        raise _bad("caption", f"at most {MAX_TEXT_CHARS} characters")
    return AttentionCall(
        image=image,
        caption=request.caption.strip(),
        decoding=_decoding(request.decoding, "", "", 1),
        layers=tuple(request.layers),
        per_head=_HEAD_REDUCTIONS[request.head_reduction],
        render_heatmaps=request.render_heatmaps,
        resize=_resize_mode(request.resize_mode),
    )


def _image(
    request: pb.StreamCaptionRequest | pb.MatchImageTextRequest | pb.GetCrossAttentionRequest, field: str
) -> EncodedImage:
    if not request.HasField("image"):
        raise _bad(field, "an image is required")
    return EncodedImage(request.image.data, request.image.media_type, field)


def _images(images: Sequence[common_pb2.Image]) -> tuple[EncodedImage, ...]:
    return tuple(
        EncodedImage(image.data, image.media_type, f"images[{index}]") for index, image in enumerate(images)
    )


def _resize_mode(value: int) -> ResizeMode:
    if value not in _RESIZE_MODES:
        raise _bad("resize_mode", f"unknown resize mode {value}; use STRETCH, CENTER_CROP or LETTERBOX")
    return _RESIZE_MODES[value]  # type: ignore[index]


def _seed(decoding: pb.DecodingOptions, image_count: int) -> int:
    """The request's seed, or a random one; every image's seed (seed + i) must be an int64 >= 0."""
    if not decoding.HasField("seed"):
        return random.randrange(RANDOM_SEED_BOUND)
    highest = MAX_SEED - (image_count - 1)
    if not 0 <= decoding.seed <= highest:
        raise _bad("decoding.seed", f"must be between 0 and {highest}, got {decoding.seed}")
    return decoding.seed


def _decoding(decoding: pb.DecodingOptions, prefix: str, adapter: str, image_count: int) -> Decoding:
    """Checks each decoding field on its own and applies the defaults the contract
    states; max_new_tokens and the adapter are checked against the model later."""
    if len(prefix) > MAX_PREFIX_CHARS:
        raise _bad("prefix", f"at most {MAX_PREFIX_CHARS} characters, got {len(prefix)}")
    if decoding.strategy not in _STRATEGIES:
        raise _bad("decoding.strategy", f"unknown decoding strategy {decoding.strategy}")
    strategy = _STRATEGIES[decoding.strategy]
    beams = decoding.beam_count
    if strategy is Strategy.BEAM_SEARCH:
        beams = beams or DEFAULT_BEAMS
        if not 1 <= beams <= MAX_BEAMS:
            raise _bad("decoding.beam_count", f"must be between 1 and {MAX_BEAMS}, got {beams}")
    elif beams not in (0, 1):
        raise _bad("decoding.beam_count", "beams need strategy DECODING_STRATEGY_BEAM_SEARCH")
    temperature = decoding.temperature or _NEUTRAL.temperature
    if not 0 < temperature <= MAX_TEMPERATURE:
        raise _bad("decoding.temperature", f"must be in (0, {MAX_TEMPERATURE:g}], got {temperature}")
    if decoding.top_k < 0:
        raise _bad("decoding.top_k", f"must be >= 0, got {decoding.top_k}")
    top_p = decoding.top_p or _NEUTRAL.top_p
    if not 0 < top_p <= 1:
        raise _bad("decoding.top_p", f"must be in (0, 1], got {top_p}")
    repetition = decoding.repetition_penalty or _NEUTRAL.repetition_penalty
    if not 1 <= repetition <= MAX_REPETITION_PENALTY:
        raise _bad(
            "decoding.repetition_penalty", f"must be in [1, {MAX_REPETITION_PENALTY:g}], got {repetition}"
        )
    length_penalty = decoding.length_penalty or _NEUTRAL.length_penalty
    if not -MAX_LENGTH_PENALTY <= length_penalty <= MAX_LENGTH_PENALTY:
        raise _bad(
            "decoding.length_penalty",
            f"must be in [-{MAX_LENGTH_PENALTY:g}, {MAX_LENGTH_PENALTY:g}], got {length_penalty}",
        )
    stops = tuple(decoding.stop_sequences)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise _bad("decoding.stop_sequences", f"at most {MAX_STOP_SEQUENCES} stop sequences")
    for index, stop in enumerate(stops):
        if not 1 <= len(stop) <= MAX_STOP_SEQUENCE_CHARS:
            raise _bad(
                f"decoding.stop_sequences[{index}]", f"must be 1 to {MAX_STOP_SEQUENCE_CHARS} characters"
            )
    options = DecodeOptions(
        strategy=strategy,
        beam_count=beams if strategy is Strategy.BEAM_SEARCH else 1,
        temperature=temperature,
        top_k=decoding.top_k,
        top_p=top_p,
        repetition_penalty=repetition,
        length_penalty=length_penalty,
        min_new_tokens=decoding.min_new_tokens,
        early_stopping=decoding.early_stopping,
        stop_sequences=stops,
        prefix=prefix.strip(),  # the caption then joins it with one space
        adapter=adapter,
    )
    return Decoding(options, decoding.max_new_tokens, _seed(decoding, image_count))


def _texts(values: Sequence[str]) -> tuple[str, ...]:
    if not 1 <= len(values) <= MAX_TEXTS:
        raise _bad("texts", f"send 1 to {MAX_TEXTS} texts, got {len(values)}")
    for index, text in enumerate(values):
        if not 1 <= len(text) <= MAX_TEXT_CHARS or not text.strip():
            raise _bad(f"texts[{index}]", f"must be 1 to {MAX_TEXT_CHARS} characters, not blank")
    return tuple(values)


# -- responses ------------------------------------------------------------------------


def model_info_response(info: ModelInfo) -> pb.GetModelInfoResponse:
    capabilities = []
    if info.can_caption:
        capabilities += [pb.CAPABILITY_CAPTION, pb.CAPABILITY_CROSS_ATTENTION]
    if info.can_embed:
        capabilities += [pb.CAPABILITY_EMBED, pb.CAPABILITY_MATCH]
    return pb.GetModelInfoResponse(
        caption_model=info.caption_model,
        retrieval_model=info.retrieval_model,
        capabilities=capabilities,
        image_size_px=info.image_size_px,
        patch_size_px=info.patch_size_px,
        grid_height=info.grid_side,
        grid_width=info.grid_side,
        max_new_tokens_limit=info.max_new_tokens_limit,
        default_max_new_tokens=info.default_max_new_tokens,
        max_images_per_request=info.max_images_per_request,
        max_image_bytes=info.max_image_bytes,
        max_image_pixels=info.max_image_pixels,
        embedding_dimension=info.embedding_dimension,
        adapters=[
            pb.Adapter(name=adapter.name, description=f"LoRA adapter {adapter.checkpoint}")
            for adapter in info.adapters
        ],
        max_batch_size=info.max_batch_size,
    )


def caption_response(captions: Captions) -> pb.CaptionResponse:
    return pb.CaptionResponse(
        captions=[_caption(r) for r in captions.results], seed=captions.seed, usage=_usage(captions.usage)
    )


def stream_caption_response(event: TokenEvent | StreamedCaption) -> pb.StreamCaptionResponse:
    if isinstance(event, TokenEvent):
        return pb.StreamCaptionResponse(
            token=pb.CaptionToken(
                id=event.token_id, text=event.text, index=event.index, log_probability=event.log_probability
            )
        )
    return pb.StreamCaptionResponse(
        caption=_caption(event.result), seed=event.seed, usage=_usage(event.usage)
    )


def embed_images_response(embeddings: Embeddings) -> pb.EmbedImagesResponse:
    assert embeddings.usage is not None, "images are billed"
    return pb.EmbedImagesResponse(
        embeddings=[pb.Embedding(values=v) for v in embeddings.vectors],
        dimension=len(embeddings.vectors[0]),
        usage=_usage(embeddings.usage),
    )


def embed_texts_response(embeddings: Embeddings) -> pb.EmbedTextsResponse:
    return pb.EmbedTextsResponse(
        embeddings=[pb.Embedding(values=v) for v in embeddings.vectors], dimension=len(embeddings.vectors[0])
    )


def match_response(matches: Matches) -> pb.MatchImageTextResponse:
    return pb.MatchImageTextResponse(
        matches=[
            pb.TextMatch(text=text, match_probability=probability, similarity=similarity)
            for text, (probability, similarity) in zip(matches.texts, matches.scores, strict=True)
        ],
        usage=_usage(matches.usage),
    )


def attention_response(attention: Attention) -> pb.GetCrossAttentionResponse:
    """The maps are many floats: callers build this off the event loop."""
    result = attention.result
    tokens = []
    for index, (token_id, text, per_layer) in enumerate(
        zip(result.token_ids, result.token_texts, result.maps, strict=True)
    ):
        maps = []
        for layer, heads in zip(result.layers, per_layer, strict=True):
            for head, weights in enumerate(heads):
                attention_map = pb.AttentionMap(layer=layer, weights=weights)
                if attention.per_head:
                    attention_map.head = head
                maps.append(attention_map)
        tokens.append(pb.TokenAttention(index=index, token_id=token_id, text=text, maps=maps))
    if attention.heatmaps:
        for token, png in zip(tokens, attention.heatmaps, strict=True):
            token.heatmap.CopyFrom(common_pb2.Image(data=png, media_type=_HEATMAP_MEDIA_TYPE))
    return pb.GetCrossAttentionResponse(
        caption=result.caption,
        grid_height=result.grid_height,
        grid_width=result.grid_width,
        layer_count=result.layer_count,
        head_count=result.head_count,
        tokens=tokens,
        usage=_usage(attention.usage),
    )


def _caption(result: CaptionResult) -> pb.Caption:
    return pb.Caption(
        text=result.text,
        token_count=len(result.token_ids),
        finish_reason=_FINISH[result.finish],
        mean_log_probability=result.mean_log_probability,
    )


def _usage(usage: Usage) -> common_pb2.Usage:
    return common_pb2.Usage(
        image_count=usage.image_count,
        megapixels=round(usage.megapixels, _MEGAPIXEL_DECIMALS),
        token_count=usage.token_count,
    )
