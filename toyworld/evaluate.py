"""Prints the quality table of the shipped checkpoints on the held-out test split.

``python -m toyworld.evaluate [--count N] [--models DIR] [--only blip,flux1,flux2,lora]``
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from toyworld.report import EvalRow

# Evaluation modules; each exposes ``rows(models_dir, count) -> list[EvalRow]``.
EVALUATORS = {
    "blip": "toyworld.eval_blip",
    "flux1": "toyworld.eval_flux1",
    "flux2": "toyworld.eval_flux2",
    "lora": "toyworld.eval_lora",
}
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def collect(models_dir: Path, count: int, only: list[str]) -> list[EvalRow]:
    """Runs the chosen evaluators over ``count`` test scenes each."""
    rows: list[EvalRow] = []
    for name in only:
        module = importlib.import_module(EVALUATORS[name])
        rows.extend(module.rows(models_dir, count))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="test scenes per figure (default 500)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--only", default=",".join(EVALUATORS), help="comma-separated evaluators")
    args = parser.parse_args(argv)
    rows = collect(args.models, args.count, [n for n in args.only.split(",") if n])
    table = Table(title=f"toyworld checkpoints on the held-out test split ({args.count} scenes)")
    for column in ("model", "scenes", "metric", "value", "bar", "pass"):
        table.add_column(column)
    for row in rows:
        bar = "-" if row.bar is None else f"{row.bar:.0%}"
        verdict = "-" if row.passed is None else ("yes" if row.passed else "NO")
        table.add_row(row.model, row.world or "-", row.metric, f"{row.value:.1%}", bar, verdict)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
