"""The captioner's model runtime: the engine on its worker thread behind one
bounded micro-batcher, and the batch function that dispatches by operation.

Every model call goes through the same queue, so ``max_queue_size`` bounds
all work on the model and a cancelled call never reaches it. Batch keys:
``("caption", DecodeOptions)`` (compatible decoding batches together),
``("embed_images",)``, ``("embed_texts",)``, ``("match",)``, ``("attention",)``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from PIL import Image

from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.metrics import CaptionerMetrics
from captioner_svc.options import AttentionResult, CaptionJob, CaptionResult, DecodeOptions
from captioner_svc.settings import CaptionerSettings
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from serving.batcher import WorkItem
from serving.runtime import ModelRuntime
from serving.server import ServingApp

SERVICE_NAME = captioner_pb2.DESCRIPTOR.services_by_name["CaptionerService"].full_name


@dataclass(frozen=True)
class MatchJob:
    image: Image.Image
    texts: tuple[str, ...]


@dataclass(frozen=True)
class AttentionJob:
    image: Image.Image
    caption: str  # empty: generate one with ``options`` and ``seed`` first
    options: DecodeOptions
    seed: int
    layers: tuple[int, ...]
    per_head: bool


# The stage label of each operation but captions (whose stages are encode_image and decode).
_STAGES = {
    "embed_images": "embed_image",
    "embed_texts": "embed_text",
    "match": "match",
    "attention": "cross_attention",
}


class CaptionerRuntime(ModelRuntime):
    """Owns the engine, its worker thread and its batcher; served by ``CaptionerServicer``."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def __init__(self, app: ServingApp, settings: CaptionerSettings) -> None:
        self.settings = settings
        self.engine = CaptionEngine(
            EngineConfig(
                caption_model=settings.caption_model,
                retrieval_model=settings.retrieval_model,
                adapters=dict(settings.adapters) if settings.caption_model else {},
                device=settings.device,
                dtype=settings.dtype,
            )
        )
        self.metrics = CaptionerMetrics(app.registry)
        super().__init__("captioner", self.engine, app, settings)

    def register(self, server: grpc.aio.Server) -> None:
        from captioner_svc.servicer import CaptionerServicer

        captioner_pb2_grpc.add_CaptionerServiceServicer_to_server(CaptionerServicer(self), server)

    # -- on the worker thread -------------------------------------------------------

    def _process(self, key: Hashable, items: Sequence[WorkItem[Any]]) -> Sequence[Any]:
        operation = key[0] if isinstance(key, tuple) else key
        if operation == "caption":
            return self._caption(key[1], items)  # type: ignore[index]
        if operation not in _STAGES:
            raise ValueError(f"unknown operation {operation!r}")
        started = time.perf_counter()
        results: list[Any]
        if operation == "embed_images":
            results = list(self.engine.embed_images([item.payload for item in items]))
        elif operation == "embed_texts":
            results = list(self.engine.embed_texts([item.payload for item in items]))
        elif operation == "match":
            results = [self.engine.match(item.payload.image, item.payload.texts) for item in items]
        else:
            results = [self._attention(item) for item in items]
        self.metrics.stage_seconds.labels(_STAGES[operation]).observe(time.perf_counter() - started)
        return results

    def _caption(self, options: DecodeOptions, items: Sequence[WorkItem[CaptionJob]]) -> list[Any]:
        results = self.engine.caption(options, [item.payload for item in items], items)
        finished = [r for r in results if isinstance(r, CaptionResult)]
        if finished:
            self.metrics.stage_seconds.labels("encode_image").observe(finished[0].encode_s)
            self.metrics.stage_seconds.labels("decode").observe(finished[0].decode_s)
            self.metrics.tokens.inc(sum(len(r.token_ids) for r in finished))
        return results

    def _attention(self, item: WorkItem[AttentionJob]) -> AttentionResult | Exception:
        job = item.payload
        caption = job.caption
        if not caption:
            # The call's own item is the caption's row: cancelled, it stops decoding at the next token.
            result = self.engine.caption(job.options, [CaptionJob(job.image, job.seed)], [item])[0]
            if isinstance(result, Exception):
                return result
            caption = result.text
        return self.engine.cross_attention(job.image, caption, job.layers, job.per_head)


def build_app(settings: CaptionerSettings) -> ServingApp:
    """Returns the captioner server, not yet started."""
    app = ServingApp("captioner", settings)
    app.add(CaptionerRuntime(app, settings))
    return app
