"""``imaging.captioner.v1.CaptionerService``: validate, convert, await the
runtime's batcher, convert back. Nothing else happens here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from PIL import Image

from captioner_svc import convert
from captioner_svc.heatmap import heatmap_pngs
from captioner_svc.options import AttentionResult, CaptionJob, CaptionResult, DecodeOptions, TokenEvent
from captioner_svc.service import AttentionJob, CaptionerRuntime, MatchJob
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving import errors
from serving.images import ImageLimits, ResizeMode, decode_image, fit_square, pixel_limit

_Context = Any  # grpc.aio.ServicerContext; only time_remaining() is used


class CaptionerServicer(captioner_pb2_grpc.CaptionerServiceServicer):
    def __init__(self, runtime: CaptionerRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.engine = runtime.engine
        self.limits = ImageLimits(self.settings.max_image_bytes, self.settings.max_image_pixels)

    # -- discovery ------------------------------------------------------------------

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: _Context
    ) -> pb.GetModelInfoResponse:
        facts = self.engine.facts
        capabilities = []
        if self.engine.captioner is not None:
            capabilities += [pb.CAPABILITY_CAPTION, pb.CAPABILITY_CROSS_ATTENTION]
        if self.engine.retriever is not None:
            capabilities += [pb.CAPABILITY_EMBED, pb.CAPABILITY_MATCH]
        budget = self._budget() if self.engine.captioner is not None else None
        return pb.GetModelInfoResponse(
            caption_model=convert.checkpoint_name(self.settings.caption_model),
            retrieval_model=convert.checkpoint_name(self.settings.retrieval_model),
            capabilities=capabilities,
            image_size_px=facts.image_size_px if facts else 0,
            patch_size_px=facts.patch_size_px if facts else 0,
            grid_height=facts.grid_side if facts else 0,
            grid_width=facts.grid_side if facts else 0,
            max_new_tokens_limit=budget.limit if budget else 0,
            default_max_new_tokens=budget.default if budget else 0,
            max_images_per_request=self.settings.max_images_per_request,
            max_image_bytes=self.settings.max_image_bytes,
            max_image_pixels=pixel_limit(self.limits),
            embedding_dimension=facts.embedding_dimension if facts else 0,
            adapters=[
                pb.Adapter(
                    name=name,
                    description=f"LoRA adapter {convert.checkpoint_name(self.settings.adapters[name])}",
                )
                for name in self.engine.adapter_names
            ],
            max_batch_size=self.settings.max_batch_size,
        )

    # -- captions ---------------------------------------------------------------------

    async def Caption(self, request: pb.CaptionRequest, context: _Context) -> pb.CaptionResponse:
        self._require_captioner("Caption")
        options = self._options(request.decoding, request.prefix, request.adapter)
        mode = convert.resize_mode(request.resize_mode)
        seed = convert.seed(request.decoding, len(request.images))
        images, megapixels = await self._images(request.images, mode)
        results: list[CaptionResult] = await asyncio.gather(
            *(
                self.runtime.batcher.submit(
                    CaptionJob(image, seed + index),
                    key=("caption", options),
                    timeout_s=context.time_remaining(),
                )
                for index, image in enumerate(images)
            )
        )
        self.runtime.metrics.images.labels("caption").inc(len(images))
        tokens = sum(len(r.token_ids) for r in results)
        return pb.CaptionResponse(
            captions=[convert.caption_message(r) for r in results],
            seed=seed,
            usage=convert.usage(len(images), megapixels, tokens),
        )

    async def StreamCaption(
        self, request: pb.StreamCaptionRequest, context: _Context
    ) -> AsyncIterator[pb.StreamCaptionResponse]:
        arrived = time.perf_counter()
        self._require_captioner("StreamCaption")
        options = self._options(request.decoding, request.prefix, request.adapter)
        mode = convert.resize_mode(request.resize_mode)
        if not request.HasField("image"):
            raise errors.InvalidArgument.of("image", "an image is required")
        seed = convert.seed(request.decoding, 1)
        (image,), megapixels = await self._images([request.image], mode, field="image")
        first = True
        events = self.runtime.batcher.stream(
            CaptionJob(image, seed), key=("caption", options), timeout_s=context.time_remaining()
        )
        async for event in events:
            if isinstance(event, TokenEvent):
                if first:
                    self.runtime.metrics.time_to_first_token.observe(time.perf_counter() - arrived)
                    first = False
                yield pb.StreamCaptionResponse(
                    token=pb.CaptionToken(
                        id=event.token_id,
                        text=event.text,
                        index=event.index,
                        log_probability=event.log_probability,
                    )
                )
            elif isinstance(event, CaptionResult):
                self.runtime.metrics.images.labels("caption").inc()
                yield pb.StreamCaptionResponse(
                    caption=convert.caption_message(event),
                    seed=seed,
                    usage=convert.usage(1, megapixels, len(event.token_ids)),
                )

    # -- embeddings and matching ------------------------------------------------------

    async def EmbedImages(self, request: pb.EmbedImagesRequest, context: _Context) -> pb.EmbedImagesResponse:
        self._require_retriever("EmbedImages")
        images, megapixels = await self._images(request.images, convert.resize_mode(request.resize_mode))
        vectors = await asyncio.gather(
            *(
                self.runtime.batcher.submit(image, key=("embed_images",), timeout_s=context.time_remaining())
                for image in images
            )
        )
        self.runtime.metrics.images.labels("embed").inc(len(images))
        return pb.EmbedImagesResponse(
            embeddings=[pb.Embedding(values=v) for v in vectors],
            dimension=len(vectors[0]),
            usage=convert.usage(len(images), megapixels),
        )

    async def EmbedTexts(self, request: pb.EmbedTextsRequest, context: _Context) -> pb.EmbedTextsResponse:
        self._require_retriever("EmbedTexts")
        texts = convert.texts(list(request.texts))
        vectors = await asyncio.gather(
            *(
                self.runtime.batcher.submit(text, key=("embed_texts",), timeout_s=context.time_remaining())
                for text in texts
            )
        )
        return pb.EmbedTextsResponse(
            embeddings=[pb.Embedding(values=v) for v in vectors], dimension=len(vectors[0])
        )

    async def MatchImageText(
        self, request: pb.MatchImageTextRequest, context: _Context
    ) -> pb.MatchImageTextResponse:
        self._require_retriever("MatchImageText")
        if not request.HasField("image"):
            raise errors.InvalidArgument.of("image", "an image is required")
        texts = convert.texts(list(request.texts))
        (image,), megapixels = await self._images(
            [request.image], convert.resize_mode(request.resize_mode), field="image"
        )
        scores = await self.runtime.batcher.submit(
            MatchJob(image, tuple(texts)), key=("match",), timeout_s=context.time_remaining()
        )
        self.runtime.metrics.images.labels("match").inc()
        return pb.MatchImageTextResponse(
            matches=[
                pb.TextMatch(text=text, match_probability=probability, similarity=similarity)
                for text, (probability, similarity) in zip(texts, scores, strict=True)
            ],
            usage=convert.usage(1, megapixels),
        )

    # -- cross-attention --------------------------------------------------------------

    async def GetCrossAttention(
        self, request: pb.GetCrossAttentionRequest, context: _Context
    ) -> pb.GetCrossAttentionResponse:
        self._require_captioner("GetCrossAttention")
        if not request.HasField("image"):
            raise errors.InvalidArgument.of("image", "an image is required")
        facts = self.engine.facts
        assert facts is not None
        for index, layer in enumerate(request.layers):
            if not 0 <= layer < facts.decoder_layers:
                raise errors.InvalidArgument.of(
                    f"layers[{index}]", f"must be between 0 and {facts.decoder_layers - 1}, got {layer}"
                )
        if request.head_reduction not in (
            pb.HEAD_REDUCTION_UNSPECIFIED,
            pb.HEAD_REDUCTION_MEAN,
            pb.HEAD_REDUCTION_NONE,
        ):
            raise errors.InvalidArgument.of(
                "head_reduction", f"unknown head reduction {request.head_reduction}"
            )
        caption = self._attention_caption(request.caption)
        options = self._options(request.decoding, "", "")
        seed = convert.seed(request.decoding, 1)
        per_head = request.head_reduction == pb.HEAD_REDUCTION_NONE
        (image,), megapixels = await self._images(
            [request.image], convert.resize_mode(request.resize_mode), field="image"
        )
        job = AttentionJob(image, caption, options, seed, tuple(request.layers), per_head)
        result: AttentionResult = await self.runtime.batcher.submit(
            job, key=("attention",), timeout_s=context.time_remaining()
        )

        def build() -> pb.GetCrossAttentionResponse:
            heatmaps = heatmap_pngs(image, result) if request.render_heatmaps else []
            return convert.attention_message(result, per_head, heatmaps)

        # Heatmaps are drawn and encoded per token, and the maps are many floats: not on the event loop.
        response = await asyncio.to_thread(build)
        response.usage.CopyFrom(convert.usage(1, megapixels, len(result.token_ids)))
        return response

    # -- helpers ----------------------------------------------------------------------

    def _budget(self) -> convert.TokenBudget:
        assert self.engine.facts is not None
        return convert.TokenBudget(
            positions=self.engine.facts.decoder_positions,
            configured_limit=self.settings.max_new_tokens_limit,
            configured_default=self.settings.default_max_new_tokens,
        )

    def _options(self, decoding: pb.DecodingOptions, prefix: str, adapter: str) -> DecodeOptions:
        prefix = convert.prefix_text(prefix)
        max_new = convert.max_new_tokens(decoding, self.engine.token_count(prefix), self._budget())
        return convert.decode_options(decoding, prefix, max_new, adapter, self.engine.adapter_names)

    def _attention_caption(self, caption: str) -> str:
        """A given caption, checked to fit the decoder; empty asks for a generated one."""
        if len(caption) > convert.MAX_TEXT_CHARS:
            raise errors.InvalidArgument.of("caption", f"at most {convert.MAX_TEXT_CHARS} characters")
        caption = caption.strip()
        tokens, most = self.engine.token_count(caption), self._budget().max_caption_tokens
        if tokens > most:
            raise errors.InvalidArgument.of(
                "caption", f"is {tokens} tokens; this model's captions have at most {most}"
            )
        return caption

    async def _images(
        self, images: Sequence[common_pb2.Image], mode: ResizeMode, field: str = "images"
    ) -> tuple[list[Image.Image], float]:
        """Decodes and fits the request's images off the event loop; returns them and their megapixels."""
        if field == "images" and not 1 <= len(images) <= self.settings.max_images_per_request:
            raise errors.InvalidArgument.of(
                "images", f"send 1 to {self.settings.max_images_per_request} images, got {len(images)}"
            )
        assert self.engine.facts is not None
        size = self.engine.facts.image_size_px
        started = time.perf_counter()

        def prepare() -> tuple[list[Image.Image], float]:
            fitted, megapixels = [], 0.0
            for index, image in enumerate(images):
                path = field if field == "image" else f"{field}[{index}]"
                decoded = decode_image(image.data, image.media_type, path, self.limits)
                megapixels += decoded.megapixels
                fitted.append(fit_square(decoded.image, size, mode))
            return fitted, megapixels

        prepared = await asyncio.to_thread(prepare)
        self.runtime.metrics.stage_seconds.labels("preprocess").observe(time.perf_counter() - started)
        return prepared

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
