"""Generation as typed calls: validate a spec, decode its images, run it
through the batcher, encode and price its images, record its metrics.

Knows nothing of gRPC: ``servicer`` converts the messages (``convert``) and
awaits these methods. Every pipeline call goes through the one batcher, so
``max_queue_size`` bounds all work on the GPU/CPU and a cancelled call never
reaches it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable

from generator_svc import references, validation
from generator_svc.calls import EncodedImage, Generated, GenerationSpec, ImageFile, Progress, Quoted
from generator_svc.metrics import GeneratorMetrics
from generator_svc.options import GenerationJob, GenerationResult, StepEvent
from generator_svc.variants import MEGAPIXEL, Registry, VariantConfig
from serving import errors
from serving.batcher import MicroBatcher
from serving.images import ImageLimits, encode_image

PREVIEW_FORMAT = "image/png"
# Usage megapixels are reported to the pixel (1e-6 MP).
MEGAPIXEL_DECIMALS = 6

# Seconds left to the call's deadline (None: none), read when the job is queued.
TimeLeft = Callable[[], float | None]


@dataclasses.dataclass(frozen=True)
class _Call:
    """A validated call: its plan, the job to submit and its input pixels."""

    plan: validation.Plan
    job: GenerationJob
    input_pixels: int


class Generation:
    """The served variants and the calls on them, for ``GeneratorServicer``."""

    def __init__(
        self,
        registry: Registry,
        batcher: MicroBatcher[GenerationJob, GenerationResult],
        metrics: GeneratorMetrics,
        limits: ImageLimits,
        currency_code: str,
    ) -> None:
        self.registry = registry
        self.batcher = batcher
        self.metrics = metrics
        self.limits = limits
        self.currency_code = currency_code
        self._solo = 0

    def variants(self) -> list[VariantConfig]:
        return self.registry.served

    async def generate(self, spec: GenerationSpec, time_left: TimeLeft) -> Generated:
        arrived = time.monotonic()
        plan = validation.plan(spec, self.registry)
        # Queue room first: a full queue refuses the call before its images are decoded.
        with self.batcher.reserve() as room:
            call = await self._call(plan, spec, preview_every_steps=0)
            result = await self.batcher.submit(
                call.job, key=call.plan.key, timeout_s=time_left(), reservation=room
            )
        return await self._finish(call, result, arrived)

    async def quote(self, spec: GenerationSpec) -> Quoted:
        """What ``generate`` would make of ``spec`` and its price, without queueing anything.

        Reference images and the mask are decoded as for generation: the same
        errors, and FLUX.2's per-input-megapixel price from their real sizes."""
        plan = validation.plan(spec, self.registry)
        call = await self._call(plan, spec, preview_every_steps=0)
        key = plan.key
        output_pixels = key.width_px * key.height_px
        count = len(plan.seeds)
        return Quoted(
            variant=key.variant,
            width_px=key.width_px,
            height_px=key.height_px,
            steps=key.steps,
            image_count=count,
            currency_code=self.currency_code,
            image_cost_micros=plan.variant.pricing.image_cost_micros(output_pixels, call.input_pixels),
            megapixels=round(output_pixels / MEGAPIXEL * count, MEGAPIXEL_DECIMALS),
            input_megapixels=round(call.input_pixels / MEGAPIXEL, MEGAPIXEL_DECIMALS),
        )

    async def stream(
        self, spec: GenerationSpec, preview_every_steps: int, time_left: TimeLeft
    ) -> AsyncIterator[Progress | Generated]:
        """A ``Progress`` per denoising step, then the ``Generated`` call."""
        arrived = time.monotonic()
        if preview_every_steps < 0:
            raise errors.InvalidArgument.of("preview_every_steps", "must be >= 0 (0: no previews)")
        plan = validation.plan(spec, self.registry)
        with self.batcher.reserve() as room:
            call = await self._call(plan, spec, preview_every_steps)
            events = self.batcher.stream(call.job, key=call.plan.key, timeout_s=time_left(), reservation=room)
            async for event in events:
                if isinstance(event, StepEvent):
                    yield await _progress(event)
                elif isinstance(event, GenerationResult):
                    yield await self._finish(call, event, arrived)

    async def _call(self, plan: validation.Plan, spec: GenerationSpec, preview_every_steps: int) -> _Call:
        """Decodes the reference images (off the event loop) and builds the job."""
        decoded = references.NO_REFERENCES
        if spec.reference_images:
            decoded = await asyncio.to_thread(
                references.decode, spec.reference_images, spec.mask, plan.variant.family, self.limits
            )
            # A pipeline call shares its reference images across the batch: these calls run alone.
            self._solo += 1
            plan = dataclasses.replace(plan, key=dataclasses.replace(plan.key, solo=self._solo))
        job = GenerationJob(
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            seeds=plan.seeds,
            reference_images=decoded.images,
            mask=decoded.mask,
            strength=plan.strength,
            preview_every_steps=preview_every_steps,
        )
        return _Call(plan, job, decoded.pixels)

    async def _finish(self, call: _Call, result: GenerationResult, arrived: float) -> Generated:
        """Encodes (small images on the event loop, others in a thread) and prices
        the images, and records the call."""
        plan, key = call.plan, call.plan.key
        encode_started = time.perf_counter()
        if key.width_px * key.height_px <= INLINE_ENCODE_MAX_PIXELS:
            files = _encode_all(call, result)  # well under a millisecond: no thread hand-off
        else:
            files = await asyncio.to_thread(_encode_all, call, result)
        encode_s = time.perf_counter() - encode_started
        output_pixels = key.width_px * key.height_px
        image_cost = plan.variant.pricing.image_cost_micros(output_pixels, call.input_pixels)
        images = tuple(
            ImageFile(data, plan.output_format.value, seed, key.width_px, key.height_px, image_cost)
            for data, seed in zip(files, result.seeds, strict=True)
        )
        megapixels = output_pixels / MEGAPIXEL * len(images)
        self._record(call, result, arrived, megapixels)
        return Generated(
            images=images,
            variant=key.variant,
            steps=result.steps_run,
            currency_code=self.currency_code,
            queue_s=result.started_at - arrived,
            encode_s=result.encode_s,
            denoise_s=result.denoise_s,
            decode_s=result.decode_s + encode_s,
            total_s=time.monotonic() - arrived,
            megapixels=round(megapixels, MEGAPIXEL_DECIMALS),
            input_megapixels=round(call.input_pixels / MEGAPIXEL, MEGAPIXEL_DECIMALS),
            cost_micros=image_cost * len(images),
        )

    def _record(self, call: _Call, result: GenerationResult, arrived: float, megapixels: float) -> None:
        metrics, variant = self.metrics, call.plan.key.variant
        metrics.images.labels(variant).inc(len(result.images))
        metrics.megapixels.labels(variant).inc(megapixels)
        metrics.queue_wait_seconds.labels(variant).observe(max(0.0, result.started_at - arrived))
        metrics.time_to_first_step.labels(variant).observe(max(0.0, result.first_step_at - arrived))
        metrics.latency_seconds.labels(variant).observe(time.monotonic() - arrived)


