"""Renders an attention map over its image, for humans."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


def render_heatmap(
    image: Image.Image, weights: Sequence[float], grid_height: int, grid_width: int
) -> Image.Image:
    """Blends ``image`` with a red overlay whose strength is the attention weight,
    scaled so the strongest patch is fully red."""
    grid = np.asarray(weights, dtype=np.float32).reshape(grid_height, grid_width)
    peak = float(grid.max())
    normalised = grid / peak if peak > 0 else grid
    mask = Image.fromarray((normalised * 255).astype(np.uint8), mode="L").resize(
        image.size, Image.Resampling.BILINEAR
    )
    red = Image.new("RGB", image.size, (255, 0, 0))
    return Image.composite(red, image.convert("RGB"), mask.point(lambda v: int(v * 0.6)))
