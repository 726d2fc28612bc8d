"""Renders attention maps over their image, for humans."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from captioner_svc.options import AttentionResult
from serving.images import encode_image

# How red the strongest patch turns (0-1): the image stays readable beneath.
OVERLAY_OPACITY = 0.6


def render_heatmap(image: Image.Image, weights: ArrayLike, grid_height: int, grid_width: int) -> Image.Image:
    """Blends ``image`` with a red overlay whose strength is the attention weight,
    scaled so the strongest patch is fully red."""
    grid = np.asarray(weights, dtype=np.float32).reshape(grid_height, grid_width)
    peak = float(grid.max())
    normalised = grid / peak if peak > 0 else grid
    mask = Image.fromarray((normalised * 255).astype(np.uint8), mode="L").resize(
        image.size, Image.Resampling.BILINEAR
    )
    red = Image.new("RGB", image.size, (255, 0, 0))
    return Image.composite(red, image.convert("RGB"), mask.point(lambda v: int(v * OVERLAY_OPACITY)))


def heatmap_pngs(image: Image.Image, result: AttentionResult) -> list[bytes]:
    """One PNG per token of the mean over the returned layers and heads.
    Slow for long captions and large images: call it off the event loop."""
    pngs = []
    for per_layer in result.maps:
        mean = np.asarray(per_layer, dtype=np.float32).reshape(-1, result.grid_height * result.grid_width)
        overlay = render_heatmap(image, mean.mean(axis=0), result.grid_height, result.grid_width)
        pngs.append(encode_image(overlay, "image/png"))
    return pngs
