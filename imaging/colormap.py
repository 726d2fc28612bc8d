"""A perceptual colour map and a translucent heatmap overlay, in numpy and PIL only.

``overlay`` paints attention (or any non-negative grid) over an image with
viridis colours whose opacity follows the value: where the model did not look
the image shows through untouched, where it looked hardest it turns yellow.
Unlike a red wash, a red object under a strong weight still reads as a
highlight, not as more of the object. Used by the ``imaging`` command line and
shared with any server that renders heatmaps.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

# Viridis (Smith, van der Walt and Firing, matplotlib's default; CC0) sampled at
# every 8th of its 256 entries: (index, red, green, blue) in 0-1. Linear
# interpolation between these stays within a hair of the full table.
_VIRIDIS_ANCHORS = (
    (0, 0.267004, 0.004874, 0.329415),
    (8, 0.277018, 0.050344, 0.375715),
    (16, 0.282327, 0.094955, 0.417331),
    (24, 0.282884, 0.135920, 0.453427),
    (32, 0.278826, 0.175490, 0.483397),
    (40, 0.270595, 0.214069, 0.507052),
    (48, 0.258965, 0.251537, 0.524736),
    (56, 0.244972, 0.287675, 0.537260),
    (64, 0.229739, 0.322361, 0.545706),
    (72, 0.214298, 0.355619, 0.551184),
    (80, 0.199430, 0.387607, 0.554642),
    (88, 0.185556, 0.418570, 0.556753),
    (96, 0.172719, 0.448791, 0.557885),
    (104, 0.160665, 0.478540, 0.558115),
    (112, 0.149039, 0.508051, 0.557250),
    (120, 0.137770, 0.537492, 0.554906),
    (128, 0.127568, 0.566949, 0.550556),
    (136, 0.120565, 0.596422, 0.543611),
    (144, 0.120638, 0.625828, 0.533488),
    (152, 0.132268, 0.655014, 0.519661),
    (160, 0.157851, 0.683765, 0.501686),
    (168, 0.196571, 0.711827, 0.479221),
    (176, 0.246070, 0.738910, 0.452024),
    (184, 0.304148, 0.764704, 0.419943),
    (192, 0.369214, 0.788888, 0.382914),
    (200, 0.440137, 0.811138, 0.340967),
    (208, 0.515992, 0.831158, 0.294279),
    (216, 0.595839, 0.848717, 0.243329),
    (224, 0.678489, 0.863742, 0.189503),
    (232, 0.762373, 0.876424, 0.137064),
    (240, 0.845561, 0.887322, 0.099702),
    (248, 0.926106, 0.897330, 0.104071),
    (255, 0.993248, 0.906157, 0.143936),
)


def _table() -> NDArray[np.float32]:
    anchors = np.asarray(_VIRIDIS_ANCHORS, dtype=np.float64)
    positions = np.arange(256, dtype=np.float64)
    channels = [np.interp(positions, anchors[:, 0], anchors[:, c]) for c in (1, 2, 3)]
    return np.stack(channels, axis=-1).astype(np.float32)


VIRIDIS: NDArray[np.float32] = _table()
"""The 256 x 3 viridis table, RGB in 0-1, dark purple (0) to yellow (255)."""

# How opaque the strongest weight paints (0-1): the image stays readable beneath.
DEFAULT_MAX_ALPHA = 0.8


def colorize(values: ArrayLike) -> NDArray[np.uint8]:
    """Maps values in [0, 1] (clipped) to viridis RGB: shape ``(..., 3)``, uint8."""
    scaled = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) * 255.0
    indices = np.rint(scaled).astype(np.intp)
    colours: NDArray[np.uint8] = np.rint(VIRIDIS[indices] * 255.0).astype(np.uint8)
    return colours


def normalise(weights: ArrayLike) -> NDArray[np.float32]:
    """Scales non-negative weights so the largest is 1 (all zeros stay zeros)."""
    grid = np.clip(np.asarray(weights, dtype=np.float32), 0.0, None)
    peak = float(grid.max()) if grid.size else 0.0
    return grid / peak if peak > 0 else grid


def overlay(
    image: Image.Image,
    weights: ArrayLike,
    max_alpha: float = DEFAULT_MAX_ALPHA,
) -> Image.Image:
    """Paints a ``grid_height x grid_width`` weight grid over ``image`` (RGB out).

    The grid is scaled so its peak is 1, upsampled bilinearly to the image
    size, coloured with viridis, and blended with opacity ``max_alpha * value``:
    zero weight leaves a pixel unchanged.
    """
    if not 0.0 <= max_alpha <= 1.0:
        raise ValueError("max_alpha must be in [0, 1]")
    grid = normalise(weights)
    if grid.ndim != 2:
        raise ValueError(f"weights must be a 2-D grid, got shape {grid.shape}")
    base = image.convert("RGB")
    upsampled = np.asarray(
        Image.fromarray(np.ascontiguousarray(grid)).resize(base.size, Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    upsampled = np.clip(upsampled, 0.0, 1.0)
    colours = colorize(upsampled).astype(np.float32)
    alpha = (upsampled * max_alpha)[..., None]
    pixels = np.asarray(base, dtype=np.float32)
    blended = pixels * (1.0 - alpha) + colours * alpha
    return Image.fromarray(np.rint(blended).astype(np.uint8))


def colorbar(width: int, height: int) -> Image.Image:
    """A horizontal viridis strip, low (left) to high (right), as a legend."""
    ramp = np.linspace(0.0, 1.0, max(1, width), dtype=np.float32)
    row = colorize(ramp)[None, :, :]
    return Image.fromarray(np.repeat(row, max(1, height), axis=0))
