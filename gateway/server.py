"""Wires the gateway into a ``ServingApp``: the store, the rate limiter, the
forwarded captioner and generator contracts, UsageService and AdminService,
and the loops that keep health truthful and sweep expired reservations."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from grpc_health.v1 import health
from opentelemetry import trace

from gateway.admin import AdminServicer
from gateway.auth import Authenticator
from gateway.forwarding import Backend, Forwarder, VariantPrices, open_channel
from gateway.health import HealthWatcher
from gateway.keys import load_pepper
from gateway.metering import CAPTIONER_SERVICE, GENERATOR_SERVICE
from gateway.metrics import GatewayMetrics
from gateway.plans import plan_limits
from gateway.ratelimit import RateLimiter, build_rate_limiter
from gateway.settings import GatewaySettings
from gateway.store.database import Engines, database_url, describe, migrate, open_engines
from gateway.store.keystore import KeyStore
from gateway.store.ledger import Ledger
from gateway.usage import UsageServicer
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from serving import tracing
from serving.server import ServingApp

_LOGGER = logging.getLogger(__name__)
USAGE_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["UsageService"].full_name
ADMIN_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


class GatewayServices:
    """Everything the gateway serves, and what it holds while serving."""

    service_names: tuple[str, ...] = (
        CAPTIONER_SERVICE.full_name,
        GENERATOR_SERVICE.full_name,
        USAGE_SERVICE,
        ADMIN_SERVICE,
    )

    def __init__(
        self,
        settings: GatewaySettings,
        metrics: GatewayMetrics,
        health_servicer: health.aio.HealthServicer,
        tracer_provider: trace.TracerProvider | None = None,
    ):
        self._settings = settings
        self._tracer_provider = tracer_provider  # None: backend calls carry no trace context
        self._metrics = metrics
        self._health = health_servicer
        plan_limits(settings.default_plan)  # refuse to start with an unknown plan
        self._anonymous = plan_limits(settings.anonymous_plan) if settings.anonymous_plan else None
        self.url = database_url(settings.database_url, settings.data_dir)
        if not self.url.startswith("sqlite") and not settings.key_pepper.get_secret_value():
            _LOGGER.warning(
                "GATEWAY_KEY_PEPPER is unset with a shared database: this replica uses the pepper in its "
                "data directory, and keys made on a replica with another pepper will not authenticate here"
            )
        self.engines: Engines = open_engines(self.url, settings.ledger_synchronous)
        self.keystore = KeyStore(
            self.engines.writer,
            self.engines.reader,
            load_pepper(settings.key_pepper.get_secret_value(), settings.data_dir),
        )
        self.ledger = Ledger(
            self.engines.writer,
            self.engines.reader,
            observe_commit=metrics.observe_commit,
            sqlite_synchronous=settings.ledger_synchronous,
        )
        self.limiter: RateLimiter = build_rate_limiter(settings.redis_url)
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: HealthWatcher | None = None

    def register(self, server: grpc.aio.Server) -> None:
        settings = self._settings
        interceptors = tracing.client_interceptors(self._tracer_provider)
        captioner = open_channel(settings.captioner_address, settings.max_message_bytes, interceptors)
        generator = open_channel(settings.generator_address, settings.max_message_bytes, interceptors)
        self._channels = [captioner, generator]
        backends = [
            Backend("captioner", CAPTIONER_SERVICE, captioner),
            Backend("generator", GENERATOR_SERVICE, generator),
        ]
        auth = Authenticator(self.keystore, self._metrics, settings.key_cache_s, self._anonymous)
        forwarder = Forwarder(
            backends,
            auth,
            self.limiter,
            self.ledger,
            self._metrics,
            VariantPrices(generator),
            settings.reservation_ttl_s,
        )
        server.add_generic_rpc_handlers(forwarder.handlers())
        gateway_pb2_grpc.add_UsageServiceServicer_to_server(
            UsageServicer(auth, self.limiter, self.ledger), server
        )
        gateway_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(
                self.keystore,
                self.ledger,
                settings.admin_token.get_secret_value(),
                settings.default_plan,
                self._metrics,
                on_change=auth.forget,
            ),
            server,
        )
        self._watcher = HealthWatcher(
            self._health,
            self._metrics,
            backends,
            self.keystore.ping,
            forwarded=(CAPTIONER_SERVICE.full_name, GENERATOR_SERVICE.full_name),
            store_only=(USAGE_SERVICE, ADMIN_SERVICE),
        )

    async def load(self) -> None:
        _LOGGER.info("opening the store", extra={"database": describe(self.url)})
        await asyncio.to_thread(migrate, self.engines.writer)
        assert self._watcher is not None
        await self._watcher.refresh(publish=False)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._watcher.run(self._settings.health_poll_s)),
            loop.create_task(self._sweep_forever()),
        ]

    def health_after_load(self) -> dict[str, bool]:
        assert self._watcher is not None
        return self._watcher.statuses

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.sweep_every_s)
            try:
                swept = await self.ledger.sweep_expired()
            except Exception:
                _LOGGER.warning("could not sweep expired reservations", exc_info=True)
                continue
            if swept:
                _LOGGER.info("released expired reservations", extra={"count": swept})

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels:
            await channel.close()
        await self.limiter.close()
        self.ledger.close()
        self.engines.dispose()


def build_app(settings: GatewaySettings, tracer_provider: trace.TracerProvider | None = None) -> ServingApp:
    """Returns the gateway server, not yet started; traced to ``tracer_provider``,
    else to the process's (``serving.tracing``)."""
    app = ServingApp("gateway", settings, tracer_provider)
    app.add(GatewayServices(settings, GatewayMetrics(app.registry), app.health, app.tracer_provider))
    return app
