"""Captions computed in processes of their own: the vision tower in encoder
processes (``CAPTIONER_ENCODER_PROCESSES``), or the whole decode in a decode
process (``CAPTIONER_DECODE_PROCESS``).

The shipped captioner serves the same captions either way, for every
strategy, streams and with an adapter; with encoder processes the model's
thread never runs the tower for greedy or sampled captions, and with a
decode process this process never runs the text decoder. A process that
dies fails only the calls it had, with UNAVAILABLE, and is replaced; they
all end with their server, even one killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import ValidationError
from transformers import BlipForConditionalGeneration

from bench.procfs import alive, children_of
from captioner_svc.decode_process import DecodeProcess, _Relay
from captioner_svc.engine import EngineConfig
from captioner_svc.options import CaptionJob, CaptionResult, DecodeOptions, Finish, TokenEvent
from captioner_svc.server import CaptionerRuntime
from captioner_svc.server import build_app as build_captioner
from captioner_svc.settings import MODELS_DIR, CaptionerSettings
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from tests.blip_checkpoints import with_random_vision_lora
from tests.conftest import png_bytes, running
from tests.gateway_support import spawn
from toyworld.variety import render_varied
from toyworld.world import sample_scene, split_seeds

pytestmark = pytest.mark.slow

Stub = captioner_pb2_grpc.CaptionerServiceStub

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


@contextlib.asynccontextmanager
async def _serving(**settings: Any) -> AsyncIterator[tuple[CaptionerRuntime, Stub]]:
    """The shipped captioner with ``settings``, its runtime and a client of it."""
    app = build_captioner(CaptionerSettings(port=0, metrics_port=0, **settings))
    runtime = next(s for s in app._services if isinstance(s, CaptionerRuntime))
    async with (
        running(app, grace_period_s=0),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield runtime, captioner_pb2_grpc.CaptionerServiceStub(channel)


@dataclass
class Served:
    """What one server answered, and how often this process ran each part of the model."""

    captions: dict[str, list[str]]
    tower_calls: int  # greedy and sampled calls only
    decoder_calls: int


async def _captions(**settings: Any) -> Served:
    """Every image captioned with every decoding, one call per image, all at
    once (later calls join running decodes)."""
    counts = {"tower": 0, "decoder": 0}

    def counter(part: str) -> Callable[..., None]:
        def count(*_: Any) -> None:
            counts[part] += 1

        return count

    captions: dict[str, list[str]] = {}
    async with _serving(**settings) as (runtime, stub):
        # The tower's last module, which every pass ends in (its forward is bypassed:
        # captioner_svc.vision_tower).
        hook = runtime.engine.captioner.vision_model.post_layernorm.register_forward_hook(counter("tower"))
        runtime.engine.captioner.text_decoder.cls.register_forward_hook(counter("decoder"))
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
    return Served(captions, counts["tower"], counts["decoder"])


async def test_captions_are_the_same_computed_in_processes_of_their_own() -> None:
    on_thread = await _captions()
    encoders = await _captions(encoder_processes=1)
    decoder = await _captions(decode_process=True)
    assert encoders.captions == on_thread.captions
    assert decoder.captions == on_thread.captions
    assert on_thread.captions["stream"] == on_thread.captions["greedy"][:1]
    assert all(text for texts in on_thread.captions.values() for text in texts)
    assert on_thread.captions["greedy, adapter fr"] != on_thread.captions["greedy"]  # the adapter did act
    assert on_thread.tower_calls > 0 and on_thread.decoder_calls > 0
    assert encoders.tower_calls == 0, "the model's thread ran the vision tower itself"
    assert decoder.decoder_calls == 0, "this process decoded captions itself"
    # With a decode process this process runs the vision tower, and the child decodes.
    assert decoder.tower_calls > 0, "the decode process encoded the images itself"


async def test_a_killed_encoder_process_is_replaced_and_calls_go_on() -> None:
    request = pb.CaptionRequest(images=_images()[:1], decoding=DECODINGS["greedy"])
    async with _serving(encoder_processes=1) as (runtime, stub):
        assert runtime.encoders is not None
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


def _vision_adapter(directory: Path) -> Path:
    """A LoRA adapter of the shipped captioner on its vision tower only (random, strong)."""
    base = BlipForConditionalGeneration.from_pretrained(MODELS_DIR / "blip-captioner")
    with_random_vision_lora(base).save_pretrained(str(directory))
    return directory


async def test_an_adapter_on_the_vision_tower_applies_where_the_tower_runs(tmp_path: Path) -> None:
    # Where the tower runs for another process (for a decode process, here; in an encoder
    # process), a call's adapter with LoRA layers in it must still apply.
    adapters = {"vision": str(_vision_adapter(tmp_path / "vision"))}
    images = _images()[:4]
    captions: dict[str, dict[str, list[str]]] = {}
    modes: dict[str, dict[str, Any]] = {
        "one process": {},
        "encoder process": {"encoder_processes": 1},
        "decode process": {"decode_process": True},
    }
    for mode, settings in modes.items():
        captions[mode] = {}
        async with _serving(adapters=adapters, **settings) as (runtime, stub):
            for adapter in ("", "vision"):
                replies = await asyncio.gather(
                    *(
                        stub.Caption(
                            pb.CaptionRequest(images=[image], decoding=DECODINGS["greedy"], adapter=adapter)
                        )
                        for image in images
                    )
                )
                captions[mode][adapter] = [reply.captions[0].text for reply in replies]
            assert runtime.engine.vision_adapters == {"vision"}
    base = captions["one process"]
    assert base["vision"] != base[""], "the adapter did not change the captions"
    assert captions["encoder process"] == base
    assert captions["decode process"] == base


async def test_a_killed_decode_process_fails_its_calls_unavailable_and_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = pb.CaptionRequest(images=_images()[:1], decoding=DECODINGS["greedy"])
    async with _serving(decode_process=True) as (runtime, stub):
        assert runtime.decoder is not None
        before = (await stub.Caption(request)).captions[0].text
        killed = runtime.decoder.pid
        assert killed is not None
        # Stopped, the child holds the next call's batch: the kill then lands mid-call.
        os.kill(killed, signal.SIGSTOP)
        call = asyncio.ensure_future(stub.Caption(request))
        await asyncio.sleep(0.5)
        assert not call.done()
        os.kill(killed, signal.SIGKILL)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "retry" in (caught.value.details() or "")
        after = (await stub.Caption(request)).captions[0].text  # a new child, loaded for this call
        assert runtime.decoder.pid not in (None, killed)
    assert after == before
    # A lost child is logged as a warning (and answered UNAVAILABLE), not as a server fault.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("decode process died" in r.getMessage() for r in caplog.records)


def test_a_decode_process_is_for_the_cpu_and_instead_of_encoder_processes() -> None:
    with pytest.raises(ValidationError, match="decode_process is for device cpu"):
        CaptionerSettings(device="cuda", decode_process=True)
    with pytest.raises(ValidationError, match="decode_process or encoder_processes"):
        CaptionerSettings(decode_process=True, encoder_processes=1)


class _Caller:
    """A streaming row of a decode, as the batcher's ``WorkItem`` is; with
    ``leaves`` its caller leaves once its first token arrives."""

    streaming = True

    def __init__(self, leaves: bool) -> None:
        self.leaves = leaves
        self.tokens: list[TokenEvent] = []
        self.left = False

    @property
    def cancelled(self) -> bool:
        return self.left

    def emit(self, event: TokenEvent) -> None:
        self.tokens.append(event)
        self.left = self.leaves


def test_a_row_whose_caller_left_stops_decoding_in_the_decode_process() -> None:
    decoder = DecodeProcess(EngineConfig(caption_model=str(MODELS_DIR / "blip-captioner"), cpu_threads=1))
    decoder.start()
    try:
        image = render_varied(sample_scene(split_seeds("test", 1)[0]))
        jobs = [CaptionJob(image, seed=0), CaptionJob(image, seed=0)]
        forced = DecodeOptions(min_new_tokens=30, max_new_tokens=30)
        leaving, staying = _Caller(leaves=True), _Caller(leaves=False)
        pid = decoder.pid
        results = decoder.caption(forced, jobs, [leaving, staying])
        assert results[0] is None  # its caller left
        assert results[1] is not None and len(results[1].token_ids) == 30
        assert len(staying.tokens) == 30
        # The child heard of it within a few tokens, not at the end of the decode.
        assert 1 <= len(leaving.tokens) < 20, len(leaving.tokens)
        # The same child serves the next batch: the first one ended cleanly.
        again = decoder.caption(DecodeOptions(max_new_tokens=8), jobs[:1], [_Caller(leaves=False)])
        assert again[0] is not None and again[0].text
        assert decoder.pid == pid
    finally:
        decoder.close()
    assert decoder.pid is None


class _Joiner(_Caller):
    """A unary call waiting to join, as the batcher's inbox hands it over."""

    streaming = False

    def __init__(self, job: CaptionJob) -> None:
        super().__init__(leaves=False)
        self.payload = job


