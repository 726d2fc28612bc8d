"""The micro-batcher behind a real gRPC server: batching, a bounded queue,
cancellation and deadlines, as a client sees them."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving.server import ServingApp
from serving.settings import ModelServerSettings
from tests.conftest import running
from tests.fakes import ByteCountModel, build_fake_app

GREEDY, BEAM = pb.DECODING_STRATEGY_GREEDY, pb.DECODING_STRATEGY_BEAM_SEARCH


def caption_request(size: int, strategy: pb.DecodingStrategy.ValueType = GREEDY) -> pb.CaptionRequest:
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


def sample(app: ServingApp, name: str, labels: dict[str, str]) -> float:
    return app.registry.get_sample_value(name, labels) or 0.0


def queue_depth(app: ServingApp) -> float:
    return sample(app, "imaging_queue_depth", {"model": "fake", "operation": ""})


@contextlib.asynccontextmanager
async def fake_server(
    model: ByteCountModel, **settings: Any
) -> AsyncIterator[tuple[ServingApp, captioner_pb2_grpc.CaptionerServiceStub]]:
    """The fake captioner with its own batcher settings; compute is never left held."""
    values: dict[str, Any] = {"max_batch_delay_ms": 5, "grace_period_s": 5, **settings}
    async with running(build_fake_app(ModelServerSettings(port=0, metrics_port=0, **values), model)) as app:
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                yield app, captioner_pb2_grpc.CaptionerServiceStub(channel)
        finally:
            model.gate.set()


async def hold_one_batch(
    stub: captioner_pb2_grpc.CaptionerServiceStub, model: ByteCountModel
) -> asyncio.Future:
    """Starts a one-call batch and keeps it in compute until ``model.gate`` is set."""
    model.gate.clear()
    model.started.clear()
    held = asyncio.ensure_future(stub.Caption(caption_request(1)))
    await wait_until(model.started.is_set)
    return held


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
    assert 'imaging_batch_size_count{model="fake",operation=""} ' + f"{len(byte_model.batch_sizes)}.0" in body
    assert 'imaging_batch_size_sum{model="fake",operation=""} 4.0' in body


async def test_incompatible_calls_are_never_batched_together(
    fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(fake_channel)
    greedy = [stub.Caption(caption_request(n)) for n in (1, 2)]
    beams = [stub.Caption(caption_request(n, pb.DECODING_STRATEGY_BEAM_SEARCH)) for n in (3, 4)]
    await asyncio.gather(*greedy, *beams)
    assert sorted(byte_model.batch_sizes) == [2, 2]


async def test_a_lone_caller_skips_the_batch_delay_and_a_burst_still_batches() -> None:
    model = ByteCountModel()
    async with fake_server(model, max_batch_delay_ms=300) as (app, stub):
        waits = {"model": "fake", "operation": ""}
        for n in (1, 2, 3):  # one caller, one call at a time: nobody to wait for
            await stub.Caption(caption_request(n))
        waited = sample(app, "imaging_queue_wait_seconds_sum", waits)
        # The first call after start waits out the delay; the next two run at once.
        assert 0.29 < waited < 0.29 + 2 * 0.25, waited
        assert model.batch_sizes == [1, 1, 1]
        # A burst: its first call runs at once, the others arrive while it runs and batch together.
        model.started.clear()
        model.gate.clear()
        first = asyncio.ensure_future(stub.Caption(caption_request(4)))
        await asyncio.to_thread(model.started.wait, 5)
        rest = [asyncio.ensure_future(stub.Caption(caption_request(n))) for n in (5, 6, 7)]
        await wait_until(lambda: queue_depth(app) == 3)
        model.gate.set()
        await asyncio.gather(first, *rest)
        assert model.batch_sizes[3:] == [1, 3], model.batch_sizes


async def test_callers_a_batch_answered_rejoin_the_next_one_rather_than_alternating_part_batches() -> None:
    # Four callers in a closed loop, one of them a batch ahead: counted from the oldest
    # call alone, the delay has expired when a batch ends, and the server locks into
    # batches of one and three for good.
    # Compute well over the delay, as a generator's batch is: a call queued behind a batch
    # has always waited out the delay by the time it ends.
    model = ByteCountModel(compute_s=0.12)
    async with fake_server(model, max_batch_size=4, max_batch_delay_ms=40) as (app, stub):

        async def caller(first: asyncio.Future | None) -> None:
            if first is not None:
                await first
            for n in range(6):
                await stub.Caption(caption_request(n + 1))

        held = await hold_one_batch(stub, model)
        behind = [asyncio.ensure_future(caller(None)) for _ in range(3)]
        await wait_until(lambda: queue_depth(app) == 3)
        await asyncio.sleep(0.1)  # the three wait longer than the delay, as behind a real batch
        model.gate.set()
        await asyncio.gather(caller(held), *behind)
    assert model.batch_sizes == [1, 4, 4, 4, 4, 4, 4], model.batch_sizes


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
    assert 'imaging_queue_dropped_total{model="fake",operation="",reason="cancelled"} 1.0' in body


async def test_expired_queued_call_never_reaches_the_model(
    fake_app: ServingApp, fake_channel: grpc.aio.Channel, byte_model: ByteCountModel
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
    # Its caller also left (gRPC cut the call), but the deadline is why it was dropped.
    dropped = {
        reason: sample(
            fake_app, "imaging_queue_dropped_total", {"model": "fake", "operation": "", "reason": reason}
        )
        for reason in ("deadline", "cancelled")
    }
    assert dropped == {"deadline": 1.0, "cancelled": 0.0}


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


async def test_no_batch_exceeds_max_batch_size() -> None:
    model = ByteCountModel()
    async with fake_server(model, max_batch_size=3, max_queue_size=12) as (app, stub):
        held = await hold_one_batch(stub, model)
        # Nine compatible calls wait together: three batches of three, never one of four.
        queued = [asyncio.ensure_future(stub.Caption(caption_request(n))) for n in range(2, 11)]
        await wait_until(lambda: queue_depth(app) == 9)
        model.gate.set()
        answers = await asyncio.gather(held, *queued)
    assert [a.captions[0].text for a in answers] == [f"{n} bytes" for n in range(1, 11)]
    assert model.batch_sizes == [1, 3, 3, 3]


async def call_obeying_retry_info(
    stub: captioner_pb2_grpc.CaptionerServiceStub, request: pb.CaptionRequest, retry_after_s: float
) -> pb.CaptionResponse:
    """A well-behaved client: sleeps the server's RetryInfo delay before each retry."""
    while True:
        await asyncio.sleep(retry_after_s)
        try:
            return await stub.Caption(request)
        except grpc.aio.AioRpcError as exc:
            retry_after_s = imaging.errors.details(exc).retry_after_s or 1.0


