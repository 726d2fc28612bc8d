"""Image preparation off the model's thread against BLIP's own processor.

The captioner decodes JPEGs at a reduced scale when the file is much larger
than the model input (``Image.draft``), resizes with ``fit_square`` and
normalises with ``Normalizer`` in its preparation pool. Stated tolerance: on
every image the mean absolute difference from ``BlipProcessor`` applied to the
fully decoded file is at most 0.02 in normalised units (the input spans about
-1.8 to 2.1), and the shipped captioner's captions on the test split are the
same either way.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.normalize import Normalizer
from captioner_svc.options import CaptionJob, CaptionResult, DecodeOptions
from serving.images import ImageLimits, ResizeMode, decode_image, fit_square, to_rgb
from toyworld.variety import render_varied
from toyworld.world import render, sample_scene, split_seeds

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "blip-captioner"
TOLERANCE = 0.02
SIZES = [(640, 480), (1024, 768), (480, 640), (300, 200), (2000, 1500), (64, 64)]


class Unary:
    """A unary caller's row."""

    cancelled = False
    streaming = False

    def emit(self, event: object) -> None:
        raise AssertionError("a unary row is never streamed to")


@pytest.fixture(scope="module")
def shipped() -> CaptionEngine:
    engine = CaptionEngine(EngineConfig(caption_model=str(SHIPPED)))
    engine.load()
    return engine


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _prepared(engine: CaptionEngine, data: bytes, media_type: str) -> np.ndarray:
    normalizer = engine.caption_normalizer
    assert normalizer is not None
    side = normalizer.size_px
    decoded = decode_image(data, media_type, "images[0]", ImageLimits(), draft_px=2 * side)
    return normalizer(fit_square(decoded.image, side, ResizeMode.STRETCH))


def _processor(engine: CaptionEngine, data: bytes) -> np.ndarray:
    full = to_rgb(Image.open(io.BytesIO(data)))
    return engine.pixel_values(engine.caption_processor, [full])[0].numpy()


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_and_billed_at_its_sent_size() -> None:
    data = _jpeg(render(sample_scene(1), 64).resize((1024, 768)), 90)
    decoded = decode_image(data, "image/jpeg", "images[0]", ImageLimits(), draft_px=128)
    assert decoded.image.size == (256, 192)  # the 1/4 scale: the smallest with both sides >= 128
    assert decoded.sent_size == (1024, 768)
    assert decoded.megapixels == pytest.approx(1024 * 768 / 1e6)


def test_prepared_input_matches_blips_processor_within_the_stated_tolerance(shipped: CaptionEngine) -> None:
    rng = np.random.default_rng(0)
    worst = 0.0
    for index, seed in enumerate(split_seeds("test", 30)):
        width, height = SIZES[index % len(SIZES)]
        scene = np.asarray(render(sample_scene(seed), 64).resize((width, height), Image.Resampling.BICUBIC))
        noisy = np.clip(scene + rng.normal(0, 15, scene.shape), 0, 255).astype(np.uint8)
        data = _jpeg(Image.fromarray(noisy), int(rng.integers(30, 96)))
        difference = float(np.abs(_prepared(shipped, data, "image/jpeg") - _processor(shipped, data)).mean())
        worst = max(worst, difference)
    assert worst <= TOLERANCE, worst


def test_captions_on_the_test_split_are_the_same_either_way(shipped: CaptionEngine) -> None:
    scenes = [sample_scene(seed) for seed in split_seeds("test", 120)]
    files = []
    for scene in scenes:
        image = to_rgb(render_varied(scene))
        # As a client sends them: the varied world's own sizes, and photo sizes, as JPEGs.
        if scene.seed % 2:
            image = image.resize((640, 480), Image.Resampling.BICUBIC)
        files.append(_jpeg(image, 90))
    options = DecodeOptions(max_new_tokens=20)
    normalizer = shipped.caption_normalizer
    assert isinstance(normalizer, Normalizer)
    ours = [CaptionJob(Image.new("RGB", (1, 1)), 0, _prepared(shipped, data, "image/jpeg")) for data in files]
    theirs = [
        CaptionJob(fit_square(to_rgb(Image.open(io.BytesIO(d))), normalizer.size_px, ResizeMode.STRETCH), 0)
        for d in files
    ]
    with torch.inference_mode():
        got = shipped.caption(options, ours, [Unary() for _ in ours])
        want = shipped.caption(options, theirs, [Unary() for _ in theirs])
    texts = [r.text for r in got if isinstance(r, CaptionResult)]
    assert len(texts) == len(files)
    assert texts == [r.text for r in want if isinstance(r, CaptionResult)]
