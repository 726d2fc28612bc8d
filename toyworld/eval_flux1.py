"""Evaluates the shipped FLUX.1 pipelines on held-out test-split prompts.

``rows(models_dir, count)`` loads each pipeline found under ``models_dir``
(flux1-schnell, flux1-dev) through ``FluxPipeline.from_pretrained`` and
generates 64x64 images for test-split captions. Images are read back by pixel
statistics (dominant object colour nearest the palette, centroid third) and,
when models/blip-captioner is present, by the shipped captioner for the shape.

Bars apply to each model's shipped defaults (imaging_defaults.json); the
other step counts and CFG settings are reported without a bar. To stay within
a few minutes on one thread, at most 300 single-object prompts per figure
(each also read by the captioner) and 50 two-object prompts are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.pipelines.flux.pipeline_flux import FluxPipeline

from toyworld.flux1_common import FLUX1_SIZE_PX, read_colour_and_side, read_defaults, read_shape
from toyworld.report import EvalRow
from toyworld.world import Scene, caption_en, sample_scene, split_seeds

SINGLE_CAP = 300
TWO_CAP = 50
SHAPE_CAP = 300
BATCH = 50
COLOUR_BAR, POSITION_BAR, SHAPE_BAR = 0.90, 0.95, 0.60
# schnell is for 1-4 steps: its bars at 1 and 2 steps, and a higher shape bar at its default.
SCHNELL_FEW_STEP_COLOUR_BARS = {1: 0.90, 2: 0.95}
SCHNELL_SHAPE_BAR = 0.90
SCHNELL_SETTINGS = [(steps, cfg) for cfg in (1.0, 3.0) for steps in (1, 2, 4, 8)]


def test_scenes(count: int, objects: int) -> list[Scene]:
    """Returns the first ``count`` test-split scenes holding ``objects`` objects."""
    found: list[Scene] = []
    for seed in split_seeds("test", 20 * count + 100):
        scene = sample_scene(seed)
        if len(scene.objects) == objects:
            found.append(scene)
            if len(found) == count:
                break
    return found


def generate(
    pipe: FluxPipeline, prompts: list[str], steps: int, cfg: float, defaults: dict[str, Any]
) -> list[np.ndarray]:
    """Returns uint8 HxWx3 images, image i seeded with i so that runs repeat exactly."""
    images: list[np.ndarray] = []
    for start in range(0, len(prompts), BATCH):
        batch = prompts[start : start + BATCH]
        out = pipe(
            batch,
            height=FLUX1_SIZE_PX,
            width=FLUX1_SIZE_PX,
            num_inference_steps=steps,
            max_sequence_length=defaults["max_sequence_length"],
            negative_prompt=[defaults["negative_prompt"]] * len(batch),
            true_cfg_scale=cfg,
            guidance_scale=defaults["guidance_scale"],
            generator=[torch.Generator().manual_seed(start + i) for i in range(len(batch))],
            output_type="np",
        ).images
        images.extend((np.asarray(img) * 255).round().astype(np.uint8) for img in out)
    return images


class ShapeReader:
    """Captions images with the shipped BLIP captioner and reads the shape word."""

    def __init__(self, path: Path) -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.processor = BlipProcessor.from_pretrained(path)
        self.model = BlipForConditionalGeneration.from_pretrained(path).eval()

    @torch.no_grad()
    def captions(self, images: list[np.ndarray]) -> list[str]:
        from PIL import Image

        inputs = self.processor(images=[Image.fromarray(img) for img in images], return_tensors="pt")
        ids = self.model.generate(**inputs, max_new_tokens=20)
        return [text.strip() for text in self.processor.batch_decode(ids, skip_special_tokens=True)]

    def shapes(self, images: list[np.ndarray]) -> list[str | None]:
        return [read_shape(text) for text in self.captions(images)]


def setting_label(pipe: FluxPipeline, defaults: dict[str, Any], steps: int, cfg: float) -> str:
    """Names a sampling setting: true-CFG scale, or the guidance input of a guidance-distilled model."""
    plural = "s" if steps > 1 else ""
    if pipe.transformer.config["guidance_embeds"]:
        return f"{steps} step{plural}, guidance {defaults['guidance_scale']:g}"
    return f"{steps} step{plural}, cfg {cfg:g}"


def single_object_rows(
    model: str,
    pipe: FluxPipeline,
    defaults: dict[str, Any],
    settings: list[tuple[int, float]],
    scenes: list[Scene],
    reader: ShapeReader | None,
) -> list[EvalRow]:
    """Colour, position and (with a captioner) shape rows for each (steps, cfg) setting."""
    rows: list[EvalRow] = []
    prompts = [caption_en(s) for s in scenes]
    default = (defaults["num_inference_steps"], defaults["true_cfg_scale"])
    for steps, cfg in settings:
        images = generate(pipe, prompts, steps, cfg, defaults)
        reads = [read_colour_and_side(img) for img in images]
        colour = np.mean([r[0] == s.objects[0].colour for r, s in zip(reads, scenes, strict=True)])
        side = np.mean([r[1] == s.objects[0].position for r, s in zip(reads, scenes, strict=True)])
        is_default = (steps, cfg) == default
        schnell = model == "flux1-schnell"
        label = setting_label(pipe, defaults, steps, cfg) + (" (default)" if is_default else "")
        colour_bar = COLOUR_BAR if is_default else None
        if schnell and cfg == 1.0:
            colour_bar = SCHNELL_FEW_STEP_COLOUR_BARS.get(steps, colour_bar)
        rows.append(EvalRow(model, f"colour, {label}", float(colour), colour_bar, len(scenes)))
        rows.append(
            EvalRow(
                model, f"position, {label}", float(side), POSITION_BAR if is_default else None, len(scenes)
            )
        )
        if reader is not None:
            shown = scenes[:SHAPE_CAP]
            shapes = reader.shapes(images[: len(shown)])
            shape = np.mean([got == s.objects[0].shape for got, s in zip(shapes, shown, strict=True)])
            shape_bar = (SCHNELL_SHAPE_BAR if schnell else SHAPE_BAR) if is_default else None
            rows.append(EvalRow(model, f"shape, {label}", float(shape), shape_bar, len(shown)))
    return rows


def two_object_rows(
    model: str, pipe: FluxPipeline, defaults: dict[str, Any], scenes: list[Scene]
) -> list[EvalRow]:
    """Both objects' colours read from their own half, at the default setting (reported only)."""
    prompts = [caption_en(s) for s in scenes]
    images = generate(pipe, prompts, defaults["num_inference_steps"], defaults["true_cfg_scale"], defaults)
    half = FLUX1_SIZE_PX // 2
    left_ok, right_ok = [], []
    for image, scene in zip(images, scenes, strict=True):
        left_ok.append(read_colour_and_side(image, slice(0, half))[0] == scene.objects[0].colour)
        right_ok.append(read_colour_and_side(image, slice(half, None))[0] == scene.objects[1].colour)
    label = setting_label(pipe, defaults, defaults["num_inference_steps"], defaults["true_cfg_scale"])
    both = float(np.mean(np.logical_and(left_ok, right_ok)))
    each = float(np.mean(left_ok + right_ok))
    return [
        EvalRow(model, f"two objects: each colour, {label}", each, None, len(scenes)),
        EvalRow(model, f"two objects: both colours, {label}", both, None, len(scenes)),
    ]


