"""The captioner's torch threads against throughput and health under load.

``python -m bench.captioner_threads [--threads 0,1] [--runs 2]``

Starts the service once per ``CAPTIONER_CPU_THREADS`` value (0: torch's
default, one per core) and runs the closed loops of ``bench.captioner_bench``
on 64x64 PNGs at c=16 and 640x480 JPEGs at c=16 and c=64, each ``--runs``
times, with a health prober alongside. It shows what the setting is worth on
the machine at hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from rich.console import Console
from rich.table import Table

from bench.captioner_bench import REPO, _percentile, closed_loop, pb, photo_inputs, png_inputs, start_server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", default="0,1", help="comma-separated CAPTIONER_CPU_THREADS values")
    parser.add_argument("--runs", type=int, default=2, help="runs of each closed loop")
    args = parser.parse_args()
    model = str(REPO / "models" / "blip-captioner")
    loads = [(png_inputs(512, 64), 16), (photo_inputs(256, 640, 480), 16), (photo_inputs(256, 640, 480), 64)]
    decoding = pb.DecodingOptions(max_new_tokens=20)
    table = Table(
        title=f"captioner by torch threads ({os.cpu_count()} CPU cores, closed loop, 20 new tokens)"
    )
    for column in (
        "CAPTIONER_CPU_THREADS",
        "inputs",
        "concurrency",
        "images/s per run",
        "health p99 ms per run",
    ):
        table.add_column(column)
    saved = os.environ.get("CAPTIONER_CPU_THREADS")
    try:
        for threads in args.threads.split(","):
            os.environ["CAPTIONER_CPU_THREADS"] = threads  # the server process inherits it
            process, address = start_server(model, 16)
            try:
                for inputs, concurrency in loads:
                    rates, health = [], []
                    for _ in range(args.runs):
                        row, checks = asyncio.run(closed_loop(address, inputs, concurrency, decoding))
                        rates.append(f"{row.images_per_s:.1f}")
                        health.append(f"{_percentile(checks, 0.99):.1f}")
                    table.add_row(
                        threads, inputs.name, str(concurrency), " / ".join(rates), " / ".join(health)
                    )
            finally:
                process.terminate()
                process.wait(timeout=60)
    finally:
        if saved is None:
            os.environ.pop("CAPTIONER_CPU_THREADS", None)
        else:
            os.environ["CAPTIONER_CPU_THREADS"] = saved
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
