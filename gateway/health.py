"""Keeps the gateway's ``grpc.health.v1`` truthful: a forwarded service is
SERVING only while its backend says SERVING and the store answers; the
gateway as a whole ("") and its own services follow the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.forwarding import Backend
from gateway.metrics import GatewayMetrics

_LOGGER = logging.getLogger(__name__)
_CHECK_TIMEOUT_S = 1.0


class HealthWatcher:
    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        metrics: GatewayMetrics,
        backends: Sequence[Backend],
        ping_store: Callable[[], None],
        forwarded: Sequence[str],
        store_only: Sequence[str],
    ) -> None:
        self._servicer = servicer
        self._metrics = metrics
        self._backends = backends
        self._ping_store = ping_store
        self._forwarded = forwarded
        self._store_only = store_only
        self.statuses: dict[str, bool] = {}

    async def run(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.refresh(publish=True)

    async def refresh(self, publish: bool) -> None:
        """Checks the store and every backend; sets the statuses (and publishes
        them on the health service unless the server is still loading)."""
        store_up, *backends_up = await asyncio.gather(
            self._store_up(), *(self._backend_up(b) for b in self._backends)
        )
        self._metrics.store_up.set(1 if store_up else 0)
        statuses = {"": store_up, **{name: store_up for name in self._store_only}}
        for backend, name, up in zip(self._backends, self._forwarded, backends_up, strict=True):
            self._metrics.backend_up.labels(backend.name).set(1 if up else 0)
            statuses[name] = store_up and up
        changed = {name: up for name, up in statuses.items() if self.statuses.get(name) != up}
        self.statuses = statuses
        if publish:
            for name, up in changed.items():
                await self._servicer.set(
                    name,
                    health_pb2.HealthCheckResponse.SERVING
                    if up
                    else health_pb2.HealthCheckResponse.NOT_SERVING,
                )
        if changed and self.statuses:
            _LOGGER.info(
                "health changed", extra={"statuses": {k or "(server)": v for k, v in changed.items()}}
            )

    async def _store_up(self) -> bool:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping_store), timeout=2 * _CHECK_TIMEOUT_S)
        except Exception:
            return False
        return True

    @staticmethod
    async def _backend_up(backend: Backend) -> bool:
        stub = health_pb2_grpc.HealthStub(backend.channel)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=backend.service.full_name), timeout=_CHECK_TIMEOUT_S
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING
