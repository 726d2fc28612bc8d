"""Retrains one shipped checkpoint: ``python -m toyworld.train MODEL [options]``.

Training is never part of set-up, tests or CI. Each trainer is deterministic
(fixed seeds), checkpoints under ``runs/`` so an interrupted run resumes, and
writes the final model and its model card into ``models/``.
"""

from __future__ import annotations

import importlib
import sys

# Model name -> module whose ``main(model, argv)`` trains it.
TRAINERS = {
    "captioner": "toyworld.train_blip",
    "matcher": "toyworld.train_blip",
    "adapter-fr": "toyworld.train_blip",
    "flux1-schnell": "toyworld.train_flux1",
    "flux1-dev": "toyworld.train_flux1",
    "flux2-klein": "toyworld.train_flux2",
    "flux1-schnell-lora-outline": "toyworld.train_flux_lora",
    "flux2-klein-lora-outline": "toyworld.train_flux_lora",
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in TRAINERS:
        sys.exit(f"usage: python -m toyworld.train {{{','.join(TRAINERS)}}} [options]")
    module = importlib.import_module(TRAINERS[args[0]])
    module.main(args[0], args[1:])


if __name__ == "__main__":
    main()
