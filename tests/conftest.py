"""Fixtures: servers on free loopback ports, and helpers to wait for health."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from captioner_svc.server import build_app as build_captioner
from captioner_svc.settings import CaptionerSettings
from imaging.captioner.v1 import captioner_pb2_grpc
from serving.server import ServingApp
from serving.settings import ModelServerSettings
from tests.fakes import ByteCountModel, build_fake_app
from tests.gateway_support import Process, spawn


@contextlib.asynccontextmanager
async def running(app: ServingApp, grace_period_s: float = 1) -> AsyncIterator[ServingApp]:
    """Starts ``app`` on its free port, waits until it loaded, and always drains it,
    also when the test body fails (a leaked server outlives its event loop)."""
    await app.start()
    try:
        await app.wait_ready()
        yield app
    finally:
        await app.stop(grace_period_s=grace_period_s, drain_delay_s=0)


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
    async with running(build_fake_app(fake_settings, byte_model)) as app:
        yield app
        byte_model.gate.set()


@pytest.fixture
async def fake_channel(fake_app: ServingApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fake_app.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random captioner, retrieval model and LoRA adapter, saved once per run."""
    from tests.blip_checkpoints import save_tiny_blip

    return save_tiny_blip(tmp_path_factory.mktemp("tiny-blip"))


def tiny_captioner_settings(paths: dict[str, Path], **overrides: object) -> CaptionerSettings:
    values: dict[str, object] = {
        "port": 0,
        "metrics_port": 0,
        "caption_model": str(paths["captioner"]),
        "retrieval_model": str(paths["retrieval"]),
        "adapters": {"lora": str(paths["adapter"])},
        "max_batch_delay_ms": 20,
        "default_max_new_tokens": 12,
        "max_images_per_request": 4,
    }
    values.update(overrides)
    return CaptionerSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def captioner_app(tiny_blip: dict[str, Path]) -> AsyncIterator[ServingApp]:
    async with running(build_captioner(tiny_captioner_settings(tiny_blip))) as app:
        yield app


@pytest.fixture
async def captioner_stub(captioner_app: ServingApp) -> AsyncIterator[captioner_pb2_grpc.CaptionerServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{captioner_app.port}") as channel:
        yield captioner_pb2_grpc.CaptionerServiceStub(channel)


@pytest.fixture
async def shipped_captioner() -> AsyncIterator[captioner_pb2_grpc.CaptionerServiceStub]:
    """The captioner serving the shipped toy-world checkpoints, as `make run` does."""
    async with (
        running(build_captioner(CaptionerSettings(port=0, metrics_port=0)), grace_period_s=0) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield captioner_pb2_grpc.CaptionerServiceStub(channel)


@contextlib.contextmanager
def decoder_held(decoder: torch.nn.Module, timeout_s: float = 30) -> Iterator[threading.Event]:
    """Holds every forward pass of ``decoder`` (on the model's worker thread)
    until the block ends; yields the event set once compute is held. For the
    caption decoder pass ``text_decoder.cls``, the LM head that ends every
    pass (prefill, step, beam), as decode steps bypass ``text_decoder``'s own
    forward (``captioner_svc.decoder_step``)."""
    entered, release = threading.Event(), threading.Event()

    def hold(module: object, args: object) -> None:
        entered.set()
        release.wait(timeout_s)

    handle = decoder.register_forward_pre_hook(hold)
    try:
        yield entered
    finally:
        release.set()
        handle.remove()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    """The shipped captioner and generator as their own processes, shared by the gateway tests."""
    logs = tmp_path_factory.mktemp("backend-logs")
    captioner = spawn("captioner_svc", "CAPTIONER", logs)
    try:
        generator = spawn("generator_svc", "GENERATOR", logs)
    except BaseException:
        captioner.stop()
        raise
    yield captioner, generator
    for process in (captioner, generator):
        process.stop()
