"""Validation and conversion between the wire messages and the engine's dataclasses.

Every bad field raises ``InvalidArgument`` (or ``NotFound``) naming its path,
so the servicer stays a thin decode/await/encode shell.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from captioner_svc.options import AttentionResult, CaptionResult, DecodeOptions, Finish, Strategy
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.common.v1 import common_pb2
from serving import errors
from serving.images import ResizeMode

MAX_BEAMS = 10
MAX_STOP_SEQUENCES = 4
MAX_STOP_SEQUENCE_CHARS = 64
MAX_PREFIX_CHARS = 256
MAX_TEXTS = 64
MAX_TEXT_CHARS = 512
# Seeds are int64 on the wire and image i of a request uses seed + i.
MAX_SEED = 2**63 - 1
# An unset seed is drawn below this, so that it reads well when echoed back.
RANDOM_SEED_BOUND = 2**31

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
_FINISH = {
    Finish.END_OF_SEQUENCE: pb.FINISH_REASON_END_OF_SEQUENCE,
    Finish.LENGTH: pb.FINISH_REASON_LENGTH,
    Finish.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
}


@dataclass(frozen=True)
class TokenBudget:
    """How many tokens a caption may have: the caption decoder holds
    ``positions`` tokens, BOS and the prefix included, and the server's
    setting may cap that further."""

    positions: int
    configured_limit: int
    configured_default: int

    def room(self, prefix_tokens: int) -> int:
        """The largest max_new_tokens after a prefix of ``prefix_tokens`` tokens (BOS takes one)."""
        return min(self.configured_limit, self.positions - 1 - prefix_tokens)

    @property
    def limit(self) -> int:
        """The largest max_new_tokens without a prefix, as GetModelInfo advertises it."""
        return self.room(0)

    @property
    def default(self) -> int:
        """The max_new_tokens of a request that leaves it unset (a prefix may cut it further)."""
        return min(self.configured_default, self.limit)

    @property
    def max_caption_tokens(self) -> int:
        """The longest caption whose cross-attention can be computed: every position but BOS."""
        return self.positions - 1


def _bad(field: str, description: str) -> errors.InvalidArgument:
    return errors.InvalidArgument.of(field, description)


def checkpoint_name(source: str) -> str:
    """A checkpoint as clients see it: a local directory by its name (never
    its path on this server's disk), a hub id as it is."""
    if not source:
        return ""
    path = Path(source)
    return path.name if path.is_dir() else source


def prefix_text(value: str, field: str = "prefix") -> str:
    """The prefix, checked for length and stripped (the caption then joins it with one space)."""
    if len(value) > MAX_PREFIX_CHARS:
        raise _bad(field, f"at most {MAX_PREFIX_CHARS} characters, got {len(value)}")
    return value.strip()


def seed(decoding: pb.DecodingOptions, image_count: int, field: str = "decoding") -> int:
    """The request's seed, or a random one; every image's seed (seed + i) must be an int64 >= 0."""
    if not decoding.HasField("seed"):
        return random.randrange(RANDOM_SEED_BOUND)
    highest = MAX_SEED - (image_count - 1)
    if not 0 <= decoding.seed <= highest:
        raise _bad(f"{field}.seed", f"must be between 0 and {highest}, got {decoding.seed}")
    return decoding.seed


def resize_mode(value: int, field: str = "resize_mode") -> ResizeMode:
    if value not in _RESIZE_MODES:
        raise _bad(field, f"unknown resize mode {value}; use STRETCH, CENTER_CROP or LETTERBOX")
    return _RESIZE_MODES[value]  # type: ignore[index]


def max_new_tokens(
    decoding: pb.DecodingOptions, prefix_tokens: int, budget: TokenBudget, field: str = "decoding"
) -> int:
    """The request's max_new_tokens, within the room its prefix leaves; unset,
    the server's default, cut to that room."""
    room = budget.room(prefix_tokens)
    if room < 1:
        raise _bad(
            "prefix",
            f"the prefix is {prefix_tokens} tokens and leaves no room for a caption: "
            f"this model's captions have at most {budget.max_caption_tokens} tokens, the prefix included",
        )
    if not decoding.max_new_tokens:
        return min(budget.default, room)
    if not 1 <= decoding.max_new_tokens <= room:
        after_prefix = f" after a prefix of {prefix_tokens} tokens" if room < budget.limit else ""
        raise _bad(
            f"{field}.max_new_tokens",
            f"must be between 1 and {room}{after_prefix}, got {decoding.max_new_tokens}",
        )
    return decoding.max_new_tokens


def decode_options(
    decoding: pb.DecodingOptions,
    prefix: str,
    max_new: int,
    adapter: str,
    adapters: list[str],
    field: str = "decoding",
) -> DecodeOptions:
    """Validates decoding options and applies the defaults the contract states;
    ``prefix`` and ``max_new`` are already checked (``prefix``, ``max_new_tokens``)."""
    if decoding.strategy not in _STRATEGIES:
        raise _bad(f"{field}.strategy", f"unknown decoding strategy {decoding.strategy}")
    strategy = _STRATEGIES[decoding.strategy]
    beams = decoding.beam_count
    if strategy is Strategy.BEAM_SEARCH:
        beams = beams or 3
        if not 1 <= beams <= MAX_BEAMS:
            raise _bad(f"{field}.beam_count", f"must be between 1 and {MAX_BEAMS}, got {beams}")
    elif beams not in (0, 1):
        raise _bad(f"{field}.beam_count", "beams need strategy DECODING_STRATEGY_BEAM_SEARCH")
    temperature = decoding.temperature or 1.0
    if not 0 < temperature <= 5:
        raise _bad(f"{field}.temperature", f"must be in (0, 5], got {temperature}")
    if decoding.top_k < 0:
        raise _bad(f"{field}.top_k", f"must be >= 0, got {decoding.top_k}")
    top_p = decoding.top_p or 1.0
    if not 0 < top_p <= 1:
        raise _bad(f"{field}.top_p", f"must be in (0, 1], got {top_p}")
    repetition = decoding.repetition_penalty or 1.0
    if not 1 <= repetition <= 5:
        raise _bad(f"{field}.repetition_penalty", f"must be in [1, 5], got {repetition}")
    length_penalty = decoding.length_penalty or 1.0
    if not -5 <= length_penalty <= 5:
        raise _bad(f"{field}.length_penalty", f"must be in [-5, 5], got {length_penalty}")
    if not 0 <= decoding.min_new_tokens <= max_new:
        raise _bad(f"{field}.min_new_tokens", f"must be between 0 and max_new_tokens ({max_new})")
    stops = tuple(decoding.stop_sequences)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise _bad(f"{field}.stop_sequences", f"at most {MAX_STOP_SEQUENCES} stop sequences")
    for index, stop in enumerate(stops):
        if not 1 <= len(stop) <= MAX_STOP_SEQUENCE_CHARS:
            raise _bad(
                f"{field}.stop_sequences[{index}]", f"must be 1 to {MAX_STOP_SEQUENCE_CHARS} characters"
            )
    if adapter and adapter not in adapters:
        raise errors.NotFound(
            f"no adapter named {adapter!r}; loaded adapters: {', '.join(adapters) or 'none'}",
            field="adapter",
            reason="ADAPTER_NOT_FOUND",
            metadata={"adapter": adapter},
        )
    return DecodeOptions(
        strategy=strategy,
        beam_count=beams if strategy is Strategy.BEAM_SEARCH else 1,
        temperature=temperature,
        top_k=decoding.top_k,
        top_p=top_p,
        repetition_penalty=repetition,
        length_penalty=length_penalty,
        min_new_tokens=decoding.min_new_tokens,
        max_new_tokens=max_new,
        early_stopping=decoding.early_stopping,
        stop_sequences=stops,
        prefix=prefix,
        adapter=adapter,
    )


def texts(values: list[str], field: str = "texts") -> list[str]:
    if not 1 <= len(values) <= MAX_TEXTS:
        raise _bad(field, f"send 1 to {MAX_TEXTS} texts, got {len(values)}")
    for index, text in enumerate(values):
        if not 1 <= len(text) <= MAX_TEXT_CHARS or not text.strip():
            raise _bad(f"{field}[{index}]", f"must be 1 to {MAX_TEXT_CHARS} characters, not blank")
    return values


def caption_message(result: CaptionResult) -> pb.Caption:
    return pb.Caption(
        text=result.text,
        token_count=len(result.token_ids),
        finish_reason=_FINISH[result.finish],
        mean_log_probability=result.mean_log_probability,
    )


def usage(image_count: int, megapixels: float, token_count: int = 0) -> common_pb2.Usage:
    return common_pb2.Usage(image_count=image_count, megapixels=round(megapixels, 6), token_count=token_count)


def attention_message(
    result: AttentionResult, per_head: bool, heatmaps: Sequence[bytes] = ()
) -> pb.GetCrossAttentionResponse:
    """The response for ``result``; ``heatmaps``, when given, are one PNG per token."""
    tokens = []
    for index, (token_id, text, per_layer) in enumerate(
        zip(result.token_ids, result.token_texts, result.maps, strict=True)
    ):
        maps = []
        for layer, heads in zip(result.layers, per_layer, strict=True):
            for head, weights in enumerate(heads):
                attention_map = pb.AttentionMap(layer=layer, weights=weights)
                if per_head:
                    attention_map.head = head
                maps.append(attention_map)
        tokens.append(pb.TokenAttention(index=index, token_id=token_id, text=text, maps=maps))
    if heatmaps:
        for token, png in zip(tokens, heatmaps, strict=True):
            token.heatmap.CopyFrom(common_pb2.Image(data=png, media_type="image/png"))
    return pb.GetCrossAttentionResponse(
        caption=result.caption,
        grid_height=result.grid_height,
        grid_width=result.grid_width,
        layer_count=result.layer_count,
        head_count=result.head_count,
        tokens=tokens,
    )
