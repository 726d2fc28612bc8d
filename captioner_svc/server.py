"""The captioner server's wiring: the engine on its worker thread behind one
bounded micro-batcher (``ModelRuntime``), the typed ``Captioning`` layer over
that batcher, and the gRPC servicer over it.

Every model call goes through the same queue, so ``max_queue_size`` bounds
all work on the model and a cancelled call never reaches it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Sequence
from typing import Any

import grpc
from opentelemetry import trace

from captioner_svc.batches import BatchRunner
from captioner_svc.captioning import Captioning
from captioner_svc.decode_process import DecodeProcess
from captioner_svc.encoders import EncoderPool
from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.metrics import CaptionerMetrics
from captioner_svc.options import OPERATIONS, CaptionKey, Strategy
from captioner_svc.servicer import CaptionerServicer
from captioner_svc.settings import CaptionerSettings
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from serving.batcher import JoinInbox, WorkItem
from serving.runtime import ModelRuntime
from serving.server import ServingApp

# How long closing waits for the decode process's last batch before it kills the process.
_DECODER_GRACE_S = 10.0

SERVICE_NAME = captioner_pb2.DESCRIPTOR.services_by_name["CaptionerService"].full_name


class CaptionerRuntime(ModelRuntime):
    """Owns the engine, its worker thread, its batcher and the ``Captioning``
    layer the servicer calls."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def __init__(self, app: ServingApp, settings: CaptionerSettings) -> None:
        config = EngineConfig(
            caption_model=settings.caption_model,
            retrieval_model=settings.retrieval_model,
            adapters=dict(settings.adapters) if settings.caption_model else {},
            device=settings.device,
            dtype=settings.dtype,
            cpu_threads=settings.torch_threads(),
            join_after_steps=settings.join_after_steps,
        )
        self.engine = CaptionEngine(config)
        # Captions decode in a child process, or on the model's thread.
        self.decoder = (
            DecodeProcess(config, self.engine.encode_jobs)
            if settings.decode_process and settings.caption_model
            else None
        )
        self._continuous = settings.continuous_batching
        metrics = CaptionerMetrics(app.registry)
        self._run_batch = BatchRunner(self.engine, metrics, self.decoder.caption if self.decoder else None)
        super().__init__("captioner", self.engine, app, settings)
        self.encoders = (
            EncoderPool(
                settings.caption_model, settings.encoder_processes, settings.dtype, settings.max_batch_size
            )
            if settings.encoder_processes and settings.caption_model
            else None
        )
        self.captioning = Captioning(self.engine, self.batcher, metrics, settings, self.encoders)

    async def load(self) -> None:
        # Processes of their own load their models while this one loads.
        children = [self.encoders.start()] if self.encoders else []
        if self.decoder is not None:
            children.append(asyncio.to_thread(self.decoder.start))
        await asyncio.gather(super().load(), *children)

    async def close(self) -> None:
        # Calls have drained, so the child's batch ends at its next step; one that
        # does not (a hung child) must not keep the worker thread, which closing waits for.
        hung = threading.Timer(_DECODER_GRACE_S, self.decoder.kill) if self.decoder else None
        if hung is not None:
            hung.start()
        await super().close()
        if hung is not None:
            hung.cancel()
        if self.encoders is not None:
            self.encoders.close()
        if self.decoder is not None:
            self.decoder.close()

    def register(self, server: grpc.aio.Server) -> None:
        captioner_pb2_grpc.add_CaptionerServiceServicer_to_server(CaptionerServicer(self.captioning), server)

    def _process(
        self, key: Hashable, items: Sequence[WorkItem[Any]], inbox: JoinInbox | None = None
    ) -> Sequence[Any]:
        return self._run_batch(key, items, inbox)

    def _joinable(self, key: Hashable) -> bool:
        # Greedy and sampled captions decode step by step: later calls join the running batch.
        return (
            self._continuous
            and isinstance(key, CaptionKey)
            and key.options.strategy is not Strategy.BEAM_SEARCH
        )

    def _operation(self, key: Hashable) -> str:
        return OPERATIONS.get(type(key), "")


def build_app(settings: CaptionerSettings, tracer_provider: trace.TracerProvider | None = None) -> ServingApp:
    """Returns the captioner server, not yet started; traced to ``tracer_provider``,
    else to the process's (``serving.tracing``)."""
    app = ServingApp("captioner", settings, tracer_provider)
    app.add(CaptionerRuntime(app, settings))
    return app
