"""Evaluation of the toy FLUX.2 [klein] pipeline on held-out test scenes.

Text-to-image: single-object test scenes, prompt = English caption; the output's dominant
non-background colour (nearest palette entry) and the horizontal third of its centroid are
compared with the caption; two-object scenes (half as many) need each image half to show
its object's colour. Reference edits: the reference is a single-object test scene,
the prompt is the caption of the same shape in another colour; the output must show the
prompt's colour at the reference's position. All figures are reported without bars.
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
from toyworld.report import EvalRow
from toyworld.world import caption_en, render, sample_scene, split_seeds

# Test seeds of the edits start past those of text-to-image so the two sets differ.
EDIT_OFFSET = 500_000
TWO_OFFSET = 1_000_000


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
    reference: Image.Image | None = None,
) -> Image.Image:
    """One 64x64 sample of ``prompt`` (with ``reference`` as the pipeline's ``image``)."""
    generator = torch.Generator().manual_seed(seed)
    images = [reference] if reference is not None else None
    result = pipe(prompt=prompt, image=images, generator=generator, **kwargs)
    image: Image.Image = result.images[0]
    return image


def edit_case(seed: int) -> tuple[Image.Image, str, str, str]:
    """Returns (reference image, prompt, wanted colour, reference position) of a test edit."""
    reference, target = common.edit_pair(seed)
    return render(reference), caption_en(target), target.objects[0].colour, reference.objects[0].position


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
        reference, prompt, colour, position = edit_case(seed)
        image = generate(pipe, kwargs, prompt, seed, reference)
        colour_ok = common.dominant_colour(image) == colour
        position_ok = common.centroid_position(image) == position
        hits["edit_colour"] += colour_ok
        hits["edit_position"] += position_ok
        hits["edit_both"] += colour_ok and position_ok
        hits["edit_kept_shape_area"] += _similar_area(reference, image)
    return Scores(**hits)


def _similar_area(reference: Image.Image, output: Image.Image) -> bool:
    """True when the output's coloured area is within 35% of the reference's (shape and size kept)."""
    ref = common.foreground_mask(np.asarray(reference.convert("RGB"))).sum()
    out = common.foreground_mask(np.asarray(output.convert("RGB"))).sum()
    return bool(ref > 0 and abs(int(out) - int(ref)) <= 0.35 * ref)


def rows(models_dir: Path, count: int) -> list[EvalRow]:
    """The flux2-klein rows of ``toyworld.evaluate`` (``count`` test cases per task)."""
    torch.set_num_threads(1)
    random.seed(0)
    pipe, kwargs = load(models_dir / common.MODEL_NAME)
    s = score(pipe, kwargs, count)
    name = common.MODEL_NAME
    return [
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
    ]
