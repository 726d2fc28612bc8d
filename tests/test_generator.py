"""The generator server on a free loopback port, serving tiny random FLUX pipelines:
variants, sizes, costs, seeds, batching, streaming, cancellation, reference
images and the errors of bad input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

import imaging.errors
from generator_svc import validation
from generator_svc.calls import GenerationSpec
from generator_svc.options import Family
from generator_svc.server import build_app
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import Pricing, PricingModel, VariantConfig, load_registry
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from serving.errors import InvalidArgument
from serving.server import ServingApp
from tests.conftest import png_bytes, running

SCHNELL = "flux.1-schnell"
KLEIN = "flux.2-klein-4b"

_VARIANTS = """
variants:
  flux.1-schnell:
    family: flux.1
    pipeline: FluxPipeline
    checkpoint: {flux1}
    description: "FLUX.1 [schnell]: served by the tiny random checkpoint {flux1}"
    min_side_px: 64
    max_side_px: 128
    side_multiple_px: 16
    max_megapixels: 0.0128
    max_steps: 1000
    supports_true_cfg: true
    max_reference_images: 1
    supports_mask: true
    max_image_count: 4
    max_prompt_chars: 64
    pricing: {{model: flat, per_image_micros: 3000}}
  flux.2-klein-4b:
    family: flux.2
    pipeline: Flux2KleinPipeline
    checkpoint: {klein}
    description: "FLUX.2 [klein] 4B: served by the tiny random checkpoint {klein}"
    min_side_px: 64
    max_side_px: 128
    side_multiple_px: 16
    max_megapixels: 0.016384
    max_steps: 20
    supports_guidance: true
    max_reference_images: 2
    max_image_count: 2
    max_prompt_chars: 64
    pricing:
      {{model: megapixel, first_megapixel_micros: 14000, per_extra_megapixel_micros: 1000,
        per_input_megapixel_micros: 500000}}
  flux.2-pro:
    family: flux.2
    pipeline: Flux2KleinPipeline
    checkpoint: {klein}
    description: "FLUX.2 [pro]: shares {klein}"
    min_side_px: 64
    max_side_px: 128
    max_megapixels: 0.016384
    supports_guidance: true
    max_reference_images: 8
    pricing: {{model: megapixel, first_megapixel_micros: 30000, per_extra_megapixel_micros: 15000}}
  flux.1-dev:
    family: flux.1
    pipeline: FluxPipeline
    checkpoint: {missing}
    description: "not served: no checkpoint"
    pricing: {{model: flat, per_image_micros: 25000}}
"""


@pytest.fixture(scope="session")
def variants_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random pipelines and a variants file naming them, written once per run."""
    from tests.flux_checkpoints import save_tiny_flux1, save_tiny_flux2_klein

    root = tmp_path_factory.mktemp("tiny-flux")
    path = root / "variants.yaml"
    path.write_text(
        _VARIANTS.format(
            flux1=save_tiny_flux1(root), klein=save_tiny_flux2_klein(root), missing=root / "no-such-dir"
        )
    )
    return path


# A klein variant making (and previewing) sizes up to 704 px, whose PNG takes tens of ms to encode.
_LARGE_SIDE_PX = 704
_LARGE_VARIANTS = """
variants:
  flux.2-klein-4b:
    family: flux.2
    pipeline: Flux2KleinPipeline
    checkpoint: {klein}
    description: "FLUX.2 [klein] 4B up to {side} px: served by the tiny random checkpoint {klein}"
    min_side_px: 64
    max_side_px: {side}
    max_megapixels: {megapixels}
    supports_guidance: true
    max_reference_images: 2
    pricing: {{model: flat, per_image_micros: 3000}}
"""


@pytest.fixture(scope="session")
def large_variants_file(variants_file: Path) -> Path:
    path = variants_file.parent / "large-variants.yaml"
    path.write_text(
        _LARGE_VARIANTS.format(
            klein=variants_file.parent / "flux2-klein",
            side=_LARGE_SIDE_PX,
            megapixels=_LARGE_SIDE_PX**2 / 1e6,
        )
    )
    return path


