"""Widens the FLUX.1 bases' shared VAE to shapes drawn as outlines, without moving its latent space.

The shipped VAE was trained on filled shapes only; it fills in or breaks a
2-pixel outline, so no LoRA on the transformer can produce outlined images
through it (the outline adapter's ceiling was 41%). Real FLUX VAEs are trained
on every kind of image; this stage teaches the toy one outlines too while
keeping what the base transformers rely on:

* the decoder still decodes the *original* encoder's latents of plain scenes
  to those scenes (base text-to-image images are decoded from such latents);
* the encoder still maps plain scenes to the original latents (FLUX.1
  image-to-image encodes a reference with it), within a small penalty;
* outlined scenes (``toyworld.outline_style.render_outlined``) round-trip.

``python -m toyworld.train flux1-schnell --stage widen-vae --vae-minutes 8``
reads ``models/flux1-schnell/vae``, checkpoints under ``runs/flux1-vae-widened``
(``--resume`` continues) and writes the result there; copying it over both
bases' ``vae/`` folders ships it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL

from toyworld.flux1_common import FLUX1_SIZE_PX
from toyworld.outline_style import render_outlined
from toyworld.train_flux1 import MODELS, RUNS, log, lr_at, object_weight, to_unit, weighted_reconstruction
from toyworld.world import render, sample_scene, split_seeds

RUN = RUNS / "flux1-vae-widened"
LATENT_WEIGHT = 4.0  # keeps plain-scene latents where the base transformers learned them
SAVE_SECONDS = 120.0


def _renders(seeds: range) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain and outlined renders of ``seeds`` as two uint8 N x 3 x H x W tensors."""
    plain = np.empty((len(seeds), FLUX1_SIZE_PX, FLUX1_SIZE_PX, 3), dtype=np.uint8)
    outlined = np.empty_like(plain)
    for i, seed in enumerate(seeds):
        scene = sample_scene(seed)
        plain[i] = np.asarray(render(scene, FLUX1_SIZE_PX))
        outlined[i] = np.asarray(render_outlined(scene, FLUX1_SIZE_PX))
    as_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return as_tensor(plain), as_tensor(outlined)


def widen_vae(args: argparse.Namespace) -> None:
    """Fine-tunes a copy of the shipped VAE for ``--vae-minutes`` (in total, across resumes)."""
    torch.manual_seed(3)
    RUN.mkdir(parents=True, exist_ok=True)
    source = MODELS / "flux1-schnell" / "vae"
    teacher = AutoencoderKL.from_pretrained(source).eval().requires_grad_(False)
    info_path = RUN / "info.json"
    if args.resume and info_path.exists():
        vae = AutoencoderKL.from_pretrained(RUN / "vae")
        info = json.loads(info_path.read_text())
        log(f"continuing the widened VAE after {info['steps']} steps")
    else:
        vae = AutoencoderKL.from_pretrained(source)
        info = {"steps": 0, "seconds": 0.0, "source": str(source)}
    plain, outlined = _renders(split_seeds("train", args.scenes))
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    budget = args.vae_minutes * 60.0
    gen = torch.Generator().manual_seed(3 + info["steps"])
    start, last_save = time.monotonic(), time.monotonic()
    half = args.vae_batch // 2

    def save() -> None:
        vae.save_pretrained(RUN / "vae")
        info_path.write_text(json.dumps(info))

    while (spent := info["seconds"] + time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(spent / budget, args.vae_lr, warmup=0.0)
        x_plain = to_unit(plain[torch.randint(0, len(plain), (half,), generator=gen)])
        pick = torch.randint(0, len(outlined), (half,), generator=gen)
        x_outlined = to_unit(outlined[pick])
        # The filled silhouette weighs the hole as much as the stroke: a small
        # triangle's few hole pixels are what the VAE fills in.
        silhouette_weight = object_weight(to_unit(plain[pick]))
        with torch.no_grad():
            fixed = teacher.encode(x_plain).latent_dist.mean
        mean_plain = vae.encode(x_plain).latent_dist.mean
        mean_outlined = vae.encode(x_outlined).latent_dist.mean
        noise = lambda m: m + args.vae_noise * torch.randn(m.shape, generator=gen)  # noqa: E731
        loss = (
            weighted_reconstruction(vae.decode(noise(fixed)).sample, x_plain, object_weight(x_plain))
            + weighted_reconstruction(vae.decode(noise(mean_outlined)).sample, x_outlined, silhouette_weight)
            + LATENT_WEIGHT * (mean_plain - fixed).square().mean()
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        info["steps"] += 1
        if info["steps"] % 25 == 0:
            log(f"widen step {info['steps']} loss {loss.item():.4f} spent {spent:.0f}s")
        if time.monotonic() - last_save > SAVE_SECONDS:
            info["seconds"] = spent
            save()
            start, last_save = time.monotonic(), time.monotonic()
    info["seconds"] = min(budget, info["seconds"] + time.monotonic() - start)
    vae.eval()
    save()
    log(f"widened VAE saved under {RUN / 'vae'} after {info['steps']} steps")


def install(run: Path = RUN) -> None:
    """Copies the widened VAE over both FLUX.1 bases (they share one VAE) and records
    the widening in their ``training_info.json``, which their model cards read."""
    vae = AutoencoderKL.from_pretrained(run / "vae")
    widened = json.loads((run / "info.json").read_text())
    for base in ("flux1-schnell", "flux1-dev"):
        vae.save_pretrained(MODELS / base / "vae")
        info_path = MODELS / base / "training_info.json"
        info = json.loads(info_path.read_text())
        info["vae"].update(widened_steps=widened["steps"], widened_seconds=round(widened["seconds"]))
        info_path.write_text(json.dumps(info, indent=2) + "\n")
    log("widened VAE installed in models/flux1-schnell and models/flux1-dev")
