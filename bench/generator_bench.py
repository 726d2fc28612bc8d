"""Generator overhead, throughput with and without batching, and cancellation latency.

``python -m bench.generator_bench [--checkpoint DIR] [--calls N] [--threads N]``

In one run, on one FLUX.1 checkpoint (the shipped models/flux1-schnell, else a
tiny random one): the per-call time of ``Generate`` over gRPC against the
same pipeline called in-process with the same variant, size and steps; images
per second at concurrency 1 and 4 with batching on (max_batch_size 4) and off
(max_batch_size 1); and the time from cancelling a long stream to the end of
its pipeline call, read from the server's own step counter. The server runs
in this process on a loopback port. Ratios are against baselines measured in
the same run; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import torch
from rich.console import Console
from rich.table import Table

from generator_svc.server import build_app
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import REPO_ROOT, checkpoint_defaults
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from serving.server import ServingApp

VARIANT = "flux.1-schnell"
PROMPT = "a big red circle on the left"
CANCEL_STEPS = 200


@dataclass
class Row:
    measure: str
    setting: str
    value: str
    note: str = ""


def _variants_file(checkpoint: Path, directory: Path) -> Path:
    path = directory / "variants.yaml"
    path.write_text(
        f"""variants:
  {VARIANT}:
    family: flux.1
    pipeline: FluxPipeline
    checkpoint: {checkpoint}
    description: benchmark
    min_side_px: 64
    max_side_px: 256
    max_megapixels: 0.065536
    max_steps: {CANCEL_STEPS}
    supports_true_cfg: true
    max_reference_images: 1
    supports_mask: true
    max_image_count: 4
    pricing: {{model: flat, per_image_micros: 3000}}
