"""What the Kubernetes manifests rely on in every server: the liveness health
name that does not follow dependencies, and the connection age that makes
clients re-resolve and spread over new replicas."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2

from serving.server import LIVENESS_SERVICE, ServingApp, grpc_options
from serving.settings import ServerSettings
from tests.conftest import health_status

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _StoreDown:
    """A service that loads when told to, then reports its store down (as the
    gateway does while its database is unreachable)."""

    service_names: tuple[str, ...] = ("test.v1.StoreService",)

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def register(self, server: grpc.aio.Server) -> None:
        pass

    async def load(self) -> None:
        await self.release.wait()

    async def close(self) -> None:
        pass

    def health_after_load(self) -> dict[str, bool]:
        return {"": False, "test.v1.StoreService": False}


async def test_liveness_says_loaded_and_not_draining_whatever_the_dependencies() -> None:
    service = _StoreDown()
    app = ServingApp("test", ServerSettings(port=0, metrics_port=0))
    app.add(service)
    await app.start()
    stopping: asyncio.Future[None] | None = None
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            # Loading: the startupProbe keeps failing, so no liveness kill yet.
            assert await health_status(channel, LIVENESS_SERVICE) == NOT_SERVING
            service.release.set()
            await app.wait_ready()
            assert await health_status(channel, LIVENESS_SERVICE) == SERVING
            # Readiness follows the store; liveness does not.
            assert await health_status(channel) == NOT_SERVING
            assert await health_status(channel, "test.v1.StoreService") == NOT_SERVING
            stopping = asyncio.ensure_future(app.stop(grace_period_s=0, drain_delay_s=0.5))
            await asyncio.sleep(0.1)
            assert await health_status(channel, LIVENESS_SERVICE) == NOT_SERVING
            await stopping
    finally:
        service.release.set()
        if stopping is None:
            await app.stop(grace_period_s=0, drain_delay_s=0)


def test_max_connection_age_becomes_channel_arguments() -> None:
    options = dict(grpc_options(ServerSettings(max_connection_age_s=60, max_connection_age_grace_s=90)))
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_connection_age_grace_ms"] == 90_000
    assert "grpc.max_connection_age_ms" not in dict(grpc_options(ServerSettings()))
