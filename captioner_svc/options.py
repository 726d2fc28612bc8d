"""What the engine needs to know of a call, as plain frozen dataclasses:
its options, its jobs, its results and the batch keys it dispatches on.

Each operation has its own batch key; ``CaptionKey`` carries the
``DecodeOptions``, so calls with equal options (prefix and adapter included)
decode together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from PIL import Image


class Strategy(Enum):
    GREEDY = "greedy"
    BEAM_SEARCH = "beam_search"
    SAMPLING = "sampling"


class Finish(Enum):
    END_OF_SEQUENCE = "end_of_sequence"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding parameters shared by every image of a batch (defaults applied)."""

    strategy: Strategy = Strategy.GREEDY
    beam_count: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0
    min_new_tokens: int = 0
    max_new_tokens: int = 30
    early_stopping: bool = False
    stop_sequences: tuple[str, ...] = ()
    prefix: str = ""
    adapter: str = ""


@dataclass(frozen=True)
class CaptionJob:
    """One image to caption: already fitted to the model's input size, and its
    model input (channels x height x width, normalised) when it was prepared
    off the model's thread."""

    image: Image.Image
    seed: int
    pixels: np.ndarray | None = None
    # This call's token limits where its batch key leaves them out (0: the key's options').
    min_new_tokens: int = 0
    max_new_tokens: int = 0
    # The vision tower's output for ``pixels`` (tokens x hidden) when an encoder process made it,
    # and the seconds that process's batch took (the encode_image stage).
    embeds: np.ndarray | None = None
    encode_s: float = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # Sent to a decode process with its embeddings, the image is dead weight on the pipe
        # (there it is only read to encode it); pickled otherwise, it stays.
        state = dict(self.__dict__)
        if self.embeds is not None:
            state["image"] = None
        return state

    def limits(self, options: DecodeOptions) -> tuple[int, int]:
        """(min_new_tokens, max_new_tokens) of this job under its batch's ``options``."""
        return self.min_new_tokens or options.min_new_tokens, self.max_new_tokens or options.max_new_tokens


@dataclass(frozen=True)
class MatchJob:
    """One image scored against texts."""

    image: Image.Image
    texts: tuple[str, ...]


@dataclass(frozen=True)
class AttentionJob:
    """One image's cross-attention over ``caption``; an empty caption is generated
    first with ``options`` and ``seed``."""

    image: Image.Image
    caption: str
    options: DecodeOptions
    seed: int
    layers: tuple[int, ...]
    per_head: bool


@dataclass(frozen=True)
class CaptionKey:
    """Captions decoded together: equal decoding options. Payload: ``CaptionJob``.

    Step-by-step decoding (greedy, sampling) lets each row stop on its own, so
    its key leaves the token limits to the jobs (``of``): calls that differ only
    in length share a batch. Beam search runs to one length per batch."""

    options: DecodeOptions

    @classmethod
    def of(cls, options: DecodeOptions) -> CaptionKey:
        if options.strategy is Strategy.BEAM_SEARCH:
            return cls(options)
        return cls(dataclasses.replace(options, min_new_tokens=0, max_new_tokens=0))


@dataclass(frozen=True)
class EmbedImageKey:
    """Image embeddings. Payload: a fitted ``Image.Image``."""


@dataclass(frozen=True)
class EmbedTextKey:
    """Text embeddings. Payload: ``str``."""


@dataclass(frozen=True)
class MatchKey:
    """Image-text matches. Payload: ``MatchJob``."""


@dataclass(frozen=True)
class AttentionKey:
    """Cross-attention maps. Payload: ``AttentionJob``."""


BatchKey = CaptionKey | EmbedImageKey | EmbedTextKey | MatchKey | AttentionKey

# The ``operation`` label of each key's queue and batch metrics.
OPERATIONS: dict[type, str] = {
    CaptionKey: "caption",
    EmbedImageKey: "embed_image",
    EmbedTextKey: "embed_text",
    MatchKey: "match",
    AttentionKey: "attention",
}


@dataclass(frozen=True)
class TokenEvent:
    """A decoded token as streamed: ``text`` is what it adds to the caption."""

    token_id: int
    text: str
    index: int
    log_probability: float


@dataclass(frozen=True)
class CaptionResult:
    """A finished caption; ``text`` includes the prefix and excludes a stop sequence."""

    text: str
    token_ids: tuple[int, ...]
    finish: Finish
    mean_log_probability: float
    encode_s: float
    decode_s: float


@dataclass(frozen=True)
class AttentionResult:
    """Cross-attention per caption token: ``maps[token][layer][head]`` is a
    ``grid_height * grid_width`` row-major list; with head averaging the head
    axis has length 1."""

    caption: str
    token_ids: tuple[int, ...]
    token_texts: tuple[str, ...]
    maps: list[list[list[list[float]]]]
    layers: tuple[int, ...]
    grid_height: int
    grid_width: int
    layer_count: int
    head_count: int
