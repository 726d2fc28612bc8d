"""Renders attention maps over their image, for humans."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from captioner_svc.options import AttentionResult
from imaging.colormap import overlay
from serving.images import encode_image


def render_heatmap(image: Image.Image, weights: ArrayLike, grid_height: int, grid_width: int) -> Image.Image:
    """Paints the attention grid over ``image`` in viridis, opacity following the
    weight (scaled so the strongest patch is the most opaque): where the model did
    not look the image shows through, and over a red object the word "red" reads
    as a yellow-green highlight, not as more red."""
    return overlay(image, np.asarray(weights, dtype=np.float32).reshape(grid_height, grid_width))


def heatmap_pngs(image: Image.Image, result: AttentionResult) -> list[bytes]:
    """One PNG per token of the mean over the returned layers and heads.
    Slow for long captions and large images: call it off the event loop."""
    pngs = []
    for per_layer in result.maps:
        mean = np.asarray(per_layer, dtype=np.float32).reshape(-1, result.grid_height * result.grid_width)
        overlay = render_heatmap(image, mean.mean(axis=0), result.grid_height, result.grid_width)
        pngs.append(encode_image(overlay, "image/png"))
    return pngs
