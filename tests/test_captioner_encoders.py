"""Caption images encoded in encoder processes (``CAPTIONER_ENCODER_PROCESSES``).

The shipped captioner serves the same captions whether its vision tower runs
on the model's thread or in processes of its own, for every strategy, streams and
with an adapter, and with encoder processes the model's thread never runs
the tower for greedy or sampled captions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import grpc
import pytest
from pydantic import ValidationError

from captioner_svc.server import CaptionerRuntime
from captioner_svc.server import build_app as build_captioner
from captioner_svc.settings import CaptionerSettings
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from tests.conftest import png_bytes, running
from toyworld.variety import render_varied
from toyworld.world import sample_scene, split_seeds

pytestmark = pytest.mark.slow

DECODINGS = {
    "greedy": pb.DecodingOptions(max_new_tokens=20),
    "sampling": pb.DecodingOptions(
        strategy=pb.DECODING_STRATEGY_SAMPLING, temperature=0.8, top_k=10, seed=5, max_new_tokens=20
    ),
    "greedy, adapter fr": pb.DecodingOptions(max_new_tokens=20),
    "beam search": pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_BEAM_SEARCH, beam_count=3),
}


def _images() -> list[common_pb2.Image]:
    # Drawn by the varied renderer, not the one the captioner was trained on.
    seeds = split_seeds("test", 6)
    return [
        common_pb2.Image(data=png_bytes(render_varied(sample_scene(s))), media_type="image/png")
        for s in seeds
    ]


async def _captions(encoder_processes: int) -> tuple[dict[str, list[str]], int]:
    """Every image captioned with every decoding, one call per image, all at
    once (later calls join running decodes); and how often the model's
    thread ran the vision tower for the greedy and sampled calls."""
    app = build_captioner(CaptionerSettings(port=0, metrics_port=0, encoder_processes=encoder_processes))
    runtime = next(s for s in app._services if isinstance(s, CaptionerRuntime))
    tower_calls = 0

    def count(*_: Any) -> None:
        nonlocal tower_calls
        tower_calls += 1

    captions: dict[str, list[str]] = {}
    async with running(app, grace_period_s=0):
        hook = runtime.engine.captioner.vision_model.register_forward_hook(count)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
            images = _images()
            # A stream is prepared like a unary call; its tokens add up to its caption.
            request = pb.StreamCaptionRequest(image=images[0], decoding=DECODINGS["greedy"])
            events = [event async for event in stub.StreamCaption(request)]
            streamed = "".join(event.token.text for event in events if event.HasField("token"))
            assert streamed == events[-1].caption.text
            captions["stream"] = [events[-1].caption.text]
            for name, decoding in DECODINGS.items():
                if name == "beam search":
                    hook.remove()
                adapter = "fr" if name.endswith("adapter fr") else ""
                replies = await asyncio.gather(
                    *(
                        stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding, adapter=adapter))
                        for image in images
                    )
                )
                captions[name] = [reply.captions[0].text for reply in replies]
    return captions, tower_calls


async def test_captions_are_the_same_with_the_vision_tower_in_encoder_processes() -> None:
    on_thread, thread_tower_calls = await _captions(0)
    in_processes, process_tower_calls = await _captions(1)
    assert in_processes == on_thread
    assert on_thread["stream"] == on_thread["greedy"][:1]
    assert all(text for texts in on_thread.values() for text in texts)
    assert on_thread["greedy, adapter fr"] != on_thread["greedy"]  # the adapter did act
    assert thread_tower_calls > 0
    assert process_tower_calls == 0, "the model's thread ran the vision tower itself"


async def test_a_killed_encoder_process_is_replaced_and_calls_go_on() -> None:
    app = build_captioner(CaptionerSettings(port=0, metrics_port=0, encoder_processes=1))
    runtime = next(s for s in app._services if isinstance(s, CaptionerRuntime))
    assert runtime.encoders is not None
    request = pb.CaptionRequest(images=_images()[:1], decoding=DECODINGS["greedy"])
    async with (
        running(app, grace_period_s=0),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        before = (await stub.Caption(request)).captions[0].text
        (killed,) = runtime.encoders.pids
        os.kill(killed, signal.SIGKILL)
        codes = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                after = (await stub.Caption(request)).captions[0].text
                break
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())  # a client may retry these
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no caption within 120 s of the kill: {codes}")
        assert runtime.encoders.pids and killed not in runtime.encoders.pids
    assert set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes  # the calls the dead process had
    assert after == before


def test_encoder_processes_are_for_the_cpu() -> None:
    with pytest.raises(ValidationError, match="encoder_processes is for device cpu"):
        CaptionerSettings(device="cuda", encoder_processes=1)
    with pytest.raises(ValidationError, match="encoder_processes"):
        CaptionerSettings(encoder_processes=-1)
