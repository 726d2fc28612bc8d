"""The typed calls of the captioning layer: what ``convert`` builds from a
request message (checked field by field) and the outcomes it turns back
into response messages. No transport here."""

from __future__ import annotations

from dataclasses import dataclass

from captioner_svc.options import AttentionResult, CaptionResult, DecodeOptions
from serving.images import ResizeMode


@dataclass(frozen=True)
class EncodedImage:
    """An image as sent; ``field`` is its request path (``images[1]``, ``image``),
    so that decoding errors name ``images[1].data``."""

    data: bytes
    media_type: str
    field: str


@dataclass(frozen=True)
class Decoding:
    """Decoding as the client asked it. ``options.max_new_tokens`` is not final:
    ``captioning`` resolves ``max_new_tokens`` (0: unset) against the room the
    model leaves after the prefix, and checks the adapter is loaded."""

    options: DecodeOptions
    max_new_tokens: int
    seed: int


@dataclass(frozen=True)
class CaptionCall:
    images: tuple[EncodedImage, ...]
    decoding: Decoding
    resize: ResizeMode


@dataclass(frozen=True)
class EmbedImagesCall:
    images: tuple[EncodedImage, ...]
    resize: ResizeMode


@dataclass(frozen=True)
class MatchCall:
    image: EncodedImage
    texts: tuple[str, ...]
    resize: ResizeMode


@dataclass(frozen=True)
class AttentionCall:
    """``caption`` empty: generate one with ``decoding`` first; ``layers`` empty: all."""

    image: EncodedImage
    caption: str
    decoding: Decoding
    layers: tuple[int, ...]
    per_head: bool
    render_heatmaps: bool
    resize: ResizeMode


@dataclass(frozen=True)
class Usage:
    """What a call consumed, as billed by the gateway."""

    image_count: int
    megapixels: float
    token_count: int = 0


@dataclass(frozen=True)
class Captions:
    results: tuple[CaptionResult, ...]
    seed: int
    usage: Usage


@dataclass(frozen=True)
class StreamedCaption:
    """The final message of a caption stream."""

    result: CaptionResult
    seed: int
    usage: Usage


@dataclass(frozen=True)
class Embeddings:
    vectors: tuple[list[float], ...]
    usage: Usage | None  # texts are not billed


@dataclass(frozen=True)
class Matches:
    texts: tuple[str, ...]
    scores: tuple[tuple[float, float], ...]  # (match probability, cosine similarity) per text
    usage: Usage


@dataclass(frozen=True)
class Attention:
    result: AttentionResult
    per_head: bool
    heatmaps: tuple[bytes, ...]  # one PNG per token, when asked
    usage: Usage


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    checkpoint: str


@dataclass(frozen=True)
class ModelInfo:
    """What GetModelInfo reports; zeros where no model provides the fact."""

    caption_model: str
    retrieval_model: str
    can_caption: bool
    can_embed: bool
    image_size_px: int
    patch_size_px: int
    grid_side: int
    max_new_tokens_limit: int
    default_max_new_tokens: int
    max_images_per_request: int
    max_image_bytes: int
    max_image_pixels: int
    embedding_dimension: int
    adapters: tuple[AdapterInfo, ...]
    max_batch_size: int
