"""Evaluation of the toy FLUX.2 [klein] pipeline on held-out test scenes.

Text-to-image: single-object test scenes, prompt = English caption; the output's dominant
non-background colour (nearest palette entry) and the horizontal third of its centroid are
compared with the caption; two-object scenes (half as many) need each image half to show
its object's colour. One-reference edits: the reference is a single-object test scene on a
varied (world-v2) backdrop, the prompt is the caption of the same shape in another colour;
the output must show the prompt's colour at the reference's position, keep its shape and
area and its background. k-reference edits (k = 2, 3, 4; ``flux2_common.multi_example``):
reference 1 gives the shape, 2 the exact horizontal position, 3 the background, 4 the size
(ref 1 the size when k < 4 and the background when k < 3); the prompt names the colour.

Checks (all pixel statistics, against the palette and the rendered references):

- colour: the palette entry nearest to most foreground pixels (clearly coloured and more
  than 60 RGB from the background plane fitted to the image border);
- position: the horizontal third of the foreground centroid; centre: the centroid's x within
  ``CENTRE_PX`` pixels of the position source reference's;
- shape: the foreground's bounding-box fill (square > 0.9 > circle > 0.64 > triangle) equals
  the shape source's shape; area: foreground area within 35% of the target render's;
- background: for each border side (2 pixels deep) the median colour of the output is within
  ``BACKGROUND_RGB`` (Euclidean RGB distance) of the background source's, all four sides.

The VAE rows encode and decode (posterior mode) 100 test renders: outlined renders
(``outline_style.render_outlined``) must read back as outlined (``is_outlined``), and the
mean absolute error on varied-backdrop references is given as a fraction of 255; the
"ceiling" rows run the edit checks on the true recolour targets after the VAE round trip.
All figures are reported without bars; the VAE's outlined rate bounds the outline LoRA.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import Flux2KleinPipeline
from PIL import Image

from toyworld import flux2_common as common
from toyworld.outline_style import is_outlined, render_outlined
from toyworld.report import EvalRow
from toyworld.world import caption_en, sample_scene, split_seeds

# Test seeds of the edits start past those of text-to-image so the two sets differ.
EDIT_OFFSET = 500_000
TWO_OFFSET = 1_000_000
MULTI_OFFSET = 2_000_000  # k-reference examples at +0, +100k, +200k for k = 2, 3, 4
REF_OFFSET = 3_000_000  # their references: test seeds REF_OFFSET .. REF_OFFSET + REF_SPAN
REF_SPAN = 100_000
VAE_OFFSET = 4_000_000
CENTRE_PX = 6.0
BACKGROUND_RGB = 40.0
AREA_TOLERANCE = 0.35


@dataclass(frozen=True)
class Scores:
    """Hit counts of one evaluation run."""

    t2i_colour: int = 0
    t2i_position: int = 0
    t2i_both: int = 0
    edit_colour: int = 0
    edit_position: int = 0
    edit_both: int = 0
    edit_kept_shape_area: int = 0
    edit_centre: int = 0
    edit_shape: int = 0
    edit_background: int = 0
    edit_all: int = 0
    two_colours: int = 0
    two_count: int = 0


def load(model_dir: Path) -> tuple[Any, dict[str, object]]:
    """Loads the pipeline directory and its call defaults."""
    pipe = Flux2KleinPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe, common.call_kwargs(common.read_defaults(model_dir))


def generate(
    pipe: Any,
    kwargs: dict[str, object],
    prompt: str,
    seed: int,
    reference: Image.Image | list[Image.Image] | None = None,
) -> Image.Image:
    """One 64x64 sample of ``prompt`` (with ``reference`` as the pipeline's ``image``)."""
    generator = torch.Generator().manual_seed(seed)
    images = reference if isinstance(reference, list) else None if reference is None else [reference]
    result = pipe(prompt=prompt, image=images, generator=generator, **kwargs)
    image: Image.Image = result.images[0]
    return image


def edit_case(seed: int) -> tuple[Image.Image, str, str, str]:
    """Returns (reference image, prompt, wanted colour, reference position) of a test edit."""
    example = common.recolour_example(seed)
    reference, target = example.references[0], example.target
    image = example.reference_images()[0]
    return image, caption_en(target), target.objects[0].colour, reference.objects[0].position


def multi_case(k: int, seed: int) -> common.EditExample:
    """The k-reference test edit of ``seed`` (references from test seeds only)."""
    start = split_seeds("test", REF_SPAN, REF_OFFSET).start
    return common.multi_example(seed, common.multi_reference_seeds(seed, k, start, REF_SPAN))


@dataclass(frozen=True)
class EditChecks:
    """The per-attribute verdicts of one edit output."""

    colour: bool
    position: bool
    centre: bool
    shape: bool
    area: bool
    background: bool

    @property
    def all(self) -> bool:
        return self.colour and self.centre and self.shape and self.area and self.background


def _centre_x(image: Image.Image) -> float | None:
    mask = common.foreground_mask(np.asarray(image.convert("RGB")))
    return float(np.nonzero(mask)[1].mean()) if mask.sum() >= 8 else None


def check_edit(example: common.EditExample, output: Image.Image) -> EditChecks:
    """Compares an edit output with what ``example`` asks of it (see the module docstring)."""
    k = len(example.references)
    refs = example.reference_images()
    truth = example.target_image()
    obj = example.target.objects[0]
    position_ref = refs[1] if k >= 2 else refs[0]
    background_ref = refs[2] if k >= 3 else refs[0]
    out_x, ref_x = _centre_x(output), _centre_x(position_ref)
    out_mask = common.foreground_mask(np.asarray(output.convert("RGB")))
    true_area = int(common.foreground_mask(np.asarray(truth)).sum())
    sides = np.linalg.norm(common.border_sides(output) - common.border_sides(background_ref), axis=1)
    return EditChecks(
        colour=common.dominant_colour(output) == obj.colour,
        position=common.centroid_position(output) == obj.position,
        centre=out_x is not None and ref_x is not None and abs(out_x - ref_x) <= CENTRE_PX,
        shape=common.shape_of(out_mask) == obj.shape,
        area=true_area > 0 and abs(int(out_mask.sum()) - true_area) <= AREA_TOLERANCE * true_area,
        background=bool(sides.max() <= BACKGROUND_RGB),
    )


def score(pipe: Any, kwargs: dict[str, object], count: int) -> Scores:
    """Runs ``count`` text-to-image and ``count`` edit cases on test seeds."""
    hits = dict.fromkeys(Scores.__dataclass_fields__, 0)
    for seed in split_seeds("test", count):
        scene = sample_scene(seed, two_object_fraction=0.0)
        obj = scene.objects[0]
        image = generate(pipe, kwargs, caption_en(scene), seed)
        colour_ok = common.dominant_colour(image) == obj.colour
        position_ok = common.centroid_position(image) == obj.position
        hits["t2i_colour"] += colour_ok
        hits["t2i_position"] += position_ok
        hits["t2i_both"] += colour_ok and position_ok
    # Two-object prompts on half as many scenes: each half of the image must show its colour.
    for seed in split_seeds("test", max(1, count // 2), TWO_OFFSET):
        scene = sample_scene(seed, two_object_fraction=1.0)
        image = generate(pipe, kwargs, caption_en(scene), seed)
        half = common.IMAGE_SIZE // 2
        left = common.dominant_colour(image.crop((0, 0, half, common.IMAGE_SIZE)))
        right = common.dominant_colour(image.crop((half, 0, common.IMAGE_SIZE, common.IMAGE_SIZE)))
        hits["two_colours"] += (left, right) == (scene.objects[0].colour, scene.objects[1].colour)
        hits["two_count"] += 1
    for seed in split_seeds("test", count, EDIT_OFFSET):
        example = common.recolour_example(seed)
        reference = example.reference_images()[0]
        image = generate(pipe, kwargs, caption_en(example.target), seed, reference)
        checks = check_edit(example, image)
        hits["edit_colour"] += checks.colour
        hits["edit_position"] += checks.position
        hits["edit_both"] += checks.colour and checks.position
        hits["edit_kept_shape_area"] += _similar_area(reference, image)
        hits["edit_centre"] += checks.centre
        hits["edit_shape"] += checks.shape
        hits["edit_background"] += checks.background
        hits["edit_all"] += checks.all
    return Scores(**hits)


def score_multi(pipe: Any, kwargs: dict[str, object], k: int, count: int) -> dict[str, int]:
    """Runs ``count`` k-reference edits on test seeds; returns hit counts per check."""
    hits = dict.fromkeys(("colour", "centre", "shape", "area", "background", "all"), 0)
    j = common.MULTI_REFERENCE_COUNTS.index(k)
    for seed in split_seeds("test", count, MULTI_OFFSET + j * 100_000):
        example = multi_case(k, seed)
        image = generate(pipe, kwargs, caption_en(example.target), seed, example.reference_images())
        checks = check_edit(example, image)
        for key in hits:
            hits[key] += getattr(checks, key)
    return hits


def _rate(checks: list[EditChecks], key: str) -> float:
    return sum(bool(getattr(c, key)) for c in checks) / len(checks)


@torch.no_grad()
def vae_rows(name: str, vae: Any, count: int) -> list[EvalRow]:
    """Outlined-render reconstruction rate and mean abs error on varied backdrops."""

    def roundtrip(images: list[Image.Image]) -> list[Image.Image]:
        x = torch.stack([common.to_tensor(image) for image in images])
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample
        arrays = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        return [Image.fromarray(a, "RGB") for a in arrays]

    seeds = split_seeds("test", count, VAE_OFFSET)
    outlined = [render_outlined(common.t2i_scene(s), common.IMAGE_SIZE) for s in seeds]
    decoded = roundtrip(outlined)
    rate = sum(is_outlined(d) for d in decoded) / count
    inputs = sum(is_outlined(o) for o in outlined) / count
    varied = [common.render_on(*common.reference_scene(s)) for s in seeds]
    errors = [
        np.abs(np.asarray(d, dtype=np.float32) - np.asarray(v, dtype=np.float32)).mean() / 255
        for d, v in zip(roundtrip(varied), varied, strict=True)
    ]
    # The ceiling of the edit checks: true recolour targets through the VAE.
    examples = [common.recolour_example(s) for s in split_seeds("test", count, EDIT_OFFSET)]
    decoded_targets = roundtrip([e.target_image() for e in examples])
    ceiling = [check_edit(e, d) for e, d in zip(examples, decoded_targets, strict=True)]
    return [
        EvalRow(name, "VAE: outlined renders read back as outlined", rate, None, count),
        EvalRow(name, "VAE: outlined renders themselves read as outlined", inputs, None, count),
        EvalRow(name, "VAE: mean abs error, varied backdrops (of 255)", float(np.mean(errors)), None, count),
        EvalRow(name, "VAE ceiling: recolour targets, shape kept", _rate(ceiling, "shape"), None, count),
        EvalRow(
            name, "VAE ceiling: recolour targets, background kept", _rate(ceiling, "background"), None, count
        ),
        EvalRow(name, "VAE ceiling: recolour targets, all five checks", _rate(ceiling, "all"), None, count),
    ]


def _similar_area(reference: Image.Image, output: Image.Image) -> bool:
    """True when the output's coloured area is within 35% of the reference's (shape and size kept)."""
    ref = common.foreground_mask(np.asarray(reference.convert("RGB"))).sum()
    out = common.foreground_mask(np.asarray(output.convert("RGB"))).sum()
    return bool(ref > 0 and abs(int(out) - int(ref)) <= 0.35 * ref)


def rows(models_dir: Path, count: int) -> list[EvalRow]:
    """The flux2-klein rows of ``toyworld.evaluate`` (``count`` test cases per task)."""
    return evaluate_dir(models_dir / common.MODEL_NAME, count)


def evaluate_dir(model_dir: Path, count: int) -> list[EvalRow]:
    """The flux2-klein rows of the pipeline directory ``model_dir``."""
    torch.set_num_threads(1)
    random.seed(0)
    pipe, kwargs = load(model_dir)
    s = score(pipe, kwargs, count)
    name = common.MODEL_NAME
    out = [
        EvalRow(name, "text-to-image colour (single object)", s.t2i_colour / count, count=count),
        EvalRow(name, "text-to-image position (single object)", s.t2i_position / count, count=count),
        EvalRow(name, "text-to-image colour and position", s.t2i_both / count, count=count),
        EvalRow(name, "reference edit: prompt colour", s.edit_colour / count, count=count),
        EvalRow(name, "reference edit: reference position kept", s.edit_position / count, count=count),
        EvalRow(name, "reference edit: colour and position", s.edit_both / count, count=count),
        EvalRow(name, "reference edit: shape area kept (±35%)", s.edit_kept_shape_area / count, count=count),
        EvalRow(
            name, "text-to-image two objects: both colours", s.two_colours / s.two_count, count=s.two_count
        ),
        EvalRow(name, "reference edit: centre kept (x ±6 px)", s.edit_centre / count, count=count),
        EvalRow(name, "reference edit: shape kept", s.edit_shape / count, count=count),
        EvalRow(
            name, "reference edit: background kept (sides ±40 RGB)", s.edit_background / count, count=count
        ),
        EvalRow(
            name,
            "reference edit: all of colour, centre, shape, area, background",
            s.edit_all / count,
            count=count,
        ),
    ]
    for k in common.MULTI_REFERENCE_COUNTS:
        m = score_multi(pipe, kwargs, k, count)
        label = f"{k}-reference edit"
        bg = "ref 3" if k >= 3 else "ref 1"
        size = "ref 4" if k >= 4 else "ref 1"
        out += [
            EvalRow(name, f"{label}: prompt colour", m["colour"] / count, count=count),
            EvalRow(name, f"{label}: centre x of ref 2 (±6 px)", m["centre"] / count, count=count),
            EvalRow(name, f"{label}: shape of ref 1", m["shape"] / count, count=count),
            EvalRow(name, f"{label}: area of target (size of {size}, ±35%)", m["area"] / count, count=count),
            EvalRow(
                name, f"{label}: background of {bg} (sides ±40 RGB)", m["background"] / count, count=count
            ),
            EvalRow(name, f"{label}: all five", m["all"] / count, count=count),
        ]
    return out + vae_rows(name, pipe.vae, count)
