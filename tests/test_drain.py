"""SIGTERM on a real server process: health flips to NOT_SERVING, the call in
flight finishes, new calls are refused and the process exits cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving.settings import ModelServerSettings
from tests.conftest import health_status, wait_serving
from tests.fakes import ByteCountModel, build_fake_app

REPO_ROOT = Path(__file__).resolve().parent.parent


async def test_sigterm_lets_the_in_flight_call_finish() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "3"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        assert line.startswith("PORT="), line
        address = f"127.0.0.1:{int(line.strip().split('=')[1])}"
        async with grpc.aio.insecure_channel(address) as channel:
            await wait_serving(channel)
            stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
            request = pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")])
            in_flight = asyncio.ensure_future(stub.Caption(request, timeout=30))
            await asyncio.sleep(0.3)  # the call is computing (3 s)
            os.kill(process.pid, signal.SIGTERM)
            await asyncio.sleep(0.1)
            # During the drain delay health already says NOT_SERVING.
            assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
            # Past the drain delay (0.5 s), while the call still computes, a new
            # caller is refused with a status clients retry elsewhere. (Once the
            # server itself stops, a call that reaches it at that instant may be
            # cancelled by gRPC's own shutdown: the drain delay exists so that
            # load balancers send none by then.)
            await asyncio.sleep(0.8)
            assert not in_flight.done()
            async with grpc.aio.insecure_channel(address) as late:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await captioner_pb2_grpc.CaptionerServiceStub(late).Caption(request, timeout=2)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            response = await in_flight
            assert response.captions[0].text == "3 bytes"
        assert await asyncio.to_thread(process.wait, 20) == 0
        _, stderr = process.communicate(timeout=5)
        assert '"message": "draining"' in stderr and '"message": "stopped"' in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_signal_while_exiting_does_not_kill_the_drained_process(tmp_path: Path) -> None:
    # `make run`: the terminal's SIGINT reaches every server, then the launcher sends SIGTERM.
    env = {
        **os.environ,
        "GATEWAY_PORT": "0",
        "GATEWAY_METRICS_PORT": "0",
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_DRAIN_DELAY_S": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    try:
        lines: list[str] = []
        for line in process.stderr:
            lines.append(line)
            if '"message": "serving"' in line:
                break
        process.send_signal(signal.SIGINT)
        for line in process.stderr:
            if '"message": "stopped"' in line:
                break
        process.send_signal(signal.SIGTERM)  # the launcher's, arriving while the process exits
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_draining_server_answers_every_call_with_a_status_a_client_retries(
    fake_settings: ModelServerSettings, byte_model: ByteCountModel, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_fake_app(fake_settings, byte_model)
    await app.start()
    await app.wait_ready()
    request = pb.CaptionRequest(images=[common_pb2.Image(data=b"abc")])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        byte_model.gate.clear()
        held = asyncio.ensure_future(stub.Caption(request, timeout=30))
        await asyncio.sleep(0.2)
        stopping = asyncio.ensure_future(app.stop(grace_period_s=1.0, drain_delay_s=0.5))
        await asyncio.sleep(0.1)
        # During the drain delay: NOT_SERVING, yet still serving (load balancers catch up).
        assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        byte_model.gate.set()
        assert (await held).captions[0].text == "3 bytes"
        byte_model.gate.clear()
        still_served = asyncio.ensure_future(stub.Caption(request, timeout=30))
        await asyncio.sleep(0.6)
        # After it: refused with a status clients retry, never CANCELLED.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Caption(request, timeout=5)
        info = imaging.errors.details(refused.value)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        assert info.retry_after_s is not None
        # The grace period ends with the held call still computing: cut, with RetryInfo.
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            await still_served
        info = imaging.errors.details(cut.value)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        assert info.retry_after_s is not None
        byte_model.gate.set()
        await stopping
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]
