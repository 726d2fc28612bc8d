"""The "outline" style of the generator's LoRA adapters, and reading it back from pixels.

Outlined scenes are the toy world's scenes with each shape drawn as a coloured
outline on the background instead of filled: a style the FLUX bases never saw.
``is_outlined`` reads the style back from an image by pixel statistics alone:
the share of a shape's filled silhouette that its coloured pixels cover.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from toyworld.world import Scene, render

# Outline width on a 64-pixel canvas. A shape thinner than THIN_BELOW_PX (a small
# triangle) keeps a hole of a few pixels under a 2-pixel stroke, which both 4x
# VAEs fill in; it gets a 1-pixel stroke. Thinner strokes everywhere keep every
# hole open, but the VAEs shift the colour of 1-pixel lines.
STROKE_PX = 2
THIN_STROKE_PX = 1
THIN_BELOW_PX = 10
_OBJECT_DISTANCE = 60.0  # RGB distance from the background that counts as drawn
# Coloured pixels covering less than this share of the filled silhouette: outlined.
HOLLOW_BELOW = 0.8
_MIN_SILHOUETTE_PX = 24


def render_outlined(scene: Scene, size_px: int = 64) -> Image.Image:
    """``scene`` with every shape hollowed to an outline ``STROKE_PX`` wide (``THIN_STROKE_PX`` for
    thin shapes), scaled with the canvas."""
    pixels = np.asarray(render(scene, size_px)).copy()
    background = np.array([scene.background] * 3)
    for index, obj in enumerate(scene.objects):
        # Each shape alone, so that its own stroke width hollows it.
        alone = Scene(scene.seed, (obj,), scene.background, scene.jitter[3 * index : 3 * index + 3])
        drawn = np.abs(np.asarray(render(alone, size_px), dtype=np.int32) - background).sum(-1) > 40
        pixels[_interior(drawn, _stroke(drawn))] = background
    return Image.fromarray(pixels, "RGB")


def hollow(image: np.ndarray, scene: Scene) -> np.ndarray:
    """A picture of ``scene`` drawn by a model (uint8 HxWx3), with its shapes hollowed as
    ``render_outlined`` hollows them: two-object scenes hold one shape in each half."""
    pixels = image.copy()
    background = _background(pixels.astype(np.float32))
    drawn = np.linalg.norm(pixels.astype(np.float32) - background, axis=-1) > _OBJECT_DISTANCE
    width = pixels.shape[1]
    halves = (
        [slice(0, width)] if len(scene.objects) == 1 else [slice(0, width // 2), slice(width // 2, width)]
    )
    fill = background.round().astype(np.uint8)
    for columns in halves:
        mine = np.zeros_like(drawn)
        mine[:, columns] = drawn[:, columns]
        pixels[_interior(mine, _stroke(mine))] = fill
    return pixels


def _stroke(drawn: np.ndarray) -> int:
    """The outline width of the shape ``drawn`` (a mask), scaled with the canvas."""
    scale = drawn.shape[1] / 64
    thin = not _interior(drawn, max(1, round(THIN_BELOW_PX / 2 * scale))).any()
    return max(1, round((THIN_STROKE_PX if thin else STROKE_PX) * scale))


def _interior(drawn: np.ndarray, stroke: int) -> np.ndarray:
    """The pixels of ``drawn`` more than ``stroke`` pixels inside its edge."""
    mask = Image.fromarray((drawn * 255).astype(np.uint8), "L")
    return np.asarray(mask.filter(ImageFilter.MinFilter(2 * stroke + 1))) > 0


def _background(pixels: np.ndarray) -> np.ndarray:
    """The median colour of the image's border."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return np.asarray(np.median(border, axis=0))


def fill_ratio(image: Image.Image) -> float | None:
    """Coloured pixels over the filled silhouette (holes included); None when nothing is drawn."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    background = _background(pixels)
    drawn = np.linalg.norm(pixels - background, axis=-1) > _OBJECT_DISTANCE
    # Flood the background from outside; whatever it cannot reach is inside a shape.
    padded = Image.fromarray(np.pad(drawn, 1).astype(np.uint8) * 255, "L").copy()  # writable
    ImageDraw.floodfill(padded, (0, 0), 128)
    outside = np.asarray(padded)[1:-1, 1:-1] == 128
    silhouette = ~outside
    if silhouette.sum() < _MIN_SILHOUETTE_PX:
        return None
    return float(drawn.sum() / silhouette.sum())


def is_outlined(image: Image.Image) -> bool:
    """True when the image's shapes are outlines rather than filled."""
    ratio = fill_ratio(image)
    return ratio is not None and ratio < HOLLOW_BELOW
