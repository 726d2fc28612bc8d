"""Captioner throughput, latency, health under load and time to first token.

``python -m bench.captioner_bench [--model shipped|blip-base|both] [--requests N]``

For each model, in one run: the service over gRPC (a server process of its
own) at concurrency 1, 4 and 16 (8 for the BLIP-base shape); an in-process
baseline that calls ``generate()`` once per request, as a hand-written server
would; and in-process batched ``generate()`` at the service's batch size,
the ceiling. While the service is saturated, a prober sends
``grpc.health.v1`` Checks and records their latency. Time to first streamed
token is compared with an in-process image encode plus one decode step.
Ratios are against baselines measured in the same run; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
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
    model: str
    mode: str
    concurrency: int
    images_per_s: float
    p50_ms: float
    p95_ms: float
    note: str = ""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _inprocess(
    model_dir: str, size: int, tokens: dict[str, int], batch: int, requests: int
) -> tuple[Row, Row, float]:
    """Per-request generate(), batched generate(), and encode + one decode step (seconds)."""
    processor = BlipProcessor.from_pretrained(model_dir)
    model = BlipForConditionalGeneration.from_pretrained(model_dir).eval()
    images = [render(sample_scene(i), size) for i in range(requests)]
    latencies = []
    with torch.inference_mode():
        model.generate(**processor(images=images[0], return_tensors="pt"), **tokens)  # warm-up
        started = time.perf_counter()
        for image in images:
            t0 = time.perf_counter()
            model.generate(**processor(images=image, return_tensors="pt"), **tokens)
            latencies.append(time.perf_counter() - t0)
        per_request = Row(
            "",
            "in-process generate() per request",
            1,
            len(images) / (time.perf_counter() - started),
            _percentile(latencies, 0.5),
            _percentile(latencies, 0.95),
        )
        batch_latencies = []
        started = time.perf_counter()
        done = 0
        while done < requests:
            chunk = images[done : done + batch]
            t0 = time.perf_counter()
            model.generate(**processor(images=chunk, return_tensors="pt"), **tokens)
            batch_latencies.append(time.perf_counter() - t0)
            done += len(chunk)
        batched = Row(
            "",
            f"in-process generate() batch {batch} (ceiling)",
            batch,
            requests / (time.perf_counter() - started),
            _percentile(batch_latencies, 0.5),
            _percentile(batch_latencies, 0.95),
        )
        pixels = processor(images=images[0], return_tensors="pt")["pixel_values"]
        bos = model.config.text_config.bos_token_id
        first_step = []
        for _ in range(5):
            t0 = time.perf_counter()
            embeds = model.vision_model(pixel_values=pixels)[0]
            model.text_decoder(input_ids=torch.tensor([[bos]]), encoder_hidden_states=embeds)
            first_step.append(time.perf_counter() - t0)
    return per_request, batched, statistics.median(first_step)


async def _service(
    address: str, size: int, concurrency: int, requests: int, decoding: pb.DecodingOptions
) -> tuple[Row, list[float]]:
    """``requests`` Caption calls from ``concurrency`` workers, with a health prober alongside."""
    images = [
        common_pb2.Image(data=_png(render(sample_scene(i), size)), media_type="image/png")
        for i in range(requests)
    ]
    latencies: list[float] = []
    health: list[float] = []
    async with (
        grpc.aio.insecure_channel(address) as channel,
        grpc.aio.insecure_channel(address) as probe_channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        prober = health_pb2_grpc.HealthStub(probe_channel)
        await stub.Caption(pb.CaptionRequest(images=[images[0]], decoding=decoding))  # warm-up
        queue = list(images)
        stop = asyncio.Event()

        async def worker() -> None:
            while queue:
                image = queue.pop()
                t0 = time.perf_counter()
                await stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding), timeout=600)
                latencies.append(time.perf_counter() - t0)

        async def probe() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                await prober.Check(health_pb2.HealthCheckRequest(), timeout=10)
                health.append(time.perf_counter() - t0)
                await asyncio.sleep(0.02)

        probing = asyncio.create_task(probe())
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        stop.set()
        await probing
    row = Row(
        "",
        "service over gRPC",
        concurrency,
        requests / elapsed,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.95),
    )
    return row, health


async def _first_token(address: str, size: int, decoding: pb.DecodingOptions, count: int = 5) -> float:
    image = common_pb2.Image(data=_png(render(sample_scene(0), size)), media_type="image/png")
    times = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        for _ in range(count + 1):
            t0 = time.perf_counter()
            first = None
            # Read the whole stream: a call left running would still be decoding
            # when the next one arrives and delay its first token.
            async for message in stub.StreamCaption(pb.StreamCaptionRequest(image=image, decoding=decoding)):
                if first is None and message.HasField("token"):
                    first = time.perf_counter() - t0
            assert first is not None
            times.append(first)
    return statistics.median(times[1:])


def _start_server(model_dir: str, batch: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "CAPTIONER_PORT": str(port),
        "CAPTIONER_METRICS_PORT": str(_free_port()),
        "CAPTIONER_CAPTION_MODEL": model_dir,
        "CAPTIONER_RETRIEVAL_MODEL": "",
        "CAPTIONER_ADAPTERS": "{}",
        "CAPTIONER_MAX_BATCH_SIZE": str(batch),
        "CAPTIONER_MAX_BATCH_DELAY_MS": "5",
        "CAPTIONER_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "captioner_svc"], cwd=REPO, env=env)
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if (
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return process, address
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the captioner did not become SERVING")


def bench_model(
    name: str,
    model_dir: str,
    size: int,
    forced_tokens: int | None,
    levels: list[int],
    batch: int,
    requests: int,
) -> tuple[list[Row], list[str]]:
    tokens = (
        {"max_new_tokens": forced_tokens, "min_new_tokens": forced_tokens}
        if forced_tokens
        else {"max_new_tokens": 30}
    )
    decoding = pb.DecodingOptions(
        max_new_tokens=tokens["max_new_tokens"], min_new_tokens=tokens.get("min_new_tokens", 0)
    )
    per_request, batched, encode_one_step = _inprocess(model_dir, size, tokens, batch, requests)
    process, address = _start_server(model_dir, batch)
    rows = [per_request, batched]
    findings = []
    try:
        for level in levels:
            row, health = asyncio.run(_service(address, size, level, requests, decoding))
            rows.append(row)
            if level == max(levels):
                findings.append(
                    f"{name}: health Check while saturated (c={level}): "
                    f"p50 {_percentile(health, 0.5):.1f} ms, p99 {_percentile(health, 0.99):.1f} ms "
                    f"over {len(health)} checks (target p99 <= 50 ms)"
                )
        ttft = asyncio.run(_first_token(address, size, decoding))
        findings.append(
            f"{name}: time to first streamed token {ttft * 1000:.1f} ms vs in-process encode + one "
            f"decode step {encode_one_step * 1000:.1f} ms = {ttft / encode_one_step:.2f}x (target <= 1.2x)"
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    for row in rows:
        row.model = name
        row.note = (
            f"{row.images_per_s / per_request.images_per_s:.2f}x per-request, "
            f"{row.images_per_s / batched.images_per_s:.2f}x ceiling"
        )
    return rows, findings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["shipped", "blip-base", "both"], default="both")
    parser.add_argument("--requests", type=int, default=64, help="images per measurement (shipped model)")
    parser.add_argument(
        "--base-requests", type=int, default=16, help="images per measurement (BLIP-base shape)"
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rows: list[Row] = []
    findings: list[str] = []
    if args.model in ("shipped", "both"):
        shipped = str(REPO / "models" / "blip-captioner")
        r, f = bench_model("shipped toy BLIP", shipped, 64, None, [1, 4, 16], 16, args.requests)
        rows += r
        findings += f
    if args.model in ("blip-base", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            base = str(save_blip_base_shaped(Path(tmp) / "blip-base"))
            r, f = bench_model("BLIP-base shape, 20 tokens", base, 384, 20, [1, 4, 8], 8, args.base_requests)
            rows += r
            findings += f
    table = Table(title=f"captioner benchmark ({os.cpu_count()} CPU cores, torch {torch.__version__})")
    for column in ("model", "mode", "concurrency", "images/s", "p50 ms", "p95 ms", "ratio"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.model,
            row.mode,
            str(row.concurrency),
            f"{row.images_per_s:.2f}",
            f"{row.p50_ms:.0f}",
            f"{row.p95_ms:.0f}",
            row.note,
        )
    console = Console(width=160)
    console.print(table)
    for line in findings:
        console.print(line)


if __name__ == "__main__":
    main()
