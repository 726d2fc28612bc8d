"""Wires the gateway's services into a ``ServingApp``."""

from __future__ import annotations

import grpc

from gateway.settings import GatewaySettings
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc
from serving.server import ServingApp
from serving.unimplemented import unimplemented_servicer

_SERVICERS = (
    (
        captioner_pb2,
        "CaptionerService",
        captioner_pb2_grpc.CaptionerServiceServicer,
        captioner_pb2_grpc.add_CaptionerServiceServicer_to_server,
    ),
    (
        generator_pb2,
        "GeneratorService",
        generator_pb2_grpc.GeneratorServiceServicer,
        generator_pb2_grpc.add_GeneratorServiceServicer_to_server,
    ),
    (
        gateway_pb2,
        "UsageService",
        gateway_pb2_grpc.UsageServiceServicer,
        gateway_pb2_grpc.add_UsageServiceServicer_to_server,
    ),
    (
        gateway_pb2,
        "AdminService",
        gateway_pb2_grpc.AdminServiceServicer,
        gateway_pb2_grpc.add_AdminServiceServicer_to_server,
    ),
)


class GatewayServices:
    """The gateway's contracts; every method answers UNIMPLEMENTED until keys,
    quotas, the ledger and forwarding land."""

    service_names = tuple(
        module.DESCRIPTOR.services_by_name[name].full_name for module, name, _, _ in _SERVICERS
    )

    def register(self, server: grpc.aio.Server) -> None:
        for (module, name, base, add), full_name in zip(_SERVICERS, self.service_names, strict=True):
            del module, name
            add(unimplemented_servicer(base, full_name), server)  # type: ignore[operator]

    async def load(self) -> None:
        return None

    async def close(self) -> None:
        return None


def build_app(settings: GatewaySettings) -> ServingApp:
    """Returns the gateway server, not yet started."""
    app = ServingApp("gateway", settings)
    app.add(GatewayServices())
    return app
