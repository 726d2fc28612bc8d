"""World v2 draws the same scenes with everything the caption does not name varied."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from serving.images import to_rgb
from toyworld.outline_style import hollow, is_outlined, render_outlined
from toyworld.variety import render_other, render_varied, sample_look, shade
from toyworld.world import COLOURS, Scene, Shape, render, sample_scene

SEEDS = range(400)


def test_a_scene_always_looks_the_same() -> None:
    scene = sample_scene(123)
    assert np.array_equal(np.asarray(render_varied(scene)), np.asarray(render_varied(scene)))


def test_looks_vary_size_aspect_background_and_encoding() -> None:
    looks = [sample_look(sample_scene(seed)) for seed in SEEDS]
    sides = [side for look in looks for side in (look.width, look.height)]
    assert min(sides) >= 32 and max(sides) <= 512
    assert min(sides) < 48 and max(sides) > 400
    aspects = [look.width / look.height for look in looks]
    assert min(aspects) < 0.6 and max(aspects) > 1.7
    assert {look.background[0] for look in looks} == {"plain", "gradient", "texture"}
    levels = [sum(look.background[1]) / 3 for look in looks]
    assert min(levels) == 0 and max(levels) == 255  # black and white backgrounds included
    assert any(look.jpeg_quality is not None and look.jpeg_quality < 50 for look in looks)
    assert {look.alpha for look in looks} == {"none", "opaque", "transparent"}
    assert any(look.antialias for look in looks) and not all(look.antialias for look in looks)


def test_every_object_contrasts_with_its_background() -> None:
    for seed in SEEDS:
        look = sample_look(sample_scene(seed))
        _, a, b = look.background
        for colour in look.colours:
            assert min(math.dist(colour, a), math.dist(colour, b)) >= 100, (seed, colour, a, b)


def test_shades_stay_nearest_their_named_colour() -> None:
    import random

    rng = random.Random(0)
    for name in COLOURS:
        for _ in range(200):
            r, g, b = shade(name, rng)
            nearest = min(COLOURS, key=lambda other: _hue_distance((r, g, b), COLOURS[other]))
            assert nearest == name, (name, (r, g, b))


def _hue_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    import colorsys

    ha = colorsys.rgb_to_hsv(*(c / 255 for c in a))[0]
    hb = colorsys.rgb_to_hsv(*(c / 255 for c in b))[0]
    return min(abs(ha - hb), 1 - abs(ha - hb))


def test_objects_sit_in_their_named_third() -> None:
    scene = Scene(
        seed=7,
        objects=(
            Shape(colour="red", shape="circle", size="big", position="left"),
            Shape(colour="blue", shape="square", size="small", position="right"),
        ),
        background=240,
        jitter=(0.0, 0.5, 1.0, 1.0, 0.5, 0.0),
    )
    for seed in range(30):
        image = np.asarray(to_rgb(render_varied(Scene(seed, scene.objects, 240, scene.jitter))))
        width = image.shape[1]
        reds = np.argwhere((image[..., 0] > 150) & (image[..., 2] < 100))
        blues = np.argwhere((image[..., 2] > 150) & (image[..., 0] < 100))
        if len(reds) > 10:
            assert reds[:, 1].mean() < width / 2
        if len(blues) > 10:
            assert blues[:, 1].mean() > width / 2


def test_transparent_images_are_served_on_white() -> None:
    transparent = next(s for s in SEEDS if sample_look(sample_scene(s)).alpha == "transparent")
    image = render_varied(sample_scene(transparent))
    assert image.mode == "RGBA"
    corner = to_rgb(image).getpixel((0, 0))
    assert corner == (255, 255, 255)


def test_the_other_renderer_draws_pure_colours_on_black_or_white() -> None:
    image = np.asarray(render_other(sample_scene(1)))
    assert tuple(image[0, 0]) in {(0, 0, 0), (255, 255, 255)}
    colours = {tuple(p) for p in image.reshape(-1, 3)}
    assert colours <= {(0, 0, 0), (255, 255, 255), *COLOURS.values()}


def test_outlines_are_read_back_and_filled_shapes_are_not() -> None:
    scenes = [sample_scene(seed) for seed in range(100)]
    outlined = sum(is_outlined(render_outlined(scene)) for scene in scenes)
    filled = sum(is_outlined(render(scene)) for scene in scenes)
    assert outlined >= 90
    assert filled == 0
    assert not is_outlined(Image.new("RGB", (64, 64), (240, 240, 240)))


def test_thin_shapes_get_a_thinner_outline_so_that_their_hole_stays_open() -> None:
    def outline_px(shape: str, size: str) -> tuple[int, int]:
        """(pixels the outline keeps, pixels the filled shape covers)."""
        scene = Scene(0, (Shape("red", shape, size, "middle"),), 240, (0.5, 0.5, 0.5))
        drawn = np.abs(np.asarray(render(scene), dtype=np.int32) - 240).sum(-1) > 40
        kept = np.abs(np.asarray(render_outlined(scene), dtype=np.int32) - 240).sum(-1) > 40
        return int(kept.sum()), int(drawn.sum())

    thin_kept, thin_drawn = outline_px("triangle", "small")
    wide_kept, wide_drawn = outline_px("circle", "big")
    # One pixel around a small triangle leaves most of it hollow; two around a big circle.
    assert thin_kept / thin_drawn < 0.6
    assert 0.15 < wide_kept / wide_drawn < 0.4


def test_a_models_picture_is_hollowed_like_a_render_keeping_its_colour_and_background() -> None:
    scene = sample_scene(3)
    picture = np.asarray(render(scene))
    hollowed = hollow(picture, scene)
    assert is_outlined(Image.fromarray(hollowed))
    assert not is_outlined(Image.fromarray(picture))
    changed = np.any(hollowed != picture, axis=-1)
    # Only shape pixels change, and only to the background's colour.
    assert (hollowed[changed] == picture[0, 0]).all()
    kept = np.any(picture != picture[0, 0], axis=-1) & ~changed
    assert kept.sum() > 0
