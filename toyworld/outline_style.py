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

STROKE_PX = 2  # outline width on a 64-pixel canvas
_OBJECT_DISTANCE = 60.0  # RGB distance from the background that counts as drawn
# Coloured pixels covering less than this share of the filled silhouette: outlined.
HOLLOW_BELOW = 0.8
_MIN_SILHOUETTE_PX = 24


def render_outlined(scene: Scene, size_px: int = 64) -> Image.Image:
    """``scene`` with every shape hollowed to an outline ``STROKE_PX`` wide (scaled with the canvas)."""
    image = render(scene, size_px)
    pixels = np.asarray(image).copy()
    background = np.array([scene.background] * 3)
    drawn = np.abs(pixels.astype(np.int32) - background).sum(-1) > 40
    stroke = max(1, round(STROKE_PX * size_px / 64))
    mask = Image.fromarray((drawn * 255).astype(np.uint8), "L")
    interior = np.asarray(mask.filter(ImageFilter.MinFilter(2 * stroke + 1))) > 0
    pixels[interior] = background
    return Image.fromarray(pixels, "RGB")


def fill_ratio(image: Image.Image) -> float | None:
    """Coloured pixels over the filled silhouette (holes included); None when nothing is drawn."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
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
