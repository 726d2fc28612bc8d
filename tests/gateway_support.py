"""Helpers of the gateway tests: model servers and gateways as real processes
on free loopback ports, fresh PostgreSQL databases, keys and images."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image, ImageDraw

import imaging.errors
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN_TOKEN = "test-admin-token"
ADMIN = (("authorization", f"Bearer {ADMIN_TOKEN}"),)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A server running as its own process."""

    name: str
    port: int
    metrics_port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def spawn(
    module: str, prefix: str, log_dir: Path, env: dict[str, str] | None = None, port: int = 0
) -> Process:
    """Starts ``python -m module`` on free ports and waits until it says SERVING
    on grpc.health.v1 (the overall status; a gateway may still be NOT_SERVING
    for a backend that is down, which is what some tests want)."""
    port = port or free_port()
    metrics_port = free_port()
    full_env = {
        **os.environ,
        f"{prefix}_PORT": str(port),
        f"{prefix}_METRICS_PORT": str(metrics_port),
        f"{prefix}_GRACE_PERIOD_S": "2",
        f"{prefix}_DRAIN_DELAY_S": "0",
        **(env or {}),
    }
    log = log_dir / f"{module}-{port}.log"
    handle = log.open("wb")
    popen = subprocess.Popen(
        [sys.executable, "-m", module], cwd=REPO, env=full_env, stdout=handle, stderr=handle
    )
    process = Process(module, port, metrics_port, popen, log)
    wait_serving(process)
    return process


def wait_serving(process: Process, service: str = "", timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(process.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited while starting:\n{process.log_text()[-3000:]}")
            with contextlib.suppress(grpc.RpcError):
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} not SERVING after {timeout_s} s")
            time.sleep(0.05)


def gateway_env(captioner: str, generator: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "GATEWAY_CAPTIONER_ADDRESS": captioner,
        "GATEWAY_GENERATOR_ADDRESS": generator,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_HEALTH_POLL_S": "0.2",
        **extra,
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    name = f"gw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scene_png(color: str = "red", left: bool = True, size: int = 64) -> bytes:
    """A shipped-world scene: one coloured circle on a light-grey canvas."""
    image = Image.new("RGB", (size, size), (200, 200, 200))
    x = size // 6 if left else size * 4 // 6
    ImageDraw.Draw(image).ellipse((x, size // 3, x + size // 3, size * 2 // 3), fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def create_key(
    channel: grpc.Channel, quota: gateway_pb2.Quota | None = None, **fields: object
) -> tuple[str, str]:
    """Creates a key through AdminService; returns (key id, secret)."""
    request = gateway_pb2.CreateApiKeyRequest(display_name="test", **fields)  # type: ignore[arg-type]
    if quota is not None:
        request.quota.CopyFrom(quota)
    response = gateway_pb2_grpc.AdminServiceStub(channel).CreateApiKey(request, metadata=ADMIN, timeout=10)
    return response.key.key_id, response.secret


def bearer(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def error_of(call: Callable[[], object]) -> imaging.errors.ErrorDetails:
    """Makes the call (reading a stream to its end) and returns its error, which
    must be a client-facing code."""
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    info = imaging.errors.details(caught.value)
    assert info.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), info
    return info
