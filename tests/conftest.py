"""Fixtures: servers on free loopback ports, and helpers to wait for health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.server import ServingApp
from serving.settings import ModelServerSettings
from tests.fakes import ByteCountModel, build_fake_app


async def health_status(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return response.status


async def wait_serving(channel: grpc.aio.Channel, service: str = "", timeout_s: float = 60) -> None:
    """Polls grpc.health.v1 until ``service`` is SERVING (never a log line or a sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await health_status(channel, service) != health_pb2.HealthCheckResponse.SERVING:
        if loop.time() > deadline:
            raise TimeoutError(f"{service or 'server'} did not become SERVING in {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def byte_model() -> ByteCountModel:
    return ByteCountModel()


@pytest.fixture
def fake_settings() -> ModelServerSettings:
    return ModelServerSettings(
        port=0, metrics_port=0, max_batch_size=4, max_batch_delay_ms=20, max_queue_size=4, grace_period_s=5
    )


@pytest.fixture
async def fake_app(
    fake_settings: ModelServerSettings, byte_model: ByteCountModel
) -> AsyncIterator[ServingApp]:
    app = build_fake_app(fake_settings, byte_model)
    await app.start()
    await app.wait_ready()
    yield app
    byte_model.gate.set()
    await app.stop(grace_period_s=1)


@pytest.fixture
async def fake_channel(fake_app: ServingApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fake_app.port}") as channel:
        yield channel
