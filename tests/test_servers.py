"""Each of the three real servers on free loopback ports: health, reflection,
metrics and drain."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

import imaging.errors
from captioner_svc.server import build_app as build_captioner
from gateway.server import build_app as build_gateway
from gateway.settings import GatewaySettings
from generator_svc.server import build_app as build_generator
from generator_svc.settings import GeneratorSettings
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc
from serving.server import ServingApp
from tests.conftest import health_status, png_bytes, tiny_captioner_settings, wait_serving

SERVERS: dict[str, tuple[Callable[[dict[str, Path], Path], ServingApp], list[str]]] = {
    "captioner": (
        lambda tiny, tmp: build_captioner(tiny_captioner_settings(tiny)),
        ["imaging.captioner.v1.CaptionerService"],
    ),
    "generator": (
        lambda tiny, tmp: build_generator(GeneratorSettings(port=0, metrics_port=0)),
        ["imaging.generator.v1.GeneratorService"],
    ),
    "gateway": (
        # No backend runs here: the forwarded services are NOT_SERVING (tests/test_gateway.py).
        lambda tiny, tmp: build_gateway(GatewaySettings(port=0, metrics_port=0, data_dir=tmp)),
        ["imaging.gateway.v1.UsageService", "imaging.gateway.v1.AdminService"],
    ),
}


@pytest.mark.parametrize("name", list(SERVERS))
async def test_health_reflection_and_drain(name: str, tiny_blip: dict[str, Path], tmp_path: Path) -> None:
    build, services = SERVERS[name]
    app = build(tiny_blip, tmp_path)
    await app.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        await wait_serving(channel)
        for service in services:
            assert await health_status(channel, service) == health_pb2.HealthCheckResponse.SERVING

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed: set[str] = set()
        async for reply in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        ):
            listed.update(s.name for s in reply.list_services_response.service)
        assert set(services) | {"grpc.health.v1.Health"} <= listed

        await app.health.enter_graceful_shutdown()
        assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await health_status(channel, services[0]) == health_pb2.HealthCheckResponse.NOT_SERVING
    await app.stop(grace_period_s=0, drain_delay_s=0)


async def test_metrics_count_every_rpc_unary_and_stream(tiny_blip: dict[str, Path], tmp_path: Path) -> None:
    captioner = SERVERS["captioner"][0](tiny_blip, tmp_path)
    await captioner.start()
    await captioner.wait_ready()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{captioner.port}") as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Caption(captioner_pb2.CaptionRequest())
        request = captioner_pb2.StreamCaptionRequest(
            image=common_pb2.Image(data=png_bytes(Image.new("RGB", (64, 64))))
        )
        messages = [m async for m in stub.StreamCaption(request)]

    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{captioner.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    labels = 'grpc_service="imaging.captioner.v1.CaptionerService"'
    unary = f'{labels},grpc_type="unary"'
    stream = f'{labels},grpc_type="server_stream"'
    assert (
        f'grpc_server_handled_total{{grpc_code="INVALID_ARGUMENT",grpc_method="Caption",{unary}}} 1.0'
    ) in body
    # A stream is counted once, when it ends, with every message it sent.
    assert f'grpc_server_handled_total{{grpc_code="OK",grpc_method="StreamCaption",{stream}}} 1.0' in body
    assert f'grpc_server_msg_sent_total{{grpc_method="StreamCaption",{stream}}} {len(messages)}.0' in body
    assert "grpc_server_handling_seconds_bucket" in body
    assert f'grpc_server_in_flight{{grpc_method="Caption",{labels}}} 0.0' in body
    await captioner.stop(grace_period_s=0, drain_delay_s=0)


async def test_generator_contract_is_served(tiny_blip: dict[str, Path], tmp_path: Path) -> None:
    generator = SERVERS["generator"][0](tiny_blip, tmp_path)
    await generator.start()
    await generator.wait_ready()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{generator.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await generator_pb2_grpc.GeneratorServiceStub(channel).Generate(generator_pb2.GenerateRequest())
        # An empty request is refused for its missing variant, naming the field.
        info = imaging.errors.details(caught.value)
        assert info.code == grpc.StatusCode.INVALID_ARGUMENT
        assert info.field_violations[0].field.startswith("spec")
    await generator.stop(grace_period_s=0, drain_delay_s=0)
