"""What the shipped toy-world checkpoints draw, through the server's default
variants file: the prompt's colour (and, for FLUX.1, its side) must show."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import pytest
from PIL import Image

from generator_svc.server import build_app
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import REPO_ROOT
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from tests.conftest import running
from toyworld.flux1_common import read_colour_and_side
from toyworld.flux2_common import dominant_colour
from toyworld.outline_style import is_outlined

SHIPPED = REPO_ROOT / "models" / "flux1-schnell"
SHIPPED_KLEIN = REPO_ROOT / "models" / "flux2-klein"
SEEDS = 8
# Big shapes: the toy VAEs still fill in many small shapes' two-pixel outlines (small triangles most).
PROMPTS = (
    "a big red circle on the left",
    "a big blue square on the right",
    "a big purple circle in the middle",
)

pytestmark = pytest.mark.slow
needs_schnell = pytest.mark.skipif(
    not (SHIPPED / "model_index.json").is_file(), reason="no models/flux1-schnell"
)
needs_klein = pytest.mark.skipif(
    not (SHIPPED_KLEIN / "model_index.json").is_file(), reason="no models/flux2-klein"
)


@pytest.fixture
async def stub() -> AsyncIterator[generator_pb2_grpc.GeneratorServiceStub]:
    async with (
        running(build_app(GeneratorSettings(port=0, metrics_port=0, cpu_threads=1))) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield generator_pb2_grpc.GeneratorServiceStub(channel)


async def _readings(
    stub: generator_pb2_grpc.GeneratorServiceStub, prompt: str
) -> tuple[Counter[str | None], Counter[str | None]]:
    colours: Counter[str | None] = Counter()
    sides: Counter[str | None] = Counter()
    for first_seed in range(0, SEEDS, 4):
        spec = pb.GenerationSpec(prompt=prompt, variant="flux.1-schnell", seed=first_seed, image_count=4)
        response = await stub.Generate(pb.GenerateRequest(spec=spec))
        for image in response.images:
            pixels = np.asarray(Image.open(io.BytesIO(image.image.data)).convert("RGB"))
            colour, side = read_colour_and_side(pixels)
            colours[colour] += 1
            sides[side] += 1
    return colours, sides


@needs_schnell
async def test_a_big_red_circle_on_the_left_is_red_and_on_the_left(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    colours, sides = await _readings(stub, "a big red circle on the left")
    assert colours.most_common(1)[0][0] == "red", f"colours read over {SEEDS} seeds: {dict(colours)}"
    assert sides.most_common(1)[0][0] == "left", f"sides read over {SEEDS} seeds: {dict(sides)}"


@needs_schnell
async def test_the_prompt_decides_the_colour(stub: generator_pb2_grpc.GeneratorServiceStub) -> None:
    red, _ = await _readings(stub, "a big red circle on the left")
    blue, _ = await _readings(stub, "a big blue square on the right")
    readings = f"red prompt: {dict(red)}; blue prompt: {dict(blue)}"
    assert blue.most_common(1)[0][0] == "blue", readings
    assert red.most_common(1)[0][0] != "blue" and red["blue"] < blue["blue"], readings


@needs_klein
async def test_flux2_klein_draws_the_prompted_colour(stub: generator_pb2_grpc.GeneratorServiceStub) -> None:
    colours: Counter[str | None] = Counter()
    for seed in range(0, SEEDS, 4):
        spec = pb.GenerationSpec(
            prompt="a big red circle on the left", variant="flux.2-klein-4b", seed=seed, image_count=4
        )
        response = await stub.Generate(pb.GenerateRequest(spec=spec))
        colours.update(dominant_colour(Image.open(io.BytesIO(i.image.data))) for i in response.images)
    assert colours.most_common(1)[0][0] == "red", f"colours read over {SEEDS} seeds: {dict(colours)}"


def _pixels(image: pb.GeneratedImage) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image.image.data)).convert("RGB"), dtype=np.int16)


def _outlined_share(response: pb.GenerateResponse) -> float:
    images = [Image.open(io.BytesIO(i.image.data)) for i in response.images]
    return sum(is_outlined(image) for image in images) / len(images)


@pytest.mark.parametrize("variant", ["flux.1-schnell", "flux.2-klein-4b"])
async def test_the_shipped_outline_adapters_draw_outlines_and_leave_the_base_alone(
    stub: generator_pb2_grpc.GeneratorServiceStub, variant: str
) -> None:
    """Adapter and plain calls issued together: the style follows the call, never the batch."""
    served = (await stub.ListVariants(pb.ListVariantsRequest())).variants
    listed = {v.name: [a.name for a in v.adapters] for v in served}
    assert listed[variant] == ["outline"]

    def call(adapter: str, seed: int) -> Any:
        spec = pb.GenerationSpec(
            prompt=PROMPTS[seed % len(PROMPTS)], variant=variant, seed=seed, image_count=4, adapter=adapter
        )
        return stub.Generate(pb.GenerateRequest(spec=spec))

    responses = await asyncio.gather(*(call(adapter, seed) for seed in (0, 4) for adapter in ("outline", "")))
    styled = [r for r, adapter in zip(responses, ["outline", "", "outline", ""], strict=True) if adapter]
    plain = [r for r, adapter in zip(responses, ["outline", "", "outline", ""], strict=True) if not adapter]
    assert sum(_outlined_share(r) for r in styled) / len(styled) >= 0.5
    assert sum(_outlined_share(r) for r in plain) == 0
    # The same plain call alone: the same images (a batched image on CPU may differ by one level).
    alone = await call("", 0)
    for one, batched in zip(alone.images, plain[0].images, strict=True):
        difference = _pixels(one) - _pixels(batched)
        assert np.abs(difference).max() <= 1