def rows(models_dir: Path, count: int) -> list[EvalRow]:
    """Returns the FLUX.1 rows for every pipeline present under ``models_dir``.

    A missing captioner yields a "shape: not measured" row with value 0 and no bar.
    """
    torch.set_num_threads(1)
    singles = test_scenes(min(count, SINGLE_CAP), 1)
    pairs = test_scenes(min(count // 2, TWO_CAP), 2)
    captioner = models_dir / "blip-captioner"
    reader = ShapeReader(captioner) if (captioner / "config.json").exists() else None
    out: list[EvalRow] = []
    for model in ("flux1-schnell", "flux1-dev"):
        path = models_dir / model
        if not (path / "model_index.json").exists():
            continue
        pipe = FluxPipeline.from_pretrained(path)
        pipe.set_progress_bar_config(disable=True)
        defaults = read_defaults(path)
        # The dev model is guidance-distilled: true CFG stays off, its guidance input does the work.
        settings = [(steps, 1.0) for steps in (1, 2, 4, 8)] if model == "flux1-dev" else SCHNELL_SETTINGS
        out.extend(single_object_rows(model, pipe, defaults, settings, singles, reader))
        if reader is None:
            out.append(EvalRow(model, "shape: not measured (no models/blip-captioner)", 0.0, None, 0))
        out.extend(two_object_rows(model, pipe, defaults, pairs))
    return out


def markdown(table: list[EvalRow]) -> str:
    """Returns ``table`` as a Markdown table for the model cards."""
    lines = ["| metric | value | n | bar | pass |", "| --- | --- | --- | --- | --- |"]
    for row in table:
        bar = "-" if row.bar is None else f"{row.bar:.0%}"
        verdict = "-" if row.passed is None else ("yes" if row.passed else "NO")
        lines.append(f"| {row.metric} | {row.value:.1%} | {row.count} | {bar} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m toyworld.eval_flux1 [--count N]``: prints the rows and stores each model's
    Markdown table as runs/MODEL/eval.md, which ``--stage export`` puts into the model card."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--models", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    args = parser.parse_args(argv)
    table = rows(args.models, args.count)
    runs = Path(__file__).resolve().parent.parent / "runs"
    for model in sorted({row.model for row in table}):
        text = markdown([row for row in table if row.model == model])
        print(f"{model}\n{text}")
        (runs / model).mkdir(parents=True, exist_ok=True)
        (runs / model / "eval.md").write_text(text)


if __name__ == "__main__":
    main()