"""
    )
    return path


async def _server(variants: Path, max_batch_size: int) -> ServingApp:
    settings = GeneratorSettings(
        port=0,
        metrics_port=0,
        variants_file=str(variants),
        max_batch_size=max_batch_size,
        max_queue_size=max(32, max_batch_size),
        cpu_threads=torch.get_num_threads(),
    )
    app = build_app(settings)
    await app.start()
    await app.wait_ready()
    return app


def _request(seed: int, steps: int | None = None) -> pb.GenerateRequest:
    spec = pb.GenerationSpec(prompt=PROMPT, variant=VARIANT, seed=seed)
    if steps is not None:
        spec.steps = steps
    return pb.GenerateRequest(spec=spec)


def _in_process(checkpoint: Path, calls: int) -> tuple[list[float], float, float]:
    """The same pipeline call the server makes, timed without the server: seconds per
    call, and images/s one prompt per call and four per call (batching's ceiling)."""
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(checkpoint)
    pipe.set_progress_bar_config(disable=True)
    defaults = checkpoint_defaults(str(checkpoint))
    kwargs = {
        "height": defaults.get("height", 64),
        "width": defaults.get("width", 64),
        "num_inference_steps": defaults.get("num_inference_steps", 4),
        "max_sequence_length": defaults.get("max_sequence_length", 512),
        "negative_prompt": defaults.get("negative_prompt", ""),
        "true_cfg_scale": defaults.get("true_cfg_scale", 1.0),
        "guidance_scale": defaults.get("guidance_scale", 3.5),
    }
    pipe(PROMPT, generator=torch.Generator().manual_seed(0), **kwargs)  # warm-up
    seconds = []
    for seed in range(calls):
        started = time.perf_counter()
        image = pipe(PROMPT, generator=torch.Generator().manual_seed(seed), **kwargs).images[0]
        image.save(Path(tempfile.gettempdir()) / "generator-bench.png")  # the server encodes a PNG too
        seconds.append(time.perf_counter() - started)
    batches = max(1, calls // 4)
    started = time.perf_counter()
    for batch in range(batches):
        generators = [torch.Generator().manual_seed(4 * batch + i) for i in range(4)]
        pipe([PROMPT] * 4, generator=generators, **kwargs)
    batched = 4 * batches / (time.perf_counter() - started)
    return seconds, 1 / statistics.median(seconds), batched


async def _grpc_seconds(stub: generator_pb2_grpc.GeneratorServiceStub, calls: int) -> list[float]:
    await stub.Generate(_request(0))  # warm-up
    seconds = []
    for seed in range(calls):
        started = time.perf_counter()
        await stub.Generate(_request(seed))
        seconds.append(time.perf_counter() - started)
    return seconds


async def _throughput(stub: generator_pb2_grpc.GeneratorServiceStub, calls: int, concurrency: int) -> float:
    await stub.Generate(_request(0))  # warm-up
    seeds = iter(range(calls))

    async def client() -> None:
        for seed in seeds:
            await stub.Generate(_request(seed))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


def _batches(app: ServingApp) -> tuple[float, float]:
    """(items, batches) the server has run so far, from its own batch-size histogram."""
    total = count = 0.0
    for metric in app.registry.collect():
        for sample in metric.samples:
            if sample.name == "imaging_batch_size_sum":
                total += sample.value
            elif sample.name == "imaging_batch_size_count":
                count += sample.value
    return total, count


async def _cancel_latency(
    app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> tuple[float, float]:
    """Cancels a CANCEL_STEPS-step stream after its second step; returns (seconds from
    the cancel to the end of its pipeline call, steps run after the cancel)."""

    def steps() -> float:
        return (
            app.registry.get_sample_value("imaging_generator_denoising_steps_total", {"variant": VARIANT})
            or 0.0
        )

    before = steps()
    call = stub.StreamGenerate(pb.StreamGenerateRequest(spec=_request(1, CANCEL_STEPS).spec))
    async for event in call:
        if event.progress.step == 2:
            cancelled_at = time.perf_counter()
            call.cancel()
            break
    # The step counter moves when the pipeline call returns.
    while steps() == before:
        await asyncio.sleep(0.001)
    return time.perf_counter() - cancelled_at, steps() - before - 2


async def run(checkpoint: Path, calls: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        variants = _variants_file(checkpoint, Path(directory))
        in_process, one_rate, four_rate = _in_process(checkpoint, calls)
        rows.append(
            Row(
                "in-process throughput",
                "1 prompt / 4 prompts per pipeline call",
                f"{one_rate:.2f} / {four_rate:.2f} images/s",
                f"batching's ceiling x{four_rate / one_rate:.2f}",
            )
        )
        for batch in (4, 1):
            app = await _server(variants, batch)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                stub = generator_pb2_grpc.GeneratorServiceStub(channel)
                if batch == 4:
                    served = await _grpc_seconds(stub, calls)
                    base, over = statistics.median(in_process), statistics.median(served)
                    rows += [
                        Row("per-call time", "in-process pipeline", f"{base * 1000:.1f} ms", "median"),
                        Row("per-call time", "Generate over gRPC", f"{over * 1000:.1f} ms", "median"),
                        Row(
                            "overhead",
                            "gRPC - in-process",
                            f"{(over - base) * 1000:+.1f} ms",
                            f"x{over / base:.2f}",
                        ),
                    ]
                for concurrency in (1, 4):
                    before = _batches(app)
                    rate = await _throughput(stub, calls, concurrency)
                    after = _batches(app)
                    mean = (after[0] - before[0]) / max(after[1] - before[1], 1)
                    setting = f"concurrency {concurrency}, max_batch_size {batch}"
                    note = f"{calls} calls; {mean:.2f} images per batch"
                    rows.append(Row("throughput", setting, f"{rate:.2f} images/s", note))
                if batch == 4:
                    latency, extra = await _cancel_latency(app, stub)
                    rows.append(
                        Row(
                            "cancel latency",
                            f"{CANCEL_STEPS}-step stream, cancel after step 2",
                            f"{latency * 1000:.1f} ms",
                            f"{extra:.0f} steps ran after the cancel",
                        )
                    )
            await app.stop(grace_period_s=1, drain_delay_s=0)
    at_four = {
        row.setting: float(row.value.split()[0]) for row in rows if row.setting.startswith("concurrency 4")
    }
    batched, alone = at_four["concurrency 4, max_batch_size 4"], at_four["concurrency 4, max_batch_size 1"]
    rows.append(
        Row(
            "batching",
            "concurrency 4: max_batch_size 4 / 1",
            f"x{batched / alone:.2f}",
            f"{batched / alone / (four_rate / one_rate):.0%} of the in-process ceiling",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="FluxPipeline directory")
    parser.add_argument("--calls", type=int, default=16, help="calls per measurement")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (the machine may be shared)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint
    note = ""
    if checkpoint is None:
        shipped = REPO_ROOT / "models" / "flux1-schnell"
        if (shipped / "model_index.json").is_file():
            checkpoint, note = shipped, "shipped models/flux1-schnell"
        else:
            from tests.flux_checkpoints import save_tiny_flux1

            checkpoint = save_tiny_flux1(Path(tempfile.mkdtemp()))
            note = "tiny random FLUX.1 (no shipped checkpoint)"
    rows = asyncio.run(run(checkpoint, args.calls))
    defaults = checkpoint_defaults(str(checkpoint))
    table = Table(
        title=f"generator: {note or checkpoint}, {defaults.get('width', '?')}x{defaults.get('height', '?')}, "
        f"{defaults.get('num_inference_steps', '?')} steps, {args.threads} CPU thread(s)"
    )
    for column in ("measure", "setting", "value", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.measure, row.setting, row.value, row.note)
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
