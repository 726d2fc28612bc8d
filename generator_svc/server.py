"""The generator server's wiring: the registry, the engine on its worker thread
behind one micro-batcher (``batches``), and ``GeneratorServicer`` over
``Generation``; ``build_app`` for ``__main__`` and tests."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import grpc
from opentelemetry import trace

from generator_svc import batches
from generator_svc.engine import EngineConfig, FluxEngine
from generator_svc.generation import Generation
from generator_svc.metrics import GeneratorMetrics
from generator_svc.options import GenerationJob, GenerationResult
from generator_svc.servicer import GeneratorServicer
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import load_registry
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc
from serving.batcher import WorkItem
from serving.images import ImageLimits
from serving.runtime import ModelRuntime
from serving.server import ServingApp

SERVICE_NAME = generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"].full_name


class GeneratorRuntime(ModelRuntime):
    """The FLUX engine served by ``GeneratorServicer``."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def __init__(self, app: ServingApp, settings: GeneratorSettings) -> None:
        registry = load_registry(settings.variants_file, adapters=settings.adapters)
        self.engine = FluxEngine(
            EngineConfig(
                checkpoints=registry.checkpoints,
                adapters=registry.adapters,
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
        self.generation = Generation(
            registry,
            self.batcher,
            self.metrics,
            ImageLimits(settings.max_image_bytes, settings.max_image_pixels),
            settings.currency_code,
        )

    def register(self, server: grpc.aio.Server) -> None:
        generator_pb2_grpc.add_GeneratorServiceServicer_to_server(GeneratorServicer(self.generation), server)

    def _cost_key(self, key: Hashable) -> Hashable:
        return batches.cost_key(key)

    def _operation(self, key: Hashable) -> str:
        return "generate"

    def _process(
        self, key: Hashable, items: Sequence[WorkItem[GenerationJob]]
    ) -> Sequence[GenerationResult | None]:
        return batches.run(self.engine, self.metrics, key, items)


def build_app(settings: GeneratorSettings, tracer_provider: trace.TracerProvider | None = None) -> ServingApp:
    """Returns the generator server, not yet started; traced to ``tracer_provider``,
    else to the process's (``serving.tracing``)."""
    app = ServingApp("generator", settings, tracer_provider)
    app.add(GeneratorRuntime(app, settings))
    return app
