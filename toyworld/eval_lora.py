"""Evaluates the generator's shipped style LoRAs on held-out test-split prompts.

For each adapter under ``models_dir`` it loads the base pipeline as the
generator does, generates the test prompts with the adapter on (its defaults
from ``imaging_defaults.json``) and reads the style back by pixel statistics
(``toyworld.outline_style.is_outlined``); then the same prompts and seeds with
the adapter disabled, which must be outlined almost never and identical to
the base pipeline without the adapter loaded at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from toyworld import eval_flux1, flux2_common
from toyworld.flux1_common import read_colour_and_side
from toyworld.outline_style import is_outlined, render_outlined
from toyworld.report import EvalRow
from toyworld.world import Scene, caption_en, sample_scene, split_seeds

ADAPTERS = {"flux1-schnell-lora-outline": "flux1-schnell", "flux2-klein-lora-outline": "flux2-klein"}
STYLE_BAR = 0.90
BASE_STYLE_CEILING = 0.05  # reported: the base without the adapter should almost never draw outlines
CAP = 300  # prompts per adapter at most (the model cards use as many)


def _generate(pipe: Any, base: str, prompts: list[str], defaults: dict[str, Any]) -> list[np.ndarray]:
    if base == "flux1-schnell":
        steps, cfg = int(defaults["num_inference_steps"]), float(defaults["true_cfg_scale"])
        return eval_flux1.generate(pipe, prompts, steps, cfg, defaults)
    images = pipe(
        prompt=prompts,
        **flux2_common.call_kwargs(defaults),
        generator=[torch.Generator().manual_seed(i) for i in range(len(prompts))],
        output_type="np",
    ).images
    return [(np.asarray(image) * 255).round().astype(np.uint8) for image in images]


def _outlined(images: list[np.ndarray]) -> float:
    return sum(is_outlined(Image.fromarray(image)) for image in images) / max(len(images), 1)


def _colour_kept(images: list[np.ndarray], scenes: list[Scene]) -> tuple[float, int]:
    """Share of the single-object scenes whose image reads as the prompt's colour."""
    single = [(image, scene) for image, scene in zip(images, scenes, strict=True) if len(scene.objects) == 1]
    kept = sum(read_colour_and_side(image)[0] == scene.objects[0].colour for image, scene in single)
    return kept / max(len(single), 1), len(single)


def _targets(count: int) -> list[np.ndarray]:
    """The outlined renders of ``count`` test scenes: what a perfect adapter would draw."""
    return [np.asarray(render_outlined(sample_scene(seed))) for seed in split_seeds("test", count)]


@torch.no_grad()
def _vae_ceiling(pipe: Any, count: int) -> float:
    """How many outlined test scenes are still read as outlined after one pass
    through the base's VAE (encode, decode): no adapter on the transformer can
    do better than the VAE it decodes with."""
    pixels = torch.stack([torch.from_numpy(target.copy()).permute(2, 0, 1) for target in _targets(count)])
    vae = pipe.vae
    decoded = vae.decode(vae.encode(pixels.float() / 127.5 - 1).latent_dist.mode()).sample
    images = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return _outlined(list(images))


@torch.no_grad()
def rows(models_dir: Path, count: int, only: set[str] | None = None) -> list[EvalRow]:
    """The adapters' style rate, and the base's, on ``min(count, CAP)`` test prompts each;
    only the adapters named in ``only`` when it is given."""
    import diffusers

    torch.set_num_threads(1)
    n = min(count, CAP)
    scenes = [sample_scene(seed) for seed in split_seeds("test", n)]
    prompts = [caption_en(scene) for scene in scenes]
    out: list[EvalRow] = []
    for adapter, base in ADAPTERS.items():
        adapter_dir = models_dir / adapter
        if only is not None and adapter not in only:
            continue
        if not (adapter_dir / "pytorch_lora_weights.safetensors").exists():
            continue
        pipeline = "FluxPipeline" if base == "flux1-schnell" else "Flux2KleinPipeline"
        pipe = getattr(diffusers, pipeline).from_pretrained(models_dir / base)
        pipe.set_progress_bar_config(disable=True)
        defaults = dict(flux2_common.read_defaults(models_dir / base))
        plain = _generate(pipe, base, prompts, defaults)
        pipe.load_lora_weights(adapter_dir, adapter_name="style")
        styled = _generate(pipe, base, prompts, defaults)
        pipe.disable_lora()
        disabled = _generate(pipe, base, prompts, defaults)
        same = sum(np.array_equal(a, b) for a, b in zip(plain, disabled, strict=True)) / n
        colour, singles = _colour_kept(styled, scenes)
        out += [
            EvalRow(adapter, "outlined (adapter on)", _outlined(styled), STYLE_BAR, n),
            EvalRow(adapter, "single objects in the prompt's colour (adapter on)", colour, None, singles),
            EvalRow(adapter, "the style targets themselves", _outlined(_targets(n)), None, n),
            EvalRow(
                adapter, "ceiling: training targets through the base's VAE", _vae_ceiling(pipe, n), None, n
            ),
            EvalRow(adapter, "outlined (base, adapter off)", _outlined(disabled), None, n),
            EvalRow(adapter, "base images unchanged with adapter off", same, 1.0, n),
        ]
    return out
