"""Captioner throughput, latency, health under load and time to first token.

``python -m bench.captioner_bench [--model shipped|blip-base|both] [--requests N] [--skip-open-loop]
[--device cpu|cuda] [--dtype float32|bfloat16|float16] [--base-levels 1,8] [--base-batch 8]
[--fixed-batches-too] [--base-open-loop] [--decode-process-too]``

For each input kind, in one run: the service over gRPC (a server process of
its own) in closed loop at several concurrencies, against in-process loops
that decode each file, prepare it with ``BlipProcessor`` and call
``generate()`` (one request at a time, and batched at the service's batch
size: the ceiling), run before the servers and again after them, and
compared by their mean (this VM's speed drifts within minutes). Inputs:
64x64 PNGs of the toy world and photo-sized JPEGs (640x480 and 1024x768,
noisy like photos, about 180 KB and 390 KB).
An open-loop run sends Poisson arrivals at 50% and 90% of the measured
closed-loop capacity (unary calls and streams alternating) to a server with
continuous batching and to one with fixed batches, and reports p50/p99
latency and time to first streamed token. While the service is saturated a
prober sends ``grpc.health.v1`` Checks and records their latency. Ratios are
against baselines measured in the same run; nothing here is a test. The
server inherits the environment, so ``CAPTIONER_CPU_THREADS=1 python -m
bench.captioner_bench`` measures it with one torch thread (the README's run).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from rich.console import Console
from rich.table import Table
from transformers import BlipForConditionalGeneration, BlipProcessor

from bench.checkpoints import save_blip_base_shaped
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from toyworld.world import render, sample_scene

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    inputs: str
    mode: str
    concurrency: int
    images_per_s: float
    p50_ms: float
    p99_ms: float
    note: str = ""


@dataclass(frozen=True)
class Inputs:
    """Encoded files of one kind, as a client sends them."""

    name: str
    media_type: str
    files: list[bytes]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def png_inputs(count: int, size: int) -> Inputs:
    files = []
    for i in range(count):
        buffer = io.BytesIO()
        render(sample_scene(i), size).save(buffer, format="PNG")
        files.append(buffer.getvalue())
    return Inputs(f"{size}x{size} PNG", "image/png", files)


def photo_inputs(count: int, width: int, height: int) -> Inputs:
    """Toy scenes at photo size with sensor-like noise, so the JPEGs weigh what photos do."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        scene = np.asarray(render(sample_scene(i), 64).resize((width, height), Image.Resampling.BICUBIC))
        noisy = np.clip(scene + rng.normal(0, 20, scene.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    kb = statistics.mean(len(f) for f in files) / 1024
    return Inputs(f"{width}x{height} JPEG (~{kb:.0f} KB)", "image/jpeg", files)


def inprocess(model_dir: str, inputs: Inputs, batches: list[int], tokens: dict[str, int]) -> list[Row]:
    """decode + BlipProcessor + generate(), one batch after another (what a script does),
    on the server's device and dtype (``CAPTIONER_DEVICE``, ``CAPTIONER_DTYPE``)."""
    device = torch.device(os.environ.get("CAPTIONER_DEVICE", "cpu"))
    dtype = getattr(torch, os.environ.get("CAPTIONER_DTYPE", "float32"))
    processor = BlipProcessor.from_pretrained(model_dir)
    model: Any = BlipForConditionalGeneration.from_pretrained(model_dir, dtype=dtype)
    model = model.to(device).eval()

    def run(files: list[bytes]) -> None:
        images = [Image.open(io.BytesIO(f)).convert("RGB") for f in files]
        pixels = processor(images=images, return_tensors="pt").pixel_values.to(device, dtype)
        model.generate(pixel_values=pixels, **tokens).tolist()  # to the host, as a caller's text needs

    rows = []
    with torch.inference_mode():
        run(inputs.files[:1])  # warm-up
        for batch in batches:
            latencies = []
            started = time.perf_counter()
            for start in range(0, len(inputs.files), batch):
                t0 = time.perf_counter()
                run(inputs.files[start : start + batch])
                latencies.append(time.perf_counter() - t0)
            rate = len(inputs.files) / (time.perf_counter() - started)
            mode = "in-process loop, one at a time" if batch == 1 else f"in-process loop, batch {batch}"
            rows.append(
                Row(inputs.name, mode, batch, rate, _percentile(latencies, 0.5), _percentile(latencies, 0.99))
            )
    return rows


def start_server(
    model_dir: str, batch: int, continuous: bool = True, decode_process: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "CAPTIONER_PORT": str(port),
        "CAPTIONER_METRICS_PORT": str(_free_port()),
        "CAPTIONER_CAPTION_MODEL": model_dir,
        "CAPTIONER_RETRIEVAL_MODEL": "",
        "CAPTIONER_ADAPTERS": "{}",
        "CAPTIONER_MAX_BATCH_SIZE": str(batch),
        "CAPTIONER_MAX_QUEUE_SIZE": "1024",
        "CAPTIONER_CONTINUOUS_BATCHING": "true" if continuous else "false",
        "CAPTIONER_DECODE_PROCESS": "true" if decode_process else "false",
        "CAPTIONER_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "captioner_svc"], cwd=REPO, env=env)
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return process, address
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the captioner did not become SERVING")


def _image(inputs: Inputs, index: int) -> common_pb2.Image:
    return common_pb2.Image(data=inputs.files[index % len(inputs.files)], media_type=inputs.media_type)


async def closed_loop(
    address: str, inputs: Inputs, concurrency: int, decoding: pb.DecodingOptions
) -> tuple[Row, list[float]]:
    """Every file once, from ``concurrency`` callers, with a health prober alongside."""
    latencies: list[float] = []
    health: list[float] = []
    async with (
        grpc.aio.insecure_channel(address) as channel,
        grpc.aio.insecure_channel(address) as probe_channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        prober = health_pb2_grpc.HealthStub(probe_channel)
        await stub.Caption(pb.CaptionRequest(images=[_image(inputs, 0)], decoding=decoding))  # warm-up
        queue = list(range(len(inputs.files)))
        stop = asyncio.Event()

        async def caller() -> None:
            while queue:
                index = queue.pop()
                t0 = time.perf_counter()
                request = pb.CaptionRequest(images=[_image(inputs, index)], decoding=decoding)
                await stub.Caption(request, timeout=600)
                latencies.append(time.perf_counter() - t0)

        async def probe() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                await prober.Check(health_pb2.HealthCheckRequest(), timeout=10)
                health.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)

        probing = asyncio.create_task(probe())
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        stop.set()
        await probing
    rate = len(inputs.files) / elapsed
    row = Row(
        inputs.name,
        "service over gRPC",
        concurrency,
        rate,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.99),
    )
    return row, health


async def open_loop(
    address: str, inputs: Inputs, rate: float, count: int, decoding: pb.DecodingOptions
) -> tuple[list[float], list[float]]:
    """Poisson arrivals at ``rate`` calls/s, unary and streaming alternating:
    latency of every call (to its caption) and each stream's time to first token."""
    latencies: list[float] = []
    first_tokens: list[float] = []
    rng = random.Random(7)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        await stub.Caption(pb.CaptionRequest(images=[_image(inputs, 0)], decoding=decoding))  # warm-up

        async def unary(index: int) -> None:
            t0 = time.perf_counter()
            await stub.Caption(
                pb.CaptionRequest(images=[_image(inputs, index)], decoding=decoding), timeout=600
            )
            latencies.append(time.perf_counter() - t0)

        async def stream(index: int) -> None:
            t0 = time.perf_counter()
            first = None
            request = pb.StreamCaptionRequest(image=_image(inputs, index), decoding=decoding)
            async for message in stub.StreamCaption(request, timeout=600):
                if first is None and message.HasField("token"):
                    first = time.perf_counter() - t0
            latencies.append(time.perf_counter() - t0)
            first_tokens.append(first if first is not None else latencies[-1])

        calls = []
        for index in range(count):
            calls.append(asyncio.create_task((unary if index % 2 else stream)(index)))
            await asyncio.sleep(rng.expovariate(rate))
        await asyncio.gather(*calls)
    return latencies, first_tokens


def _servers(fixed_too: bool, decode_process_too: bool) -> list[tuple[str, bool, bool]]:
    """(name, continuous batching, decode process) of each server to measure, the default first."""
    servers = [("continuous", True, False)]
    if fixed_too:
        servers.append(("fixed batches", False, False))
    if decode_process_too:
        servers.append(("decode process", True, True))
    return servers


def bench_inputs(
    model_dir: str,
    inputs: Inputs,
    levels: list[int],
    batch: int,
    tokens: dict[str, int],
    decoding: pb.DecodingOptions,
    fixed_too: bool = False,
    decode_process_too: bool = False,
) -> tuple[list[Row], list[str]]:
    """Closed-loop rows for one input kind (and, with ``fixed_too``, from a server
    with fixed batches as well; with ``decode_process_too``, from one that decodes
    in a child process), and the findings. The in-process loops run before the
    servers and again after them; ratios are against the mean of the two, as
    this VM's speed drifts over the minutes between."""
    loop_levels = sorted({1, *[min(level, batch * 4) for level in levels if level > 1]})
    before = inprocess(model_dir, inputs, loop_levels, tokens)
    served: list[Row] = []
    findings = []
    for name, continuous, decode_process in _servers(fixed_too, decode_process_too):
        process, address = start_server(model_dir, batch, continuous, decode_process)
        try:
            for level in levels:
                row, health = asyncio.run(closed_loop(address, inputs, level, decoding))
                if name != "continuous":
                    row.mode += f", {name}"
                served.append(row)
                findings.append(
                    f"{inputs.name}, {row.mode}, c={level}: health Check p50 {_percentile(health, 0.5):.1f} "
                    f"ms, p99 {_percentile(health, 0.99):.1f} ms over {len(health)} checks"
                )
        finally:
            process.terminate()
            process.wait(timeout=60)
    after = inprocess(model_dir, inputs, loop_levels, tokens)
    baseline = {
        first.concurrency: (first.images_per_s + again.images_per_s) / 2
        for first, again in zip(before, after, strict=True)
    }
    for first, again in zip(before, after, strict=True):
        first.note, again.note = "baseline (before the servers)", "baseline (after them)"
    for row in served:
        rate = baseline.get(row.concurrency) or baseline[max(baseline)]
        row.note = (
            f"{row.images_per_s / rate:.2f}x the in-process loop at {min(row.concurrency, max(baseline))}"
        )
    return [*before, *after, *served], findings


def bench_open_loop(
    model_dir: str,
    inputs: Inputs,
    capacity: float,
    batch: int,
    count: int,
    decoding: pb.DecodingOptions,
    capacity_at: int = 16,
    decode_process_too: bool = False,
) -> Table:
    table = Table(
        title=f"open loop, Poisson arrivals, {inputs.name}, "
        f"capacity {capacity:.1f} calls/s (closed loop c={capacity_at})"
    )
    for column in (
        "batching",
        "load",
        "calls",
        "latency p50 ms",
        "p99 ms",
        "p99/p50",
        "first token p50 ms",
        "p99 ms",
    ):
        table.add_column(column)
    for name, continuous, decode_process in _servers(True, decode_process_too):
        process, address = start_server(model_dir, batch, continuous, decode_process)
        try:
            for share in (0.5, 0.9):
                latencies, first = asyncio.run(open_loop(address, inputs, share * capacity, count, decoding))
                p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
                table.add_row(
                    name,
                    f"{share:.0%}",
                    str(count),
                    f"{p50:.0f}",
                    f"{p99:.0f}",
                    f"{p99 / p50:.2f}",
                    f"{_percentile(first, 0.5):.0f}",
                    f"{_percentile(first, 0.99):.0f}",
                )
        finally:
            process.terminate()
            process.wait(timeout=60)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["shipped", "blip-base", "both"], default="shipped")
    parser.add_argument(
        "--requests", type=int, default=256, help="files per closed-loop measurement (shipped)"
    )
    parser.add_argument(
        "--base-requests", type=int, default=16, help="files per measurement (BLIP-base shape)"
    )
    parser.add_argument("--open-loop-calls", type=int, default=300)
    parser.add_argument("--skip-open-loop", action="store_true")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="server and in-process loop")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--base-levels", default="1,8", help="concurrencies for the BLIP-base shape")
    parser.add_argument("--base-batch", type=int, default=8, help="server batch size for the BLIP-base shape")
    parser.add_argument(
        "--fixed-batches-too", action="store_true", help="BLIP-base shape: a fixed-batch server as well"
    )
    parser.add_argument(
        "--base-open-loop",
        action="store_true",
        help="BLIP-base shape: the open loop too, at shares of the capacity at the highest level",
    )
    parser.add_argument(
        "--decode-process-too",
        action="store_true",
        help="shipped model: a server that decodes in a child process as well, closed and open loop "
        "(CAPTIONER_DECODE_PROCESS)",
    )
    args = parser.parse_args()
    # The server inherits these; the in-process loops read them too.
    os.environ["CAPTIONER_DEVICE"] = args.device
    os.environ["CAPTIONER_DTYPE"] = args.dtype
    torch.set_num_threads(os.cpu_count() or 1)
    rows: list[Row] = []
    findings: list[str] = []
    tables: list[Table] = []
    if args.model in ("shipped", "both"):
        shipped = str(REPO / "models" / "blip-captioner")
        tokens = {"max_new_tokens": 20}
        decoding = pb.DecodingOptions(max_new_tokens=20)
        photos = photo_inputs(args.requests, 640, 480)
        for inputs, levels in (
            (png_inputs(args.requests, 64), [1, 16, 64]),
            (photos, [1, 16, 64]),
            (photo_inputs(args.requests // 2, 1024, 768), [16]),
        ):
            r, f = bench_inputs(
                shipped, inputs, levels, 16, tokens, decoding, decode_process_too=args.decode_process_too
            )
            rows += r
            findings += f
            if inputs is photos and not args.skip_open_loop:
                capacity = next(
                    x.images_per_s for x in r if x.mode == "service over gRPC" and x.concurrency == 16
                )
                tables.append(
                    bench_open_loop(
                        shipped,
                        inputs,
                        capacity,
                        16,
                        args.open_loop_calls,
                        decoding,
                        decode_process_too=args.decode_process_too,
                    )
                )
    if args.model in ("blip-base", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            base = str(save_blip_base_shaped(Path(tmp) / "blip-base"))
            tokens = {"max_new_tokens": 20, "min_new_tokens": 20}
            decoding = pb.DecodingOptions(max_new_tokens=20, min_new_tokens=20)
            inputs = png_inputs(args.base_requests, 384)
            inputs = Inputs(f"BLIP-base shape, {inputs.name}", inputs.media_type, inputs.files)
            levels = [int(level) for level in args.base_levels.split(",")]
            r, f = bench_inputs(
                base, inputs, levels, args.base_batch, tokens, decoding, args.fixed_batches_too
            )
            rows += r
            findings += f
            if args.base_open_loop:
                top = max(levels)
                served = {x.concurrency: x.images_per_s for x in r if x.mode == "service over gRPC"}
                capacity = served[top]
                tables.append(
                    bench_open_loop(
                        base, inputs, capacity, args.base_batch, args.open_loop_calls, decoding, top
                    )
                )
    where = f"{os.cpu_count()} CPU cores"
    if args.device == "cuda":
        where += f", {torch.cuda.get_device_name()}"
    table = Table(
        title=f"captioner, closed loop ({where}, {args.dtype}, torch {torch.__version__}, "
        "20 new tokens, greedy)"
    )
    for column in ("inputs", "mode", "concurrency", "images/s", "p50 ms", "p99 ms", "ratio"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.inputs,
            row.mode,
            str(row.concurrency),
            f"{row.images_per_s:.2f}",
            f"{row.p50_ms:.0f}",
            f"{row.p99_ms:.0f}",
            row.note,
        )
    console = Console(width=170)
    console.print(table)
    for extra in tables:
        console.print(extra)
    for line in findings:
        console.print(line)


if __name__ == "__main__":
    main()
