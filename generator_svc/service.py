"""The generator's model runtime: the engine on its worker thread behind one
bounded micro-batcher, and the batch function.

Every pipeline call goes through the same queue, so ``max_queue_size`` bounds
all work on the GPU/CPU and a cancelled call never reaches it. Batch key:
``BatchKey`` (variant, size, steps, guidance, true CFG; calls with reference
images get a unique key and run alone).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Sequence
from typing import Any

import grpc

from generator_svc.engine import EngineConfig, FluxEngine
from generator_svc.metrics import GeneratorMetrics
from generator_svc.options import BatchKey, GenerationJob, GenerationResult
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import Registry, load_registry
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc
from serving import errors
from serving.batcher import WorkItem
from serving.runtime import ModelRuntime
from serving.server import ServingApp

SERVICE_NAME = generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"].full_name


class GeneratorRuntime(ModelRuntime):
    """Owns the registry, the engine, its worker thread and its batcher; served by
    ``GeneratorServicer``."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def __init__(self, app: ServingApp, settings: GeneratorSettings) -> None:
        self.settings = settings
        self.registry: Registry = load_registry(settings.variants_file)
        self.engine = FluxEngine(
            EngineConfig(
                checkpoints=self.registry.checkpoints,
                device=settings.device,
                dtype=settings.dtype,
                cpu_offload=settings.cpu_offload,
                vae_tiling=settings.vae_tiling,
                cpu_threads=settings.cpu_threads,
                preview_max_side_px=settings.preview_max_side_px,
            )
        )
        self.metrics = GeneratorMetrics(app.registry)
        super().__init__("generator", self.engine, app, settings)
        self._solo = 0

    def next_solo(self) -> int:
        """A batch-key number no other call shares (event loop only)."""
        self._solo += 1
        return self._solo

    def register(self, server: grpc.aio.Server) -> None:
        from generator_svc.servicer import GeneratorServicer

        generator_pb2_grpc.add_GeneratorServiceServicer_to_server(GeneratorServicer(self), server)

    def _cost_key(self, key: Hashable) -> Hashable:
        # A call with reference images runs alone under a unique key; it costs about
        # what a text-to-image batch of its parameters costs.
        assert isinstance(key, BatchKey)
        return dataclasses.replace(key, solo=0) if key.solo else key

    # -- on the worker thread -------------------------------------------------------

    def _process(self, key: Hashable, items: Sequence[WorkItem[GenerationJob]]) -> Sequence[Any]:
        assert isinstance(key, BatchKey)
        steps_before = self.engine.steps_run
        try:
            results = self.engine.generate(key, [item.payload for item in items], items)
        finally:
            self.metrics.steps.labels(key.variant).inc(self.engine.steps_run - steps_before)
        finished = [r for r in results if r is not None]
        if finished:
            first = finished[0]
            self.metrics.stage_seconds.labels("encode").observe(first.encode_s)
            self.metrics.stage_seconds.labels("denoise").observe(first.denoise_s)
            self.metrics.stage_seconds.labels("decode").observe(first.decode_s)
        out: list[GenerationResult | Exception] = []
        for item, result in zip(items, results, strict=True):
            if result is not None:
                out.append(result)
            elif item.deadline is not None and time.monotonic() >= item.deadline:
                out.append(errors.DeadlineExceeded("the deadline passed while the images were generated"))
            else:
                out.append(errors.Cancelled("the call was cancelled; its generation stopped"))
        return out


def build_app(settings: GeneratorSettings) -> ServingApp:
    """Returns the generator server, not yet started."""
    app = ServingApp("generator", settings)
    app.add(GeneratorRuntime(app, settings))
    return app
