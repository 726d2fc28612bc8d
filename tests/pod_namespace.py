"""Runs servers as pods would, inside a network and mount namespace of their
own, and reports what they really do there; tests/test_k8s_pods.py starts it as

    unshare --net --mount --pid --fork --kill-child --mount-proc --map-root-user -- \
        python -m tests.pod_namespace SPEC REPORT

SPEC (JSON) names each pod's command, environment, working directory and log,
the gRPC health checks to wait for (``[port, service]``: SERVING within the
timeout, as a startupProbe waits) and the HTTP paths to fetch (``[port,
path]``); ``hosts`` is written over /etc/hosts (the cluster's DNS names of the
Services). The namespace starts with nothing listening, so every listening
socket in it belongs to a pod: REPORT (JSON) gives each pod's listening TCP
ports, the last health status of each check and each HTTP status and body
start. Every pod is killed before it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_LISTEN = "0A"


def loopback_up() -> None:
    """``ip link set lo up`` (a new network namespace starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def listening_inodes() -> dict[int, int]:
    """Socket inode -> port of every listening TCP socket in this namespace."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == _LISTEN:
                    inodes[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return inodes


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def health(port: int, service: str) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.RpcError as exc:
            return str(exc.code().name)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, pod in spec["pods"].items():
            with open(pod["log"], "wb") as log:
                processes[name] = subprocess.Popen(
                    pod["command"], env=pod["env"], cwd=pod["cwd"], stdout=log, stderr=log
                )
        deadline = time.monotonic() + spec["timeout_s"]
        report: dict[str, Any] = {}
        for name, pod in spec["pods"].items():
            checks: dict[str, str] = {}
            for port, service in pod["grpc"]:
                status = health(port, service)
                while status != "SERVING" and time.monotonic() < deadline:
                    if processes[name].poll() is not None:
                        status = f"exited {processes[name].returncode}"
                        break
                    time.sleep(0.2)
                    status = health(port, service)
                checks[f"{port}/{service}"] = status
            http: dict[str, Any] = {}
            for port, path in pod["http"]:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                        http[f"{port}{path}"] = [response.status, response.read(200).decode(errors="replace")]
                except OSError as exc:
                    http[f"{port}{path}"] = [0, str(exc)]
            report[name] = {"grpc": checks, "http": http}
        listening = listening_inodes()
        for name, process in processes.items():
            owned = socket_inodes(process.pid)
            report[name]["listening"] = sorted({port for inode, port in listening.items() if inode in owned})
            listening = {inode: port for inode, port in listening.items() if inode not in owned}
        report["unowned_listening_ports"] = sorted(set(listening.values()))
        return report
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(30)


def main() -> None:
    spec_path, report_path = sys.argv[1:]
    spec = json.loads(Path(spec_path).read_text())
    loopback_up()
    subprocess.run(["mount", "--bind", spec["hosts"], "/etc/hosts"], check=True)
    Path(report_path).write_text(json.dumps(run(spec), indent=1))


if __name__ == "__main__":
    main()
