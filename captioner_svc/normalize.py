"""The model input of an image, made off the model's thread: a numpy rescale
and normalise equal to BLIP's image processor for an image already fitted to
the processor's size (``serving.images.fit_square``).

The processor does the same arithmetic per call on the model's thread; doing
it here, in the preparation pool, lets batch n+1 be ready when batch n ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Normalizer:
    """``(pixel * rescale - mean) / std`` per channel, as one multiply and one subtract."""

    size_px: int
    scale: np.ndarray  # rescale / std, per channel
    offset: np.ndarray  # mean / std, per channel

    @classmethod
    def of(cls, processor: Any) -> Normalizer | None:
        """The normaliser of a BLIP image processor; None for a configuration it
        does not reproduce (non-square size, no rescale or no normalise)."""
        config = processor.to_dict()
        size = config.get("size") or {}
        if not (config.get("do_rescale") and config.get("do_normalize")):
            return None
        if size.get("height") is None or size.get("height") != size.get("width"):
            return None
        mean = np.asarray(config["image_mean"], dtype=np.float32)
        std = np.asarray(config["image_std"], dtype=np.float32)
        rescale = np.float32(config["rescale_factor"])
        return cls(int(size["height"]), rescale / std, mean / std)

    def __call__(self, image: Image.Image) -> np.ndarray:
        """The model input of an RGB image of ``size_px`` square: channels x height x width, float32."""
        if image.size != (self.size_px, self.size_px) or image.mode != "RGB":
            raise ValueError(
                f"expected an RGB image of {self.size_px} px square, got {image.mode} {image.size}"
            )
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels * self.scale - self.offset
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))