# Output images up to this size are encoded on the event loop (measured here: 0.5 ms
# for a 64x64 PNG, 1.6 ms for a noisy 128x128 one), saving a thread hand-off;
# larger ones in a thread, so the loop stays responsive.
INLINE_ENCODE_MAX_PIXELS = 128 * 128


async def _progress(event: StepEvent) -> Progress:
    preview = None
    if event.preview is not None:
        # A large preview's PNG takes tens of ms: encoded off the event loop, like the results.
        data = await asyncio.to_thread(encode_image, event.preview, PREVIEW_FORMAT)
        preview = EncodedImage(data, PREVIEW_FORMAT)
    return Progress(event.step, event.total_steps, event.elapsed_s, event.remaining_s, preview)


def _encode_all(call: _Call, result: GenerationResult) -> list[bytes]:
    """The output files, each with the prompt, its seed and the parameters as text (PNG)."""
    plan, key = call.plan, call.plan.key
    text = {
        "prompt": plan.prompt,
        "parameters": json.dumps(
            {
                "variant": key.variant,
                "negative_prompt": plan.negative_prompt,
                "width": key.width_px,
                "height": key.height_px,
                "steps": key.steps,
                "guidance_scale": key.guidance_scale,
                "true_cfg_scale": key.true_cfg_scale,
                "strength": plan.strength,
                "reference_images": len(call.job.reference_images),
                "adapter": key.adapter,
            }
        ),
    }
    return [
        encode_image(image, plan.output_format.value, plan.quality, {**text, "seed": str(seed)})
        for image, seed in zip(result.images, result.seeds, strict=True)
    ]
