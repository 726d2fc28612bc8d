"""``python -m stack``: starts the captioner, the generator and the gateway as
three processes on their default ports, waits until each says SERVING on
``grpc.health.v1``, prints their addresses, the admin token and a demo API key
(made on first start, when the gateway's store has no key), and on Ctrl-C or
SIGTERM passes SIGTERM on so that each drains.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from captioner_svc.settings import CaptionerSettings
from gateway.settings import GatewaySettings
from generator_svc.settings import GeneratorSettings
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from serving.settings import ServerSettings

STARTUP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class _Server:
    name: str
    module: str
    settings: ServerSettings

    @property
    def grpc_address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def metrics_address(self) -> str:
        return f"{self.settings.metrics_host}:{self.settings.metrics_port}"


def _servers() -> list[_Server]:
    # Each server reads its own CAPTIONER_/GENERATOR_/GATEWAY_ variables; read
    # them here too, only to print the addresses they will bind.
    return [
        _Server("captioner", "captioner_svc", CaptionerSettings()),
        _Server("generator", "generator_svc", GeneratorSettings()),
        _Server("gateway", "gateway", GatewaySettings()),
    ]


def _wait_serving(server: _Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{server.name} exited with code {process.returncode} while starting")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{server.name} did not become SERVING within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.2)


def _demo_key(gateway: _Server, admin_token: str) -> str | None:
    """Creates the demo key when the store has none; returns its secret (shown once)."""
    metadata = (("authorization", f"Bearer {admin_token}"),)
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        listed = admin.ListApiKeys(
            gateway_pb2.ListApiKeysRequest(page_size=1, show_revoked=True), metadata=metadata
        )
        if listed.keys:
            return None
        created = admin.CreateApiKey(gateway_pb2.CreateApiKeyRequest(display_name="demo"), metadata=metadata)
        return created.secret


def main() -> None:
    console = Console(soft_wrap=True)  # keys and commands stay whole for copy and paste
    # The gateway's admin credential: the operator's, or a fresh one for this run.
    admin_token = os.environ.get("GATEWAY_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    environment = {**os.environ, "GATEWAY_ADMIN_TOKEN": admin_token}
    # On a laptop nothing routes around a stopping server: Ctrl-C need not wait for load balancers.
    for prefix in ("CAPTIONER", "GENERATOR", "GATEWAY"):
        environment.setdefault(f"{prefix}_DRAIN_DELAY_S", "0")
    servers = _servers()
    processes = {
        server.name: subprocess.Popen([sys.executable, "-m", server.module], env=environment)
        for server in servers
    }
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for server in servers:
            _wait_serving(server, processes[server.name])
        table = Table(title="imaging servers: SERVING")
        for column in ("server", "gRPC address", "metrics address"):
            table.add_column(column)
        for server in servers:
            table.add_row(server.name, server.grpc_address, f"http://{server.metrics_address}/metrics")
        console.print(table)
        gateway = servers[2]
        console.print(f"admin token (AdminService, this run): [bold]{admin_token}[/bold]")
        secret = _demo_key(gateway, admin_token)
        if secret is not None:
            console.print(f"demo API key (shown once, stored hashed): [bold]{secret}[/bold]")
            console.print(f"try it: [bold]{sys.executable} -m stack.example --key {secret}[/bold]")
            console.print(f"or the CLI: [bold]IMAGING_API_KEY={secret} imaging caption IMAGE[/bold]")
        else:
            console.print(
                "the gateway already has keys; make a new one with AdminService.CreateApiKey and the admin "
                f"token above, e.g. GATEWAY_ADMIN_TOKEN={admin_token} {sys.executable} -m stack.new_key"
            )
        console.print(
            f"Clients call the gateway at [bold]{gateway.grpc_address}[/bold] with "
            "'authorization: Bearer <key>'. Ctrl-C stops all three."
        )
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.2)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {name: p.wait() for name, p in processes.items()}
        console.print(f"stopped: {codes}")


if __name__ == "__main__":
    main()
