"""SIGTERM on a real server process: health flips to NOT_SERVING, the call in
flight finishes, new calls are refused and the process exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from tests.conftest import health_status, wait_serving

REPO_ROOT = Path(__file__).resolve().parent.parent


async def test_sigterm_lets_the_in_flight_call_finish() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "1.5"],
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
            await asyncio.sleep(0.3)  # the call is computing (1.5 s)
            os.kill(process.pid, signal.SIGTERM)
            await asyncio.sleep(0.1)
            # During the drain delay health already says NOT_SERVING.
            assert await health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
            response = await in_flight
            assert response.captions[0].text == "3 bytes"
        async with grpc.aio.insecure_channel(address) as late:
            try:
                await captioner_pb2_grpc.CaptionerServiceStub(late).Caption(request, timeout=2)
                raise AssertionError("a call after the drain was served")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
        assert await asyncio.to_thread(process.wait, 20) == 0
        _, stderr = process.communicate(timeout=5)
        assert '"message": "draining"' in stderr and '"message": "stopped"' in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_signal_while_exiting_does_not_kill_the_drained_process(tmp_path: Path) -> None:
    # `make run`: the terminal's SIGINT reaches every server, then the launcher sends SIGTERM.
    env = {**os.environ, "GATEWAY_PORT": "0", "GATEWAY_METRICS_PORT": "0", "GATEWAY_DATA_DIR": str(tmp_path)}
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
