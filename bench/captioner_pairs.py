"""Interleaved A/B of captioner servers, one at a time, with where the CPU went.

``python -m bench.captioner_pairs [--model shipped|blip-base] [--inputs png|jpeg] [--files N]
[--concurrency C] [--servers one,decode,one,decode] [--loop]``

This VM's speed moves by up to 30% within minutes, so a comparison of two
server configurations runs them in turns (``--servers`` lists the order):
each row is one server process started, measured in closed loop over every
file, and stopped. Beside its images/s it reports the CPU each process of the
server used (``/proc``: the server, then its children), the client's (this
process), and the machine's idle share, which tell a server that waits on
its interpreter lock (one process near 100%, the machine idle) from one that
is short of cores. ``--loop`` first runs the in-process batched loop of
``bench.captioner_bench`` as the baseline. The servers inherit the
environment, as in that bench: ``CAPTIONER_CPU_THREADS=1`` is the README's
setting. Servers: ``one`` (one process), ``decode`` (``CAPTIONER_DECODE_PROCESS``),
each with ``:N`` for ``CAPTIONER_CPU_THREADS=N`` (``one:2,decode:1``).
``--model blip-base`` measures BLIP-base's shape (random weights) on 384x384
PNGs, 20 tokens each, as ``bench.captioner_bench --model blip-base`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.captioner_bench import REPO, Inputs, closed_loop, inprocess, photo_inputs, png_inputs, start_server
from bench.checkpoints import save_blip_base_shaped
from bench.procfs import children_of, cpu_seconds
from imaging.captioner.v1 import captioner_pb2 as pb


def _idle_and_total() -> tuple[int, int]:
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["shipped", "blip-base"], default="shipped")
    parser.add_argument(
        "--inputs", choices=["png", "jpeg"], default="png", help="64x64 PNGs or 640x480 JPEGs"
    )
    parser.add_argument("--files", type=int, default=1536)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--servers", default="one,decode,one,decode")
    parser.add_argument("--loop", action="store_true", help="the in-process batched loop first")
    args = parser.parse_args()
    if args.model == "blip-base":
        with tempfile.TemporaryDirectory() as tmp:
            model = str(save_blip_base_shaped(Path(tmp) / "blip-base"))
            inputs = png_inputs(args.files, 384)
            _compare(args, model, inputs, {"max_new_tokens": 20, "min_new_tokens": 20})
        return
    inputs = png_inputs(args.files, 64) if args.inputs == "png" else photo_inputs(args.files, 640, 480)
    _compare(args, str(REPO / "models" / "blip-captioner"), inputs, {"max_new_tokens": 20})


def _compare(args: argparse.Namespace, model: str, inputs: Inputs, tokens: dict[str, int]) -> None:
    decoding = pb.DecodingOptions(
        max_new_tokens=tokens["max_new_tokens"], min_new_tokens=tokens.get("min_new_tokens", 0)
    )
    if args.loop:
        row = inprocess(model, inputs, [args.concurrency], tokens)[0]
        print(f"in-process loop, batch {args.concurrency}: {row.images_per_s:.1f} img/s", flush=True)
    inherited = os.environ.get("CAPTIONER_CPU_THREADS")  # for servers without ``:N``
    for name in args.servers.split(","):
        kind, _, threads = name.partition(":")
        if kind not in ("one", "decode") or (threads and not threads.isdigit()):
            raise SystemExit(f"--servers: unknown server {name!r} (one, decode, with :THREADS or not)")
        chosen = threads or inherited
        if chosen is None:
            os.environ.pop("CAPTIONER_CPU_THREADS", None)
        else:
            os.environ["CAPTIONER_CPU_THREADS"] = chosen
        process, address = start_server(model, args.concurrency, decode_process=kind == "decode")
        try:
            pids = [process.pid, *sorted(children_of(process.pid))]
            before = {pid: cpu_seconds(pid) for pid in (*pids, os.getpid())}
            idle_before, total_before = _idle_and_total()
            started = time.perf_counter()
            row, _ = asyncio.run(closed_loop(address, inputs, args.concurrency, decoding))
            elapsed = time.perf_counter() - started
            idle_after, total_after = _idle_and_total()
            used = {pid: (cpu_seconds(pid) - before[pid]) / elapsed for pid in before}
        finally:
            process.terminate()
            process.wait()
        server = " + ".join(f"{used[pid]:.0%}" for pid in pids if used[pid] >= 0.01)
        idle = (idle_after - idle_before) / max(1, total_after - total_before)
        print(
            f"{name:>6}: {row.images_per_s:7.2f} img/s, p99 {row.p99_ms:.0f} ms; CPU server {server}, "
            f"client {used[os.getpid()]:.0%}, machine idle {idle:.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