@contextlib.asynccontextmanager
async def generator_server(variants: Path, **overrides: Any) -> AsyncIterator[ServingApp]:
    # One thread: the tiny pipelines gain nothing from more, and a busy machine makes extra threads spin.
    values: dict[str, Any] = {"max_batch_delay_ms": 50, "max_batch_size": 4, "cpu_threads": 1, **overrides}
    settings = GeneratorSettings(port=0, metrics_port=0, variants_file=str(variants), **values)
    async with running(build_app(settings)) as app:
        yield app


@pytest.fixture
async def generator_app(variants_file: Path) -> AsyncIterator[ServingApp]:
    async with generator_server(variants_file) as app:
        yield app


@pytest.fixture
async def stub(generator_app: ServingApp) -> AsyncIterator[generator_pb2_grpc.GeneratorServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{generator_app.port}") as channel:
        yield generator_pb2_grpc.GeneratorServiceStub(channel)


def spec(**fields: Any) -> pb.GenerationSpec:
    values: dict[str, Any] = {"prompt": "a big red circle on the left", "variant": SCHNELL, "seed": 7}
    values.update(fields)
    return pb.GenerationSpec(**values)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def sample(app: ServingApp, name: str, labels: dict[str, str] | None = None) -> float:
    return app.registry.get_sample_value(name, labels or {}) or 0.0


_T = TypeVar("_T")


# Between health probes: a stall longer than this always catches one in flight, while
# few probes are out when a shared machine pauses the process for other work.
_PROBE_INTERVAL_S = 0.01


def _probe_health(port: int, stop: threading.Event) -> list[float]:
    """Sends grpc.health.v1 Checks until ``stop`` (at least one); each one's latency in seconds."""
    latencies: list[float] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        while not latencies or not stop.is_set():
            started = time.perf_counter()
            check(health_pb2.HealthCheckRequest(), timeout=5)
            latencies.append(time.perf_counter() - started)
            time.sleep(_PROBE_INTERVAL_S)
    return latencies


async def health_latencies_while(app: ServingApp, work: Awaitable[_T]) -> tuple[list[float], _T]:
    """Probes health from a thread of its own, as a kubelet would from outside (a probe
    on the server's event loop would stall with it, and miss the stalls), while ``work`` runs."""
    stop = threading.Event()
    probe = asyncio.ensure_future(asyncio.to_thread(_probe_health, app.port, stop))
    try:
        result = await work
    finally:
        stop.set()
    return await probe, result


async def test_list_variants_reports_served_variants_limits_and_prices(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    response = await stub.ListVariants(pb.ListVariantsRequest())
    by_name = {v.name: v for v in response.variants}
    # flux.1-dev is configured but its checkpoint is missing: not served.
    assert [v.name for v in response.variants] == ["flux.1-schnell", "flux.2-klein-4b", "flux.2-pro"]
    schnell, klein = by_name[SCHNELL], by_name[KLEIN]
    assert schnell.family == pb.FAMILY_FLUX_1 and klein.family == pb.FAMILY_FLUX_2
    assert "flux1-schnell" in schnell.description
    assert (schnell.min_side_px, schnell.max_side_px, schnell.side_multiple_px) == (64, 128, 16)
    # Defaults the variant leaves unset come from the checkpoint's imaging_defaults.json.
    assert (schnell.default_width_px, schnell.default_height_px, schnell.default_steps) == (64, 64, 4)
    assert schnell.supports_true_cfg and schnell.default_true_cfg_scale == 2.0
    assert schnell.supports_mask and schnell.max_reference_images == 1
    assert not klein.supports_mask and klein.max_reference_images == 2 and klein.supports_guidance
    assert schnell.pricing.model == pb.PRICING_MODEL_FLAT
    assert schnell.pricing.per_image.amount_micros == 3000
    assert schnell.pricing.per_image.currency_code == "USD"
    assert klein.pricing.model == pb.PRICING_MODEL_MEGAPIXEL
    assert klein.pricing.first_megapixel.amount_micros == 14000
    assert klein.pricing.per_input_megapixel.amount_micros == 500000


async def test_generate_returns_requested_count_size_format_and_costs(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    response = await stub.Generate(
        pb.GenerateRequest(
            spec=spec(
                width_px=128,
                height_px=64,
                image_count=3,
                output_format=common_pb2.IMAGE_FORMAT_JPEG,
                output_quality=80,
            )
        )
    )
    assert len(response.images) == 3
    assert [image.seed for image in response.images] == [7, 8, 9]
    assert response.seed == 7 and response.variant == SCHNELL and response.steps == 4
    for image in response.images:
        assert image.image.media_type == "image/jpeg"
        decoded = Image.open(io.BytesIO(image.image.data))
        assert decoded.format == "JPEG" and decoded.size == (128, 64)
        assert (image.width_px, image.height_px) == (128, 64)
        assert image.cost.amount_micros == 3000
    assert response.usage.image_count == 3
    assert response.usage.megapixels == pytest.approx(3 * 128 * 64 / 1e6)
    assert response.usage.cost.amount_micros == 9000
    assert response.timings.denoise_duration.ToNanoseconds() > 0
    assert (
        response.timings.total_duration.ToNanoseconds() >= response.timings.denoise_duration.ToNanoseconds()
    )

    webp = await stub.Generate(
        pb.GenerateRequest(spec=spec(variant=KLEIN, output_format=common_pb2.IMAGE_FORMAT_WEBP))
    )
    assert Image.open(io.BytesIO(webp.images[0].image.data)).format == "WEBP"
    # Megapixel pricing: the first (partial) megapixel's price.
    assert webp.images[0].cost.amount_micros == 14000


async def test_aspect_ratio_picks_the_largest_size_that_fits(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    response = await stub.Generate(pb.GenerateRequest(spec=spec(aspect_ratio="2:1", megapixels=0.0128)))
    # 128x64 = 0.008192 MP is the largest 2:1 size in multiples of 16 under 0.0128 MP.
    assert (response.images[0].width_px, response.images[0].height_px) == (128, 64)
    assert Image.open(io.BytesIO(response.images[0].image.data)).size == (128, 64)


async def test_same_seed_gives_identical_images_and_png_records_parameters(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    first = await stub.Generate(pb.GenerateRequest(spec=spec(seed=123)))
    again = await stub.Generate(pb.GenerateRequest(spec=spec(seed=123)))
    other = await stub.Generate(pb.GenerateRequest(spec=spec(seed=124)))
    assert first.images[0].image.data == again.images[0].image.data
    assert np.abs(pixels(first.images[0].image.data) - pixels(other.images[0].image.data)).max() > 10
    png = Image.open(io.BytesIO(first.images[0].image.data))
    assert png.format == "PNG"
    assert png.info["prompt"] == "a big red circle on the left"
    assert png.info["seed"] == "123"
    assert '"steps": 4' in png.info["parameters"]
    # Image i of a call uses seed + i: the second image of seed 123 is the first of seed 124.
    pair = await stub.Generate(pb.GenerateRequest(spec=spec(seed=123, image_count=2)))
    assert np.abs(pixels(pair.images[1].image.data) - pixels(other.images[0].image.data)).max() <= 1


async def test_batched_calls_equal_unbatched_calls(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    prompts = ["a red circle", "a blue square on the right", "a small green triangle"]
    alone = [
        (await stub.Generate(pb.GenerateRequest(spec=spec(prompt=p, seed=40 + i))))
        for i, p in enumerate(prompts)
    ]
    batches_before = sample(
        generator_app, "imaging_batch_size_count", {"model": "generator", "operation": "generate"}
    )
    together = await asyncio.gather(
        *(stub.Generate(pb.GenerateRequest(spec=spec(prompt=p, seed=40 + i))) for i, p in enumerate(prompts))
    )
    batches = (
        sample(generator_app, "imaging_batch_size_count", {"model": "generator", "operation": "generate"})
        - batches_before
    )
    assert batches < len(prompts), "compatible calls should have shared a pipeline call"
    for single, batched in zip(alone, together, strict=True):
        # One pipeline call for all: each image keeps its own seeded noise. Batched matrix
        # products round differently in the last float bit, so a pixel may move by one level.
        difference = np.abs(pixels(single.images[0].image.data) - pixels(batched.images[0].image.data))
        assert difference.max() <= 1
    # The three prompts really differ: batching did not hand one image to everyone.
    assert (
        np.abs(pixels(together[0].images[0].image.data) - pixels(together[1].images[0].image.data)).max() > 10
    )


async def test_stream_sends_each_step_with_previews_then_the_result(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    events = [
        event
        async for event in stub.StreamGenerate(
            pb.StreamGenerateRequest(spec=spec(steps=5, variant=KLEIN), preview_every_steps=2)
        )
    ]
    progress = [e.progress for e in events[:-1]]
    assert [p.step for p in progress] == [1, 2, 3, 4, 5]
    assert all(p.total_steps == 5 for p in progress)
    assert [p.step for p in progress if p.HasField("preview")] == [2, 4]
    preview = Image.open(io.BytesIO(progress[1].preview.data))
    assert preview.size[0] <= 64
    elapsed = [p.elapsed_duration.ToNanoseconds() for p in progress]
    assert elapsed == sorted(elapsed)
    assert progress[-1].estimated_remaining_duration.ToNanoseconds() == 0
    assert events[-1].WhichOneof("event") == "result"
    assert len(events[-1].result.images) == 1 and events[-1].result.steps == 5
    assert sample(generator_app, "imaging_generator_images_total", {"variant": KLEIN}) == 1
    assert sample(generator_app, "imaging_generator_denoising_steps_total", {"variant": KLEIN}) == 5
    assert (
        sample(generator_app, "imaging_generator_time_to_first_step_seconds_count", {"variant": KLEIN}) == 1
    )


async def test_health_is_answered_promptly_while_a_stream_sends_big_previews(
    large_variants_file: Path,
) -> None:
    side = _LARGE_SIDE_PX
    request = pb.StreamGenerateRequest(
        spec=spec(variant=KLEIN, width_px=side, height_px=side, steps=2), preview_every_steps=1
    )
    async with (
        generator_server(large_variants_file, preview_max_side_px=side) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = generator_pb2_grpc.GeneratorServiceStub(channel)

        async def stream() -> list[pb.StreamGenerateResponse]:
            return [event async for event in stub.StreamGenerate(request)]

        latencies, events = await health_latencies_while(app, stream())
    previews = [e.progress.preview.data for e in events if e.progress.HasField("preview")]
    assert [Image.open(io.BytesIO(data)).size for data in previews] == [(side, side)]
    assert events[-1].WhichOneof("event") == "result"
    # Encoding a preview this big takes longer than that: it must not happen on the event loop.
    assert max(latencies) < 0.05, sorted(latencies)[-3:]


async def test_a_full_queue_refuses_calls_before_decoding_their_images(variants_file: Path) -> None:
    # A 16 MP reference image (the largest allowed) takes a few hundred ms to decode.
    big = common_pb2.Image(data=png_bytes(Image.new("RGB", (4000, 4000), (200, 30, 30))))
    flood = pb.GenerateRequest(spec=spec(variant=KLEIN, reference_images=[big]))
    async with (
        generator_server(variants_file, max_batch_size=1, max_queue_size=1) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = generator_pb2_grpc.GeneratorServiceStub(channel)
        busy = stub.StreamGenerate(pb.StreamGenerateRequest(spec=spec(steps=1000)))
        await busy.read()  # its first step ran: the pipeline is busy
        queued = asyncio.ensure_future(stub.Generate(pb.GenerateRequest(spec=spec(steps=1))))
        while sample(app, "imaging_queue_depth", {"model": "generator", "operation": "generate"}) < 1:
            await asyncio.sleep(0.005)

        async def refused() -> tuple[grpc.StatusCode, float]:
            started = time.perf_counter()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Generate(flood)
            return caught.value.code(), time.perf_counter() - started

        async def refuse_all() -> list[tuple[grpc.StatusCode, float]]:
            return await asyncio.gather(*(refused() for _ in range(12)))

        latencies, outcomes = await health_latencies_while(app, refuse_all())
        busy.cancel()
        await queued
    assert {code for code, _ in outcomes} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert max(seconds for _, seconds in outcomes) < 0.1, sorted(seconds for _, seconds in outcomes)
    assert max(latencies) < 0.05, sorted(latencies)[-3:]
    assert sample(app, "imaging_queue_rejected_total", {"model": "generator", "operation": "generate"}) == 12


async def test_timings_are_recorded_per_variant(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    await stub.Generate(pb.GenerateRequest(spec=spec()))
    async for _ in stub.StreamGenerate(pb.StreamGenerateRequest(spec=spec(variant=KLEIN))):
        pass
    names = ("queue_wait_seconds", "time_to_first_step_seconds", "latency_seconds")
    for variant in (SCHNELL, KLEIN):
        labels = {"variant": variant}
        counts = [sample(generator_app, f"imaging_generator_{name}_count", labels) for name in names]
        assert counts == [1, 1, 1], variant
        queue, first_step, latency = (
            sample(generator_app, f"imaging_generator_{name}_sum", labels) for name in names
        )
        assert 0 < queue <= first_step <= latency, variant


def test_every_imaging_metric_help_names_its_unit(generator_app: ServingApp) -> None:
    units = ("in seconds", "in images", "in megapixels", "in steps", "in queue items")
    families = [f for f in generator_app.registry.collect() if f.name.startswith("imaging_")]
    for family in families:
        assert any(unit in family.documentation for unit in units), (family.name, family.documentation)
    assert len(families) == 13


async def test_cancelling_a_stream_stops_its_denoising(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    total = 1000
    call = stub.StreamGenerate(pb.StreamGenerateRequest(spec=spec(steps=total)))
    seen = []
    async for event in call:
        seen.append(event.progress.step)
        if event.progress.step == 2:
            call.cancel()
            break
    assert seen == [1, 2]
    # The worker runs one pipeline call at a time: this one starts once the cancelled one stopped.
    follow_up = await stub.Generate(pb.GenerateRequest(spec=spec(steps=3)))
    assert follow_up.steps == 3
    steps = sample(generator_app, "imaging_generator_denoising_steps_total", {"variant": SCHNELL})
    assert steps - 3 < total / 4, f"{steps - 3} of {total} steps ran for the cancelled call"
    assert sample(generator_app, "imaging_generator_images_total", {"variant": SCHNELL}) == 1


async def test_a_passed_deadline_stops_the_denoising(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    total = 1000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Generate(pb.GenerateRequest(spec=spec(steps=total)), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await stub.Generate(pb.GenerateRequest(spec=spec(steps=1)))  # runs once the expired call stopped
    steps = sample(generator_app, "imaging_generator_denoising_steps_total", {"variant": SCHNELL})
    assert 1 <= steps - 1 < total / 2, f"{steps - 1} of {total} steps ran for the expired call"


async def test_flux2_reference_images_edit_and_are_priced(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    red = png_bytes(Image.new("RGB", (64, 64), (220, 30, 30)))
    blue = png_bytes(Image.new("RGB", (64, 64), (30, 30, 220)))
    plain = await stub.Generate(pb.GenerateRequest(spec=spec(variant=KLEIN)))
    with_red = await stub.Generate(
        pb.GenerateRequest(spec=spec(variant=KLEIN, reference_images=[common_pb2.Image(data=red)]))
    )
    with_both = await stub.Generate(
        pb.GenerateRequest(
            spec=spec(
                variant=KLEIN, reference_images=[common_pb2.Image(data=red), common_pb2.Image(data=blue)]
            )
        )
    )
    assert np.abs(pixels(plain.images[0].image.data) - pixels(with_red.images[0].image.data)).max() > 0
    assert np.abs(pixels(with_red.images[0].image.data) - pixels(with_both.images[0].image.data)).max() > 0
    assert with_both.usage.input_megapixels == pytest.approx(2 * 64 * 64 / 1e6)
    # 14,000 for the first output megapixel + 500,000 per input megapixel x 0.008192 MP.
    assert with_both.images[0].cost.amount_micros == 14000 + 4096
    assert plain.images[0].cost.amount_micros == 14000


async def test_reference_megapixels_are_priced_to_the_rounded_micro(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    reference = common_pb2.Image(data=png_bytes(Image.new("RGB", (65, 65), (220, 30, 30))))
    response = await stub.Generate(pb.GenerateRequest(spec=spec(variant=KLEIN, reference_images=[reference])))
    # 14,000 + 500,000 per input megapixel x 0.004225 MP = 16,112.5: half a micro rounds up.
    assert response.images[0].cost.amount_micros == 16113
    assert response.usage.cost.amount_micros == 16113
    assert response.usage.input_megapixels == pytest.approx(0.004225)


async def test_quote_prices_exactly_what_generate_bills_without_generating(
    generator_app: ServingApp, stub: generator_pb2_grpc.GeneratorServiceStub
) -> None:
    red = png_bytes(Image.new("RGB", (80, 64), (220, 30, 30)))
    for asked in (
        spec(image_count=3, width_px=128, height_px=64),
        spec(variant=KLEIN, image_count=2, reference_images=[common_pb2.Image(data=red)], steps=3),
    ):
        images_before = sample(generator_app, "imaging_generator_images_total", {"variant": asked.variant})
        quoted = await stub.Quote(pb.QuoteRequest(spec=asked))
        assert sample(generator_app, "imaging_generator_images_total", {"variant": asked.variant}) == (
            images_before
        )
        generated = await stub.Generate(pb.GenerateRequest(spec=asked))
        assert (quoted.width_px, quoted.height_px) == (
            generated.images[0].width_px,
            generated.images[0].height_px,
        )
        assert quoted.steps == generated.steps
        assert quoted.image_count == len(generated.images) == asked.image_count
        assert quoted.cost_per_image == generated.images[0].cost
        assert quoted.usage == generated.usage
    assert quoted.usage.input_megapixels == pytest.approx(80 * 64 / 1e6)


async def test_quote_refuses_what_generate_would_refuse(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Quote(pb.QuoteRequest(spec=spec(width_px=100, height_px=64)))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.width_px" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as corrupt:
        bad = common_pb2.Image(data=b"not an image")
        await stub.Quote(pb.QuoteRequest(spec=spec(variant=KLEIN, reference_images=[bad])))
    assert corrupt.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.reference_images[0].data" in (corrupt.value.details() or "")


async def test_flux1_img2img_and_inpaint(stub: generator_pb2_grpc.GeneratorServiceStub) -> None:
    reference = [common_pb2.Image(data=png_bytes(Image.new("RGB", (64, 64), (220, 30, 30))))]
    img2img = await stub.Generate(pb.GenerateRequest(spec=spec(reference_images=reference, strength=0.5)))
    # Strength 0.5 of 4 steps: the pipeline starts half way and runs 2 steps.
    assert img2img.steps == 2 and len(img2img.images) == 1

    def inpaint(mask_colour: int, prompt: str) -> pb.GenerateRequest:
        mask = png_bytes(Image.new("L", (64, 64), mask_colour))
        return pb.GenerateRequest(
            spec=spec(
                prompt=prompt, reference_images=reference, mask=common_pb2.Image(data=mask), strength=1.0
            )
        )

    # Black keeps everything, so the prompt cannot change the picture; white repaints everything.
    prompts = ("a red circle", "a blue square on the right")
    kept = [await stub.Generate(inpaint(0, prompt)) for prompt in prompts]
    repainted = [await stub.Generate(inpaint(255, prompt)) for prompt in prompts]
    assert np.abs(pixels(kept[0].images[0].image.data) - pixels(kept[1].images[0].image.data)).max() <= 1
    difference = pixels(repainted[0].images[0].image.data) - pixels(repainted[1].images[0].image.data)
    assert np.abs(difference).max() > 10
    assert kept[0].usage.input_megapixels == pytest.approx(64 * 64 / 1e6)


async def test_flux1_takes_reference_images_of_any_size(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    # img2img and inpaint resize the start image and mask to the output size.
    for width, height in ((1, 1), (8, 700)):
        image = common_pb2.Image(data=png_bytes(Image.new("RGB", (width, height), (220, 30, 30))))
        mask = common_pb2.Image(data=png_bytes(Image.new("L", (width, height), 255)))
        for masked in (None, mask):
            response = await stub.Generate(
                pb.GenerateRequest(spec=spec(steps=1, reference_images=[image], mask=masked))
            )
            assert len(response.images) == 1, (width, height, masked is not None)


INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
_JUNK = common_pb2.Image(data=b"not an image")
_BLACK = common_pb2.Image(data=png_bytes(Image.new("RGB", (64, 64))))
# Smaller on one side, or narrower, than Flux2KleinPipeline takes as a reference image.
_NARROW = common_pb2.Image(data=png_bytes(Image.new("RGB", (64, 63))))
_SLIVER = common_pb2.Image(data=png_bytes(Image.new("RGB", (576, 64))))

# (fields that differ from a good spec, expected code, the field the error names)
_BAD: list[tuple[dict[str, Any], grpc.StatusCode, str]] = [
    ({"prompt": "  "}, INVALID, "spec.prompt"),
    ({"prompt": "x" * 65}, INVALID, "spec.prompt"),
    ({"variant": "flux.3"}, NOT_FOUND, "spec.variant"),
    ({"variant": "flux.1-dev"}, NOT_FOUND, "spec.variant"),  # configured, checkpoint missing
    ({"variant": ""}, INVALID, "spec.variant"),
    ({"width_px": 72, "height_px": 64}, INVALID, "spec.width_px"),
    ({"width_px": 64}, INVALID, "spec.height_px"),
    ({"width_px": 64, "height_px": 256}, INVALID, "spec.height_px"),
    ({"width_px": 48, "height_px": 64}, INVALID, "spec.width_px"),
    ({"width_px": 128, "height_px": 128}, INVALID, "spec.width_px"),
    ({"aspect_ratio": "wide"}, INVALID, "spec.aspect_ratio"),
    ({"aspect_ratio": "1:1", "megapixels": 2.0}, INVALID, "spec.megapixels"),
    ({"steps": 0}, INVALID, "spec.steps"),
    ({"steps": 1001}, INVALID, "spec.steps"),
    ({"guidance_scale": 25.0}, INVALID, "spec.guidance_scale"),
    ({"variant": KLEIN, "true_cfg_scale": 3.0}, INVALID, "spec.true_cfg_scale"),
    ({"image_count": 5}, INVALID, "spec.image_count"),
    ({"seed": -1}, INVALID, "spec.seed"),
    ({"output_quality": 101}, INVALID, "spec.output_quality"),
    ({"reference_images": [_JUNK, _JUNK]}, INVALID, "spec.reference_images"),
    ({"reference_images": [_JUNK]}, INVALID, "spec.reference_images[0].data"),
    ({"variant": KLEIN, "mask": _JUNK}, INVALID, "spec.mask"),
    ({"mask": _JUNK}, INVALID, "spec.mask"),  # no image to inpaint
    ({"reference_images": [_BLACK], "strength": 1.5}, INVALID, "spec.strength"),
    ({"variant": KLEIN, "reference_images": [_NARROW]}, INVALID, "spec.reference_images[0].data"),
    ({"variant": KLEIN, "reference_images": [_BLACK, _SLIVER]}, INVALID, "spec.reference_images[1].data"),
    ({"adapter": "outline"}, INVALID, "spec.adapter"),  # this server serves no adapters
]


async def test_bad_input_names_the_field_and_the_server_keeps_serving(
    stub: generator_pb2_grpc.GeneratorServiceStub,
) -> None:
    for overrides, code, field in _BAD:
        request = spec(**overrides)
        name = f"{field}: {overrides}"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Generate(pb.GenerateRequest(spec=request))
        info = imaging.errors.details(caught.value)
        assert info.code == code, name
        assert [v.field for v in info.field_violations] == [field], name

    image = png_bytes(Image.new("RGB", (64, 64)))
    small_mask = png_bytes(Image.new("L", (32, 32)))
    mismatch = spec(reference_images=[common_pb2.Image(data=image)], mask=common_pb2.Image(data=small_mask))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Generate(pb.GenerateRequest(spec=mismatch))
    assert [v.field for v in imaging.errors.details(caught.value).field_violations] == ["spec.mask"]
    with pytest.raises(grpc.aio.AioRpcError) as caught_stream:
        async for _ in stub.StreamGenerate(pb.StreamGenerateRequest(spec=spec(), preview_every_steps=-1)):
            pass
    assert imaging.errors.details(caught_stream.value).field_violations[0].field == "preview_every_steps"

    response = await stub.Generate(pb.GenerateRequest(spec=spec()))
    assert len(response.images) == 1


# -- the registry, prices and sizes, without a server ----------------------------------


def _real_flux2() -> VariantConfig:
    """A FLUX.2 [pro]-like variant with real-model limits."""
    return VariantConfig(
        name="flux.2-pro",
        family=Family.FLUX_2,
        pipeline="Flux2KleinPipeline",
        checkpoint="hub:black-forest-labs/FLUX.2-pro",
        description="",
        pricing=Pricing(PricingModel.MEGAPIXEL, 0, 30000, 15000, 15000),
        min_side_px=64,
        max_side_px=2048,
        max_megapixels=4.0,
        default_width_px=1024,
        default_height_px=1024,
        default_steps=28,
    )


def test_megapixel_pricing_charges_the_first_megapixel_then_pro_rata() -> None:
    pricing = _real_flux2().pricing
    assert pricing.image_cost_micros(250_000, 0) == 30000  # part of the first megapixel: its full price
    assert pricing.image_cost_micros(1_000_000, 0) == 30000
    assert pricing.image_cost_micros(2_500_000, 0) == 30000 + 22500
    assert pricing.image_cost_micros(1_000_000, 2_000_000) == 30000 + 30000
    assert Pricing(PricingModel.FLAT, per_image_micros=3000).image_cost_micros(4_000_000, 3_000_000) == 3000


def test_megapixel_prices_round_half_up_to_a_whole_micro() -> None:
    pricing = _real_flux2().pricing
    # 1024x1024 is 1.048576 MP: 30,000 + 15,000 x 0.048576 = 30,728.64 micros.
    assert pricing.image_cost_micros(1024 * 1024, 0) == 30729
    # 1,000,100 output pixels: 30,000 + 1.5 micros, exactly half way.
    assert pricing.image_cost_micros(1_000_100, 0) == 30002
    # Each input pixel costs 0.015 micros: 100 pixels are 1.5 micros, again half way.
    assert pricing.image_cost_micros(1024 * 1024, 100) == 30730


def test_aspect_ratio_sizes_keep_the_exact_ratio_and_multiple() -> None:
    variant = _real_flux2()
    assert validation.size(GenerationSpec(aspect_ratio="16:9", megapixels=1.0), variant) == (1280, 720)
    assert validation.size(GenerationSpec(aspect_ratio="1:1", megapixels=1.0), variant) == (992, 992)
    assert validation.size(GenerationSpec(aspect_ratio="3:2"), variant) == (1248, 832)  # the default area
    assert validation.size(GenerationSpec(), variant) == (1024, 1024)
    with pytest.raises(InvalidArgument) as caught:
        validation.size(GenerationSpec(aspect_ratio="64:1", megapixels=0.1), variant)
    assert caught.value.violations[0].field == "spec.aspect_ratio"


def test_registry_rejects_malformed_variants(tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    good = {"family": "flux.1", "pipeline": "FluxPipeline", "checkpoint": str(checkpoint), "description": ""}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"colour": "red"}, "unknown keys"),
        ({"family": "flux.3"}, "family must be one of"),
        ({"min_side_px": 72}, "multiple of side_multiple_px"),
        ({"pipeline": "Flux2KleinPipeline"}, "pipeline must be one of"),
        ({"pricing": {"model": "per_token"}}, "bad pricing"),
    ]
    for change, message in cases:
        raw = {**good, "pricing": {"model": "flat", "per_image_micros": 1}, **change}
        path = tmp_path / "variants.yaml"
        path.write_text(json.dumps({"variants": {"v": raw}}))
        with pytest.raises(ValueError, match=message):
            load_registry(path)
