"""Wires the generator's services into a ``ServingApp``."""

from __future__ import annotations

import grpc

from generator_svc.settings import GeneratorSettings
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc
from serving.server import ServingApp
from serving.unimplemented import unimplemented_servicer

SERVICE_NAME = generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"].full_name


class GeneratorService:
    """The generator contract; every method answers UNIMPLEMENTED until its pipelines land."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def register(self, server: grpc.aio.Server) -> None:
        servicer = unimplemented_servicer(generator_pb2_grpc.GeneratorServiceServicer, SERVICE_NAME)
        generator_pb2_grpc.add_GeneratorServiceServicer_to_server(servicer, server)

    async def load(self) -> None:
        return None

    async def close(self) -> None:
        return None


def build_app(settings: GeneratorSettings) -> ServingApp:
    """Returns the generator server, not yet started."""
    app = ServingApp("generator", settings)
    app.add(GeneratorService())
    return app
