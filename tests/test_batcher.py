"""The micro-batcher behind a real gRPC server: batching, a bounded queue,
cancellation and deadlines, as a client sees them."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

import grpc
import pytest

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving.server import ServingApp
from tests.fakes import ByteCountModel


def caption_request(
    size: int, strategy: pb.DecodingStrategy.ValueType = pb.DECODING_STRATEGY_GREEDY
) -> pb.CaptionRequest:
    return pb.CaptionRequest(
        images=[common_pb2.Image(data=b"x" * size, media_type="image/png")],
        decoding=pb.DecodingOptions(strategy=strategy),
    )


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def test_concurrent_calls_are_batched_and_answered_by_index(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    responses = await asyncio.gather(*(stub.Caption(caption_request(n)) for n in (1, 2, 3, 4)))
    assert [r.captions[0].text for r in responses] == ["1 bytes", "2 bytes", "3 bytes", "4 bytes"]
    assert max(byte_model.batch_sizes) > 1, byte_model.batch_sizes
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{fake_app.metrics_port}/metrics", timeout=5).read().decode()
    )
    assert 'imaging_batch_size_count{model="fake"} ' + f"{len(byte_model.batch_sizes)}.0" in body
    assert 'imaging_batch_size_sum{model="fake"} 4.0' in body


async def test_incompatible_calls_are_never_batched_together(
    fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    greedy = [stub.Caption(caption_request(n)) for n in (1, 2)]
    beams = [stub.Caption(caption_request(n, pb.DECODING_STRATEGY_BEAM_SEARCH)) for n in (3, 4)]
    await asyncio.gather(*greedy, *beams)
    assert sorted(byte_model.batch_sizes) == [2, 2]


async def test_full_queue_answers_resource_exhausted_with_retry_info(
    fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    byte_model.gate.clear()
    running = asyncio.ensure_future(stub.Caption(caption_request(1)))
    await wait_until(byte_model.started.is_set)
    # The batch in compute holds 1; the queue (max_queue_size=4) takes 4 more.
    queued = [asyncio.ensure_future(stub.Caption(caption_request(n))) for n in (2, 3, 4, 5)]
    await asyncio.sleep(0.2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Caption(caption_request(6))
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.reason == "OVERLOADED"
    assert info.retry_after_s is not None and info.retry_after_s > 0
    assert "queue is full" in info.message
    byte_model.gate.set()
    answers = await asyncio.gather(running, *queued)
    assert [a.captions[0].text for a in answers] == [f"{n} bytes" for n in (1, 2, 3, 4, 5)]
    # The server keeps serving after refusing.
    assert (await stub.Caption(caption_request(7))).captions[0].text == "7 bytes"


async def test_cancelled_queued_call_never_reaches_the_model(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    byte_model.gate.clear()
    running = stub.Caption(caption_request(10))
    await wait_until(byte_model.started.is_set)
    doomed = stub.Caption(caption_request(11))
    await asyncio.sleep(0.1)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await asyncio.sleep(0.1)
    byte_model.gate.set()
    assert (await running).captions[0].text == "10 bytes"
    assert (await stub.Caption(caption_request(12))).captions[0].text == "12 bytes"
    assert b"x" * 11 not in byte_model.seen
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{fake_app.metrics_port}/metrics", timeout=5).read().decode()
    )
    assert 'imaging_queue_dropped_total{model="fake",reason="cancelled"} 1.0' in body


async def test_expired_queued_call_never_reaches_the_model(
    fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    byte_model.gate.clear()
    running = stub.Caption(caption_request(20))
    await wait_until(byte_model.started.is_set)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Caption(caption_request(21), timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    byte_model.gate.set()
    await running
    await stub.Caption(caption_request(22))
    assert b"x" * 21 not in byte_model.seen


async def test_bad_input_names_the_field_and_server_keeps_serving(fake_channel: grpc.aio.Channel) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    request = pb.CaptionRequest(images=[common_pb2.Image(data=b"ok"), common_pb2.Image(data=b"")])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Caption(request)
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in info.field_violations] == [
        ("images[1].data", "the image is empty")
    ]
    assert (await stub.Caption(caption_request(3))).captions[0].text == "3 bytes"
