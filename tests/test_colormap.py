"""The perceptual heatmaps of ``imaging.colormap`` and the per-word grid of
``imaging.attention_grid``: pure numpy and PIL, no server."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

from imaging.attention_grid import covered_region, render_grid, word_maps
from imaging.colormap import VIRIDIS, colorize, normalise, overlay


def test_viridis_runs_dark_purple_to_yellow_and_brightens_monotonically() -> None:
    assert VIRIDIS.shape == (256, 3)
    np.testing.assert_allclose(VIRIDIS[0], [0.267004, 0.004874, 0.329415], atol=1e-6)
    np.testing.assert_allclose(VIRIDIS[128], [0.127568, 0.566949, 0.550556], atol=1e-6)
    np.testing.assert_allclose(VIRIDIS[255], [0.993248, 0.906157, 0.143936], atol=1e-6)
    luminance = VIRIDIS @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    assert np.all(np.diff(luminance) > 0)  # perceptual: more attention always reads brighter
    assert colorize(np.array([0.0, 2.0])).tolist() == [[68, 1, 84], [253, 231, 37]]


def test_overlay_leaves_unattended_pixels_and_marks_a_red_object_apart_from_its_colour() -> None:
    image = Image.new("RGB", (32, 32), (200, 200, 200))
    image.paste((255, 0, 0), (8, 8, 24, 24))  # a red square
    weights = np.zeros((4, 4), dtype=np.float32)
    assert np.array_equal(np.asarray(overlay(image, weights)), np.asarray(image))
    weights[1:3, 1:3] = 0.5  # the model looked at the red square
    painted = np.asarray(overlay(image, weights))
    assert tuple(painted[0, 0]) == (200, 200, 200)  # untouched where the weight is zero
    red, green, blue = (painted[16, 16] / 255.0).tolist()
    hue = colorsys.rgb_to_hsv(red, green, blue)[0] * 360
    assert 30 < hue < 120  # yellow-green over red: the highlight is not more red
    assert normalise(weights).max() == 1.0


def test_word_maps_join_wordpieces_and_sentencepieces() -> None:
    maps = np.stack([np.full((2, 2), float(i), dtype=np.float32) for i in range(4)])
    words = word_maps(["a", "red", "##dish", "[SEP]"], maps)
    assert [w.word for w in words] == ["a", "reddish"]
    np.testing.assert_allclose(words[1].weights, 1.5)
    pieces = word_maps(["▁a", "▁red", "dish", "▁ball"], maps)
    assert [w.word for w in pieces] == ["a", "reddish", "ball"]


def test_render_grid_tiles_the_image_and_each_word_with_a_legend() -> None:
    image = Image.new("RGB", (80, 40), (255, 0, 0))
    words = word_maps(["red", "circle"], np.ones((2, 4, 4), dtype=np.float32))
    grid = render_grid(covered_region(image, "center_crop"), words, tile_px=64, columns=4)
    assert grid.width > 3 * 64 and grid.height < 2 * 64 + 64
    assert covered_region(image, "letterbox").size == (80, 80)
    assert covered_region(image, None).size == (80, 40)
