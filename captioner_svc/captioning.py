"""The captioner's typed middle layer, on the event loop: checks each call
against the loaded models and the settings, decodes its images inside a
queue reservation, submits its jobs under typed batch keys and records the
per-call metrics. It speaks dataclasses (``calls``), never messages."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from captioner_svc.budget import TokenBudget
from captioner_svc.calls import (
    AdapterInfo,
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
from captioner_svc.encoders import EncoderPool
from captioner_svc.engine import CaptionEngine, ModelFacts
from captioner_svc.heatmap import heatmap_pngs
from captioner_svc.metrics import CaptionerMetrics
from captioner_svc.normalize import Normalizer
from captioner_svc.options import (
    OPERATIONS,
    AttentionJob,
    AttentionKey,
    AttentionResult,
    CaptionJob,
    CaptionKey,
    CaptionResult,
    DecodeOptions,
    EmbedImageKey,
    EmbedTextKey,
    MatchJob,
    MatchKey,
    Strategy,
    TokenEvent,
)
from captioner_svc.settings import CaptionerSettings
from serving import errors
from serving.batcher import MicroBatcher
from serving.images import ImageLimits, ResizeMode, decode_image, fit_square, pixel_limit


def checkpoint_name(source: str) -> str:
    """A checkpoint as clients see it: a local directory by its name (never
    its path on this server's disk), a hub id as it is."""
    if not source:
        return ""
    path = Path(source)
    return path.name if path.is_dir() else source


class Captioning:
    """Every captioner operation as a typed call; each raises ``serving.errors``
    naming the request field at fault."""

    def __init__(
        self,
        engine: CaptionEngine,
        batcher: MicroBatcher[Any, Any],
        metrics: CaptionerMetrics,
        settings: CaptionerSettings,
        encoders: EncoderPool | None = None,
    ) -> None:
        self.engine = engine
        self.encoders = encoders
        self.batcher = batcher
        self.metrics = metrics
        self.settings = settings
        self.limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        # Image preparation, off the event loop and the model's thread: decoding,
        # resizing and normalising release the GIL, so one thread per core.
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="prepare")

    # -- discovery ------------------------------------------------------------------

    def model_info(self) -> ModelInfo:
        facts = self.engine.facts
        budget = self._budget() if self.engine.captioner is not None else None
        return ModelInfo(
            caption_model=checkpoint_name(self.settings.caption_model),
            retrieval_model=checkpoint_name(self.settings.retrieval_model),
            can_caption=self.engine.captioner is not None,
            can_embed=self.engine.retriever is not None,
            image_size_px=facts.image_size_px if facts else 0,
            patch_size_px=facts.patch_size_px if facts else 0,
            grid_side=facts.grid_side if facts else 0,
            max_new_tokens_limit=budget.limit if budget else 0,
            default_max_new_tokens=budget.default if budget else 0,
            max_images_per_request=self.settings.max_images_per_request,
            max_image_bytes=self.settings.max_image_bytes,
            max_image_pixels=pixel_limit(self.limits),
            embedding_dimension=facts.embedding_dimension if facts else 0,
            adapters=tuple(
                AdapterInfo(name, checkpoint_name(self.settings.adapters[name]))
                for name in self.engine.adapter_names
            ),
            max_batch_size=self.settings.max_batch_size,
        )

    # -- captions ---------------------------------------------------------------------

    async def caption(self, call: CaptionCall, timeout_s: float | None) -> Captions:
        self._require_captioner("Caption")
        options = self._options(call.decoding)
        self._check_image_count(call.images)
        seed = call.decoding.seed
        # Queue room first: a full queue refuses the call before its images are decoded.
        with self.batcher.reserve(len(call.images), operation=OPERATIONS[CaptionKey]) as room:
            jobs, megapixels = await self._prepare_captions(call.images, call.resize, seed, options)
            results: list[CaptionResult] = await asyncio.gather(
                *(self.batcher.submit(job, CaptionKey.of(options), timeout_s, room) for job in jobs)
            )
        self.metrics.images.labels("caption").inc(len(jobs))
        tokens = sum(len(r.token_ids) for r in results)
        return Captions(tuple(results), seed, Usage(len(jobs), megapixels, tokens))

    async def stream_caption(
        self, call: CaptionCall, timeout_s: float | None
    ) -> AsyncIterator[TokenEvent | StreamedCaption]:
        """Yields each token as it is decoded, then the caption."""
        arrived = time.perf_counter()
        self._require_captioner("StreamCaption")
        options = self._options(call.decoding)
        seed = call.decoding.seed
        first = True
        with self.batcher.reserve(operation=OPERATIONS[CaptionKey]) as room:
            (job,), megapixels = await self._prepare_captions(call.images, call.resize, seed, options)
            events = self.batcher.stream(job, CaptionKey.of(options), timeout_s, room)
            async for event in events:
                if isinstance(event, TokenEvent):
                    if first:
                        self.metrics.time_to_first_token.observe(time.perf_counter() - arrived)
                        first = False
                    yield event
                elif isinstance(event, CaptionResult):
                    self.metrics.images.labels("caption").inc()
                    yield StreamedCaption(event, seed, Usage(1, megapixels, len(event.token_ids)))

    # -- embeddings and matching ------------------------------------------------------

    async def embed_images(self, call: EmbedImagesCall, timeout_s: float | None) -> Embeddings:
        self._require_retriever("EmbedImages")
        self._check_image_count(call.images)
        with self.batcher.reserve(len(call.images), operation=OPERATIONS[EmbedImageKey]) as room:
            images, megapixels = await self._prepare(call.images, call.resize)
            vectors = await asyncio.gather(
                *(self.batcher.submit(image, EmbedImageKey(), timeout_s, room) for image in images)
            )
        self.metrics.images.labels("embed").inc(len(images))
        return Embeddings(tuple(vectors), Usage(len(images), megapixels))

    async def embed_texts(self, texts: Sequence[str], timeout_s: float | None) -> Embeddings:
        self._require_retriever("EmbedTexts")
        with self.batcher.reserve(len(texts), operation=OPERATIONS[EmbedTextKey]) as room:
            vectors = await asyncio.gather(
                *(self.batcher.submit(text, EmbedTextKey(), timeout_s, room) for text in texts)
            )
        return Embeddings(tuple(vectors), None)

    async def match(self, call: MatchCall, timeout_s: float | None) -> Matches:
        self._require_retriever("MatchImageText")
        with self.batcher.reserve(operation=OPERATIONS[MatchKey]) as room:
            (image,), megapixels = await self._prepare((call.image,), call.resize)
            scores = await self.batcher.submit(MatchJob(image, call.texts), MatchKey(), timeout_s, room)
        self.metrics.images.labels("match").inc()
        return Matches(call.texts, tuple(scores), Usage(1, megapixels))

    # -- cross-attention --------------------------------------------------------------

    async def cross_attention(self, call: AttentionCall, timeout_s: float | None) -> Attention:
        self._require_captioner("GetCrossAttention")
        facts = self._facts()
        for index, layer in enumerate(call.layers):
            if not 0 <= layer < facts.decoder_layers:
                raise errors.InvalidArgument.of(
                    f"layers[{index}]", f"must be between 0 and {facts.decoder_layers - 1}, got {layer}"
                )
        self._check_caption_fits(call.caption)
        options = self._options(call.decoding)
        with self.batcher.reserve(operation=OPERATIONS[AttentionKey]) as room:
            (image,), megapixels = await self._prepare((call.image,), call.resize)
            job = AttentionJob(image, call.caption, options, call.decoding.seed, call.layers, call.per_head)
            result: AttentionResult = await self.batcher.submit(job, AttentionKey(), timeout_s, room)
        # Heatmaps are drawn and encoded per token: not on the event loop.
        heatmaps = await asyncio.to_thread(heatmap_pngs, image, result) if call.render_heatmaps else []
        usage = Usage(1, megapixels, len(result.token_ids))
        return Attention(result, call.per_head, tuple(heatmaps), usage)

    # -- checks -----------------------------------------------------------------------

    def _facts(self) -> ModelFacts:
        assert self.engine.facts is not None, "checked by _require_* after loading"
        return self.engine.facts

    def _budget(self) -> TokenBudget:
        return TokenBudget(
            positions=self._facts().decoder_positions,
            configured_limit=self.settings.max_new_tokens_limit,
            configured_default=self.settings.default_max_new_tokens,
        )

    def _options(self, decoding: Decoding) -> DecodeOptions:
        """The decoding options with max_new_tokens resolved within the room the
        prefix leaves (unset: the server's default, cut to that room)."""
        options = decoding.options
        budget = self._budget()
        prefix_tokens = self.engine.token_count(options.prefix)
        room = budget.room(prefix_tokens)
        if room < 1:
            raise errors.InvalidArgument.of(
                "prefix",
                f"the prefix is {prefix_tokens} tokens and leaves no room for a caption: "
                f"this model's captions have at most {budget.max_caption_tokens} tokens, the prefix included",
            )
        max_new = decoding.max_new_tokens or min(budget.default, room)
        if not 1 <= max_new <= room:
            after_prefix = f" after a prefix of {prefix_tokens} tokens" if room < budget.limit else ""
            raise errors.InvalidArgument.of(
                "decoding.max_new_tokens", f"must be between 1 and {room}{after_prefix}, got {max_new}"
            )
        if not 0 <= options.min_new_tokens <= max_new:
            raise errors.InvalidArgument.of(
                "decoding.min_new_tokens", f"must be between 0 and max_new_tokens ({max_new})"
            )
        adapters = self.engine.adapter_names
        if options.adapter and options.adapter not in adapters:
            raise errors.NotFound(
                f"no adapter named {options.adapter!r}; loaded adapters: {', '.join(adapters) or 'none'}",
                field="adapter",
                reason="ADAPTER_NOT_FOUND",
                metadata={"adapter": options.adapter},
            )
        return dataclasses.replace(options, max_new_tokens=max_new)

    def _check_caption_fits(self, caption: str) -> None:
        """A given caption must fit the decoder; empty asks for a generated one."""
        tokens, most = self.engine.token_count(caption), self._budget().max_caption_tokens
        if tokens > most:
            raise errors.InvalidArgument.of(
                "caption", f"is {tokens} tokens; this model's captions have at most {most}"
            )

    def _check_image_count(self, images: Sequence[EncodedImage]) -> None:
        most = self.settings.max_images_per_request
        if not 1 <= len(images) <= most:
            raise errors.InvalidArgument.of("images", f"send 1 to {most} images, got {len(images)}")

    def _require_captioner(self, method: str) -> None:
        if self.engine.captioner is None:
            raise errors.FailedPrecondition(
                f"{method} needs a caption model: set CAPTIONER_CAPTION_MODEL (or --caption-model) "
                "to a BlipForConditionalGeneration checkpoint",
                metadata={"setting": "CAPTIONER_CAPTION_MODEL"},
            )

    def _require_retriever(self, method: str) -> None:
        if self.engine.retriever is None:
            raise errors.FailedPrecondition(
                f"{method} needs a retrieval model: set CAPTIONER_RETRIEVAL_MODEL (or --retrieval-model) "
                "to a BlipForImageTextRetrieval checkpoint",
                metadata={"setting": "CAPTIONER_RETRIEVAL_MODEL"},
            )

    # -- images -----------------------------------------------------------------------

    async def _prepare(
        self, images: Sequence[EncodedImage], mode: ResizeMode
    ) -> tuple[list[Image.Image], float]:
        """Decodes and fits images in the preparation pool; returns them and their megapixels."""
        prepared, megapixels = await self._prepare_all(images, mode, None)
        return [image for image, _ in prepared], megapixels

    async def _prepare_captions(
        self, images: Sequence[EncodedImage], mode: ResizeMode, seed: int, options: DecodeOptions
    ) -> tuple[list[CaptionJob], float]:
        """Caption jobs for ``images`` (seeds ``seed``, ``seed + 1``, ...) with the
        call's token limits, their model input made in the preparation pool,
        off the model's thread."""
        prepared, megapixels = await self._prepare_all(images, mode, self.engine.caption_normalizer)
        jobs = [
            CaptionJob(image, seed + index, pixels, options.min_new_tokens, options.max_new_tokens)
            for index, (image, pixels) in enumerate(prepared)
        ]
        if (
            self.encoders is not None
            and options.strategy is not Strategy.BEAM_SEARCH
            and options.adapter not in self.engine.vision_adapters
        ):
            # Beam search encodes on the model's thread (it expands each image to its beams), and
            # so do adapters with LoRA layers in the tower (the encoder processes have none).
            encoded = await asyncio.gather(
                *(self.encoders.encode(job.pixels) for job in jobs if job.pixels is not None)
            )
            if len(encoded) == len(jobs):
                jobs = [
                    dataclasses.replace(job, embeds=embeds, encode_s=seconds)
                    for job, (embeds, seconds) in zip(jobs, encoded, strict=True)
                ]
        return jobs, megapixels

    async def _prepare_all(
        self, images: Sequence[EncodedImage], mode: ResizeMode, normalizer: Normalizer | None
    ) -> tuple[list[tuple[Image.Image, np.ndarray | None]], float]:
        """Each image decoded, fitted and (with a normaliser) made model input, in
        parallel in the preparation pool; their megapixels as sent."""
        size = self._facts().image_size_px
        started = time.perf_counter()

        def prepare(image: EncodedImage) -> tuple[Image.Image, np.ndarray | None, float]:
            # JPEGs are decoded at no less than twice the model's side: enough for
            # a bicubic resize that matches one from the full image.
            decoded = decode_image(image.data, image.media_type, image.field, self.limits, 2 * size)
            fitted = fit_square(decoded.image, size, mode)
            return fitted, normalizer(fitted) if normalizer else None, decoded.megapixels

        loop = asyncio.get_running_loop()
        done = await asyncio.gather(*(loop.run_in_executor(self._pool, prepare, image) for image in images))
        self.metrics.stage_seconds.labels("preprocess").observe(time.perf_counter() - started)
        return [(fitted, pixels) for fitted, pixels, _ in done], sum(mp for _, _, mp in done)
