"""Queue and batch metrics by operation, on the real captioner server (tiny
checkpoints): calls of different operations share one queue, and /metrics
tells them apart."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import grpc

from captioner_svc.server import CaptionerRuntime
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving.server import ServingApp
from tests.conftest import decoder_held, png_bytes, running, tiny_captioner_settings
from toyworld.world import render, sample_scene

HOLD_TIMEOUT_S = 30


def scene_image(seed: int) -> common_pb2.Image:
    return common_pb2.Image(data=png_bytes(render(sample_scene(seed))), media_type="image/png")


def greedy() -> pb.DecodingOptions:
    return pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_GREEDY)


def scrape(app: ServingApp) -> dict[str, float]:
    """/metrics as served: each sample line's name and labels, to its value."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{app.metrics_port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def depth(operation: str) -> str:
    return f'imaging_queue_depth{{model="captioner",operation="{operation}"}}'


def batches(operation: str) -> str:
    return f'imaging_batch_size_count{{model="captioner",operation="{operation}"}}'


def items(operation: str) -> str:
    return f'imaging_batch_size_sum{{model="captioner",operation="{operation}"}}'


def captioner(tiny_blip: dict[str, Path]) -> tuple[ServingApp, CaptionerRuntime]:
    """A captioner server on the tiny checkpoints (batches of up to 8, no batch delay) and its runtime."""
    settings = tiny_captioner_settings(tiny_blip, max_batch_size=8, max_batch_delay_ms=0)
    app = ServingApp("captioner", settings)
    runtime = CaptionerRuntime(app, settings)
    app.add(runtime)
    return app, runtime


async def test_queue_depth_and_batch_size_are_labelled_by_operation(tiny_blip: dict[str, Path]) -> None:
    app, runtime = captioner(tiny_blip)
    async with (
        running(app, grace_period_s=0),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        with decoder_held(runtime.engine.captioner.text_decoder.cls, HOLD_TIMEOUT_S) as entered:
            # One caption in compute holds the worker; what follows waits in the queue.
            in_compute = asyncio.ensure_future(
                stub.Caption(pb.CaptionRequest(images=[scene_image(1)], decoding=greedy()))
            )
            await asyncio.to_thread(entered.wait, HOLD_TIMEOUT_S)
            before = scrape(app)
            captions = asyncio.ensure_future(
                stub.Caption(pb.CaptionRequest(images=[scene_image(2), scene_image(3)], decoding=greedy()))
            )
            texts = asyncio.ensure_future(stub.EmbedTexts(pb.EmbedTextsRequest(texts=["a", "b", "c"])))
            while runtime.batcher.queue_depth < 5:
                await asyncio.sleep(0.01)
            queued = scrape(app)
            assert queued[depth("caption")] == 2
            assert queued[depth("embed_text")] == 3
        await in_compute
        assert len((await captions).captions) == 2
        assert len((await texts).embeddings) == 3
        while runtime.batcher._running is not None:  # callers are answered before their batch ends
            await asyncio.sleep(0.01)
        after = scrape(app)
    assert after[depth("caption")] == 0
    assert after[depth("embed_text")] == 0
    assert after[batches("caption")] > before.get(batches("caption"), 0)
    # A batch's size is recorded as it ends (with every call it served): the held one's too.
    assert after[items("caption")] - before.get(items("caption"), 0) == 3
    assert after[batches("embed_text")] - before.get(batches("embed_text"), 0) >= 1
    assert after[items("embed_text")] - before.get(items("embed_text"), 0) == 3


async def test_a_group_that_joins_a_running_decode_is_measured_before_the_decode_ends(
    tiny_blip: dict[str, Path],
) -> None:
    """Under steady load a continuous decode may never end: each group it admits
    is measured when the next one joins, not when the batch is over."""
    app, runtime = captioner(tiny_blip)
    async with (
        running(app, grace_period_s=0),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        limit = (await stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
        long = pb.DecodingOptions(max_new_tokens=limit, min_new_tokens=limit)
        before = scrape(app)
        # Slow steps, so that the long caption is still decoding when the short one is answered.
        slow = runtime.engine.captioner.text_decoder.cls.register_forward_pre_hook(
            lambda *_: time.sleep(0.02)
        )
        try:
            with decoder_held(runtime.engine.captioner.text_decoder.cls, HOLD_TIMEOUT_S) as entered:
                first = asyncio.ensure_future(
                    stub.Caption(pb.CaptionRequest(images=[scene_image(1)], decoding=long))
                )
                await asyncio.to_thread(entered.wait, HOLD_TIMEOUT_S)
                short = asyncio.ensure_future(
                    stub.Caption(pb.CaptionRequest(images=[scene_image(2)], decoding=greedy()))
                )
                while runtime.batcher.queue_depth < 1:
                    await asyncio.sleep(0.01)
            await short
            mid_decode = scrape(app)
            assert not first.done(), "the long caption ended before the short one: no join to measure"
            await first
        finally:
            slow.remove()
        while runtime.batcher._running is not None:  # callers are answered before their batch ends
            await asyncio.sleep(0.01)
        after = scrape(app)
    # The long caption's group was measured when the short one joined, with the decode still running.
    assert mid_decode[batches("caption")] - before.get(batches("caption"), 0) == 1
    assert mid_decode[items("caption")] - before.get(items("caption"), 0) == 1
    assert after[batches("caption")] - before.get(batches("caption"), 0) == 2
    assert after[items("caption")] - before.get(items("caption"), 0) == 2