class _OneJoiner:
    """An inbox holding one call that may join at once."""

    def __init__(self, joiner: _Joiner) -> None:
        self.waiting = [joiner]

    def joinable(self, active: int) -> int:
        return len(self.waiting)

    def take(self, active: int) -> list[_Joiner]:
        taken, self.waiting = self.waiting, []
        return taken


def _result(text: str) -> CaptionResult:
    return CaptionResult(text, (5,), Finish.END_OF_SEQUENCE, -0.1, 0.0, 0.0)


def test_a_join_that_crosses_the_end_of_a_decode_is_decoded_not_lost() -> None:
    """The front's half of the handshake, against a scripted child: the child
    says it is idle before it has seen the join on its way, so the batch must
    not end until the child has decoded that join too."""
    front, child = multiprocessing.Pipe()
    image = render_varied(sample_scene(1))
    joiner = _Joiner(CaptionJob(image, seed=1))
    finished: list[tuple[object, str]] = []
    relay = _Relay(
        front,
        [_Caller(leaves=False)],
        _OneJoiner(joiner),
        lambda row, r: finished.append((row, r.text)),
        None,
    )
    outcome: list[list[CaptionResult | None]] = []
    thread = threading.Thread(
        target=lambda: outcome.append(relay.run(DecodeOptions(), [CaptionJob(image, seed=0)]))
    )
    thread.start()
    try:
        assert child.recv()[0] == "batch"
        kind, jobs, streaming = child.recv()  # the relay hands the waiting call over at once
        assert (kind, len(jobs), streaming) == ("join", 1, [False])
        # The child ended its first row and says idle having received no join (they crossed).
        child.send(("finish", 0, _result("first")))
        child.send(("results", [0], [_result("first")]))
        child.send(("idle", 0))
        assert not child.poll(0.3), "the relay ended the batch with a join still on its way"
        # The child then decodes the join and is idle again, having received it.
        child.send(("finish", 1, _result("joined")))
        child.send(("results", [1], [_result("joined")]))
        child.send(("idle", 1))
        assert child.recv() == ("end",)
    finally:
        thread.join(timeout=10)
    assert outcome == [[_result("first")]]
    assert [text for _, text in finished] == ["first", "joined"]
    assert finished[1][0] is joiner  # the joined call was answered through on_finish


@pytest.mark.parametrize(
    "env",
    [{"CAPTIONER_ENCODER_PROCESSES": "1"}, {"CAPTIONER_DECODE_PROCESS": "true"}],
    ids=["encoder processes", "decode process"],
)
def test_processes_of_their_own_end_with_a_killed_server(env: dict[str, str], tmp_path: Path) -> None:
    server = spawn("captioner_svc", "CAPTIONER", tmp_path, {**env, "CAPTIONER_RETRIEVAL_MODEL": ""})
    try:
        # The model processes (multiprocessing's resource tracker is its own matter).
        workers = [pid for pid in children_of(server.popen.pid) if "spawn_main" in _cmdline(pid)]
        assert workers, "the server started no process of its own"
    finally:
        server.kill()  # SIGKILL: the server cannot stop them itself
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "a model process outlived its server"


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""
