"""Wires the captioner's services into a ``ServingApp``."""

from __future__ import annotations

import grpc

from captioner_svc.settings import CaptionerSettings
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from serving.server import ServingApp
from serving.unimplemented import unimplemented_servicer

SERVICE_NAME = captioner_pb2.DESCRIPTOR.services_by_name["CaptionerService"].full_name


class CaptionerService:
    """The captioner contract; every method answers UNIMPLEMENTED until its engine lands."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def register(self, server: grpc.aio.Server) -> None:
        servicer = unimplemented_servicer(captioner_pb2_grpc.CaptionerServiceServicer, SERVICE_NAME)
        captioner_pb2_grpc.add_CaptionerServiceServicer_to_server(servicer, server)

    async def load(self) -> None:
        return None

    async def close(self) -> None:
        return None


def build_app(settings: CaptionerSettings) -> ServingApp:
    """Returns the captioner server, not yet started."""
    app = ServingApp("captioner", settings)
    app.add(CaptionerService())
    return app
