"""What every server's interceptor promises, seen from a client: malformed
bodies are INVALID_ARGUMENT and counted, calls cut at once still balance the
in-flight gauge, expired deadlines are counted as such, reflection answers
under v1 and v1alpha, and /metrics carries the process metrics."""

from __future__ import annotations

import asyncio
import gc
import logging
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.common.v1 import common_pb2
from serving.server import ServingApp
from serving.settings import ModelServerSettings
from tests.conftest import health_status
from tests.fakes import ByteCountModel, build_fake_app

SERVICE = "/imaging.captioner.v1.CaptionerService"


def metrics_text(app: ServingApp) -> str:
    url = f"http://127.0.0.1:{app.metrics_port}/metrics"
    return str(urllib.request.urlopen(url, timeout=5).read().decode())


def metric_value(body: str, prefix: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefix)]
    return sum(values)


async def test_a_body_that_is_not_a_message_is_invalid_argument_and_counted(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel
) -> None:
    raw = fake_channel.unary_unary(f"{SERVICE}/Caption")
    # Field 1 (images) as a length-delimited record that runs past the end of the body.
    for body in (b"\x0a\xff\x01", b"\x08\x96\x01" * 3 + b"\xff"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await raw(body, timeout=5)
        info = imaging.errors.details(caught.value)
        assert (info.code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    # The server counts a call as it finishes, which may be just after the client saw the error.
    handled = 'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="Caption"'
    for _ in range(100):
        if metric_value(metrics_text(fake_app), handled) >= 2:
            break
        await asyncio.sleep(0.01)
    assert metric_value(metrics_text(fake_app), handled) == 2
    # Invalid UTF-8 in a string field (the caption prefix) is refused the same way.
    request = pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")]).SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(request + b"\x1a\x02\xc3\x28", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_calls_cancelled_at_once_leave_no_call_in_flight(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stream = fake_channel.unary_stream(
        f"{SERVICE}/StreamCaption",
        request_serializer=pb.StreamCaptionRequest.SerializeToString,
        response_deserializer=pb.StreamCaptionResponse.FromString,
    )
    request = pb.StreamCaptionRequest(image=common_pb2.Image(data=b"abcd"))
    for _ in range(100):
        call = stream(request, timeout=5)
        await asyncio.sleep(0)
        call.cancel()
    await asyncio.sleep(0.5)
    body = metrics_text(fake_app)
    assert metric_value(body, "grpc_server_in_flight{") == 0
    started = metric_value(body, "grpc_server_started_total{")
    handled = metric_value(body, "grpc_server_handled_total{")
    assert started == handled


async def test_expired_deadlines_count_as_deadline_exceeded_and_log_no_error(
    fake_app: ServingApp,
    fake_channel: grpc.aio.Channel,
    byte_model: ByteCountModel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unary = fake_channel.unary_unary(
        f"{SERVICE}/Caption",
        request_serializer=pb.CaptionRequest.SerializeToString,
        response_deserializer=pb.CaptionResponse.FromString,
    )
    byte_model.gate.clear()  # compute holds: the next calls wait in the queue
    request = pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")])
    held = asyncio.ensure_future(unary(request, timeout=10))
    await asyncio.sleep(0.1)
    calls = [unary(request, timeout=0.2 + i * 0.01) for i in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results)
    assert {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)} == {
        grpc.StatusCode.DEADLINE_EXCEEDED
    }
    byte_model.gate.set()
    await held
    await asyncio.sleep(0.2)
    gc.collect()
    await asyncio.sleep(0)
    body = metrics_text(fake_app)
    assert metric_value(body, 'grpc_server_handled_total{grpc_code="DEADLINE_EXCEEDED"') == 3
    assert metric_value(body, 'grpc_server_handled_total{grpc_code="CANCELLED"') == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]


async def test_reflection_answers_v1_and_v1alpha_and_metrics_carry_the_process(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel
) -> None:
    for service in ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"):
        call = fake_channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        replies = [r async for r in call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
        listed = {s.name for s in replies[0].list_services_response.service}
        assert "imaging.captioner.v1.CaptionerService" in listed and "grpc.health.v1.Health" in listed
    caption = fake_channel.unary_unary(
        f"{SERVICE}/Caption",
        request_serializer=pb.CaptionRequest.SerializeToString,
        response_deserializer=pb.CaptionResponse.FromString,
    )
    await caption(pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")]), timeout=5)
    body = metrics_text(fake_app)
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_info",
    ):
        assert name in body
    assert metric_value(body, 'grpc_server_msg_received_total{grpc_method="Caption"') == 1


async def test_a_loading_server_answers_unavailable_with_retry_info(
    fake_settings: ModelServerSettings, byte_model: ByteCountModel
) -> None:
    byte_model.load_gate.clear()
    app = build_fake_app(fake_settings, byte_model)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
            caption = channel.unary_unary(
                f"{SERVICE}/Caption",
                request_serializer=pb.CaptionRequest.SerializeToString,
                response_deserializer=pb.CaptionResponse.FromString,
            )
            request = pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")])
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await caption(request, timeout=5)
            info = imaging.errors.details(caught.value)
            assert info.code == grpc.StatusCode.UNAVAILABLE
            assert info.retry_after_s is not None and info.retry_after_s > 0
            byte_model.load_gate.set()
            await app.wait_ready()
            assert (await caption(request, timeout=5)).captions[0].text == "3 bytes"
    finally:
        byte_model.load_gate.set()
        await app.stop(grace_period_s=0, drain_delay_s=0)


async def test_reflection_streams_are_counted(fake_app: ServingApp, fake_channel: grpc.aio.Channel) -> None:
    call = fake_channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [reflection_pb2.ServerReflectionRequest(list_services="")] * 2
    replies = [r async for r in call(iter(requests))]
    assert len(replies) == 2
    body = metrics_text(fake_app)
    labels = 'grpc_method="ServerReflectionInfo",grpc_service="grpc.reflection.v1.ServerReflection"'
    assert metric_value(body, f'grpc_server_handled_total{{grpc_code="OK",{labels}') == 1
    assert metric_value(body, f"grpc_server_msg_received_total{{{labels}") == 2
    assert metric_value(body, f"grpc_server_msg_sent_total{{{labels}") == 2