async def test_retry_info_is_the_drain_time_of_the_work_queued_by_key() -> None:
    # Beam batches take 1 s here, greedy ones 0.1 s: after a slow batch, a flood of greedy
    # calls must be told when the greedy work queued ahead will be done, not a blend of both.
    model = ByteCountModel(compute_s_by_key={BEAM: 1.0, GREEDY: 0.1})
    async with fake_server(model, max_batch_size=2, max_queue_size=8) as (app, stub):
        await stub.Caption(caption_request(1, BEAM))
        await stub.Caption(caption_request(1))
        held = await hold_one_batch(stub, model)
        queued = [asyncio.ensure_future(stub.Caption(caption_request(n))) for n in range(2, 10)]
        await wait_until(lambda: queue_depth(app) == 8)
        loop = asyncio.get_running_loop()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Caption(caption_request(10))
        refused_at = loop.time()
        model.gate.set()
        retry_after_s = imaging.errors.details(caught.value).retry_after_s
        assert retry_after_s is not None
        retried = asyncio.ensure_future(call_obeying_retry_info(stub, caption_request(10), retry_after_s))
        await asyncio.gather(held, *queued)
        drain_s = loop.time() - refused_at
        assert (await retried).captions[0].text == "10 bytes"
        retried_s = loop.time() - refused_at
    # The held batch and four greedy batches: about 0.5 s.
    assert drain_s / 2 <= retry_after_s <= 1.5 * drain_s + 0.1, (retry_after_s, drain_s)
    # The obeying client is answered soon after the queue drained, not seconds later.
    assert retried_s <= drain_s + 0.5, (retried_s, drain_s)
