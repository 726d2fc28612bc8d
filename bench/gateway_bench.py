"""Latency the gateway adds to a call, and billed images per second its ledger sustains.

``python -m bench.gateway_bench [--requests N] [--seconds S]``

1. Added latency. The shipped captioner, a gateway on SQLite (default
   settings, so ``GATEWAY_LEDGER_SYNCHRONOUS=FULL``) in front of it, and a bare
   ``grpc.aio`` pass-through proxy written here (raw bytes, no auth, no
   billing; ``--bare-proxy PORT TARGET`` runs it as its own process). The key
   has a real images quota, so every gateway call reserves and settles. At
   concurrency 1, N unary Caption calls of one 64x64 scene and N StreamCaption
   calls (time to first token, each stream read to its end) go to the three
   targets round-robin, call by call, so machine noise hits all of them alike.
   Afterwards ExportUsage must show one billed image per gateway call: each was
   durable before its response left.
2. Ledger throughput, in process (no gRPC): 64 asyncio tasks each looping
   ``reserve`` + ``settle`` on SQLite (FULL and NORMAL) and PostgreSQL, with
   1 and 16 images per call, over 8 keys and over one hot key. The baseline,
   measured in the same run on the same database and settings, is a bare
   synchronous loop of one conditional quota UPDATE + one INSERT per
   transaction on one connection.

Ratios and differences are against baselines measured in the same run;
nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from gateway.plans import Limits
from gateway.store.database import Engines, migrate, open_engines
from gateway.store.ledger import BilledImage, Claim, Ledger, period_of
from gateway.store.schema import quota_counters, usage_records
from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.gateway_support import (
    ADMIN,
    REPO,
    Process,
    bearer,
    create_key,
    free_port,
    gateway_env,
    postgres_database,
    scene_png,
    spawn,
    wait_serving,
)

CAPTIONER = cap.DESCRIPTOR.services_by_name["CaptionerService"]
WARM_UP = 20
TASKS = 64
LIMITS = Limits(plan="b", images_per_month=10**12)


# -- 1. added latency ---------------------------------------------------------------


async def _bare_proxy(port: int, target: str) -> None:
    """Forwards every CaptionerService method to ``target`` as raw bytes."""
    channel = grpc.aio.insecure_channel(target)

    def unary(call: Any) -> Callable[[bytes, Any], Any]:
        async def handle(request: bytes, context: Any) -> bytes:
            return await call(request, timeout=context.time_remaining())

        return handle

    def stream(call: Any) -> Callable[[bytes, Any], AsyncIterator[bytes]]:
        async def handle(request: bytes, context: Any) -> AsyncIterator[bytes]:
            backend = call(request, timeout=context.time_remaining())
            try:
                async for message in backend:
                    yield message
            finally:
                backend.cancel()

        return handle

    methods: dict[str, grpc.RpcMethodHandler] = {}
    for method in CAPTIONER.methods:
        full = f"/{CAPTIONER.full_name}/{method.name}"
        if method.server_streaming:
            methods[method.name] = grpc.unary_stream_rpc_method_handler(stream(channel.unary_stream(full)))
        else:
            methods[method.name] = grpc.unary_unary_rpc_method_handler(unary(channel.unary_unary(full)))
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(CAPTIONER.full_name, methods)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def _start_bare_proxy(target: str, log_dir: Path) -> Process:
    port = free_port()
    log = log_dir / f"bare-proxy-{port}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(
            [sys.executable, "-m", "bench.gateway_bench", "--bare-proxy", str(port), target],
            cwd=REPO,
            stdout=handle,
            stderr=handle,
        )
    process = Process("bare proxy", port, 0, popen, log)
    try:
        wait_serving(process)
    except BaseException:
        process.kill()
        raise
    return process


def _percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _caption(stub: Any, metadata: tuple[tuple[str, str], ...]) -> float:
    request = cap.CaptionRequest(images=[common_pb2.Image(data=scene_png(), media_type="image/png")])
    start = time.perf_counter()
    stub.Caption(request, metadata=metadata, timeout=60)
    return time.perf_counter() - start


def _first_token(stub: Any, metadata: tuple[tuple[str, str], ...]) -> float:
    request = cap.StreamCaptionRequest(image=common_pb2.Image(data=scene_png(), media_type="image/png"))
    start = time.perf_counter()
    first = None
    # Read each stream to its end: a stream left decoding would delay the next call.
    for message in stub.StreamCaption(request, metadata=metadata, timeout=60):
        if first is None and message.HasField("token"):
            first = time.perf_counter() - start
    assert first is not None, "the stream sent no token"
    return first


def bench_latency(requests: int, console: Console) -> None:
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-bench-")))
        captioner = spawn("captioner_svc", "CAPTIONER", logs)
        stack.callback(captioner.stop)
        proxy = _start_bare_proxy(captioner.address, logs)
        stack.callback(proxy.stop)
        data = logs / "gateway-data"
        env = gateway_env(captioner.address, f"127.0.0.1:{free_port()}", data)  # no generator
        gateway = spawn("gateway", "GATEWAY", logs, env)
        stack.callback(gateway.stop)
        wait_serving(gateway, CAPTIONER.full_name)
        admin = stack.enter_context(grpc.insecure_channel(gateway.address))
        key_id, secret = create_key(admin, gateway_pb2.Quota(plan="bench", images_per_month=10**9))
        targets = []
        for name, process, metadata in (
            ("direct captioner", captioner, ()),
            ("bare grpc.aio proxy", proxy, ()),
            ("gateway (SQLite, FULL)", gateway, bearer(secret)),
        ):
            channel = stack.enter_context(grpc.insecure_channel(process.address))
            targets.append((name, captioner_pb2_grpc.CaptionerServiceStub(channel), metadata))
        table = Table(title=f"latency added at concurrency 1 ({requests} calls each, {os.cpu_count()} cores)")
        for column in ("call", "target", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"):
            table.add_column(column, justify="left" if column in ("call", "target") else "right")
        gateway_calls = 0
        for label, measure in (("Caption (unary)", _caption), ("StreamCaption first token", _first_token)):
            times: dict[str, list[float]] = {name: [] for name, _, _ in targets}
            for i in range(WARM_UP + requests):
                shift = i % len(targets)  # rotate who goes first, too
                for name, stub, metadata in targets[shift:] + targets[:shift]:
                    elapsed = measure(stub, metadata)
                    if i >= WARM_UP:
                        times[name].append(elapsed)
                gateway_calls += 1
            base = times[targets[0][0]]
            for name, samples in times.items():
                added = name != targets[0][0]
                p50, p99 = _percentile_ms(samples, 0.5), _percentile_ms(samples, 0.99)
                d50 = p50 - _percentile_ms(base, 0.5)
                d99 = p99 - _percentile_ms(base, 0.99)
                table.add_row(
                    label,
                    name,
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{d50:+.2f}" if added else "",
                    f"{d99:+.2f}" if added else "",
                )
        console.print(table)
        console.print(
            "target: the gateway adds <= 1 ms at p50 and <= 5 ms at p99, "
            "with the usage record durable before the response"
        )
        export = gateway_pb2_grpc.AdminServiceStub(admin).ExportUsage(
            gateway_pb2.ExportUsageRequest(key_id=key_id), metadata=ADMIN, timeout=60
        )
        billed = sum(1 for _ in export)
        verdict = "OK" if billed == gateway_calls else "MISMATCH"
        console.print(
            f"billed images in ExportUsage: {billed}, gateway calls made: {gateway_calls}: {verdict}"
        )


# -- 2. ledger throughput -------------------------------------------------------------


async def _ledger_run(
    engines: Engines, seconds: float, images: int, keys: int, synchronous: str
) -> tuple[float, float]:
    """Billed images per second of TASKS tasks reserving and settling; and writes per commit."""
    commits: list[int] = []
    ledger = Ledger(
        engines.writer,
        engines.reader,
        observe_commit=lambda s, writes: commits.append(writes),
        sqlite_synchronous=synchronous,
    )
    subjects = [f"key_{uuid.uuid4().hex[:12]}" for _ in range(keys)]
    to_bill = [BilledImage(i, "", 0.004, 0.0, 5, 0, "USD") for i in range(images)]
    billed = 0
    deadline = time.perf_counter() + seconds

    async def worker(subject: str) -> None:
        nonlocal billed
        while time.perf_counter() < deadline:
            claim = Claim(subject, LIMITS, images, 0, call_key=f"call:{uuid.uuid4().hex}")
            reservation = await ledger.reserve(claim, ttl_s=60)
            outcome = await ledger.settle(reservation, claim, "/m", "req", to_bill)
            billed += outcome.images  # after the await: `billed += await ...` would lose updates

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(subjects[t % keys]) for t in range(TASKS)))
    finally:
        ledger.close()
    return billed / (time.perf_counter() - start), sum(commits) / max(len(commits), 1)


def _bare_loop(engines: Engines, seconds: float, images: int) -> float:
    """One conditional UPDATE + one INSERT per transaction, one connection: images per second."""
    period, c = period_of(time.time()), quota_counters.c
    subjects = [f"bare_{uuid.uuid4().hex[:12]}" for _ in range(8)]
    zero = {"images_used": 0, "spend_used_micros": 0, "images_reserved": 0, "spend_reserved_micros": 0}
    with engines.writer.begin() as conn:
        conn.execute(sa.insert(quota_counters), [{"subject": s, "period": period, **zero} for s in subjects])
    calls = 0
    with engines.writer.connect() as conn:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            subject = subjects[calls % len(subjects)]
            rows = [
                {
                    "record_id": uuid.uuid4().hex,
                    "subject": subject,
                    "period": period,
                    "method": "/m",
                    "model": "",
                    "image_index": i,
                    "megapixels": 0.004,
                    "input_megapixels": 0.0,
                    "token_count": 5,
                    "cost_micros": 0,
                    "currency_code": "USD",
                    "request_id": "req",
                    "create_time": time.time(),
                }
                for i in range(images)
            ]
            with conn.begin():
                updated = conn.execute(
                    sa.update(quota_counters)
                    .where(c.subject == subject, c.period == period)
                    .where(c.images_used + c.images_reserved + images <= LIMITS.images_per_month)
                    .values(images_used=c.images_used + images)
                )
                assert updated.rowcount == 1
                conn.execute(sa.insert(usage_records).values(rows))
            calls += 1
        return calls * images / (time.perf_counter() - start)


def bench_ledger(seconds: float, console: Console) -> None:
    table = Table(title=f"ledger throughput, in process ({TASKS} tasks, {seconds:g} s each)")
    for column in ("store", "images/call", "workload", "billed images/s", "writes/commit", "vs bare loop"):
        table.add_column(column, justify="left" if column in ("store", "workload") else "right")
    notes = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ledger-bench-")))
        stores = [
            ("SQLite FULL", f"sqlite:///{tmp / 'full.db'}", "FULL"),
            ("SQLite NORMAL", f"sqlite:///{tmp / 'normal.db'}", "NORMAL"),
        ]
        try:
            stores.append(("PostgreSQL", stack.enter_context(postgres_database()), "FULL"))
        except sa.exc.OperationalError as exc:
            notes.append(f"PostgreSQL skipped: {exc.orig}")
        for name, url, synchronous in stores:
            engines = open_engines(url, sqlite_synchronous=synchronous)
            stack.callback(engines.dispose)
            migrate(engines.writer)
            for images in (1, 16):
                bare = _bare_loop(engines, seconds, images)
                table.add_row(name, str(images), "bare loop, 1 connection", f"{bare:,.0f}", "1", "1.00x")
                for keys in (8, 1):
                    rate, per_commit = asyncio.run(_ledger_run(engines, seconds, images, keys, synchronous))
                    workload = f"Ledger, {keys} keys" if keys > 1 else "Ledger, 1 hot key"
                    table.add_row(
                        name,
                        str(images),
                        workload,
                        f"{rate:,.0f}",
                        f"{per_commit:.1f}",
                        f"{rate / bare:.2f}x",
                    )
            table.add_section()
    console.print(table)
    console.print("target: >= 5,000 billed images/s on SQLite and on PostgreSQL")
    for note in notes:
        console.print(note)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="measured calls per target and RPC")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each ledger measurement")
    parser.add_argument("--bare-proxy", nargs=2, metavar=("PORT", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_proxy:
        asyncio.run(_bare_proxy(int(args.bare_proxy[0]), args.bare_proxy[1]))
        return
    console = Console(width=140)
    bench_latency(args.requests, console)
    bench_ledger(args.seconds, console)


if __name__ == "__main__":
    main()
