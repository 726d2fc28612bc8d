"""``imaging.generator.v1.GeneratorService``: validate, convert, await the
runtime's batcher, convert back. Nothing else happens here."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from PIL import Image

from generator_svc import convert
from generator_svc.options import BatchKey, GenerationJob, GenerationResult, StepEvent
from generator_svc.service import GeneratorRuntime
from generator_svc.variants import MEGAPIXEL
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from serving import errors
from serving.images import ImageLimits, decode_image, encode_image

_Context = Any  # grpc.aio.ServicerContext; only time_remaining() is used

_PREVIEW_MEDIA_TYPE = "image/png"
# Usage megapixels are reported to the pixel (1e-6 MP).
_MEGAPIXEL_DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class _Call:
    """A validated call: what to submit and what the response needs."""

    plan: convert.Plan
    job: GenerationJob
    input_pixels: int

    @property
    def key(self) -> BatchKey:
        return self.plan.key


class GeneratorServicer(generator_pb2_grpc.GeneratorServiceServicer):
    def __init__(self, runtime: GeneratorRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.limits = ImageLimits(self.settings.max_image_bytes, self.settings.max_image_pixels)

    async def ListVariants(
        self, request: pb.ListVariantsRequest, context: _Context
    ) -> pb.ListVariantsResponse:
        registry = self.runtime.registry
        return pb.ListVariantsResponse(
            variants=[
                convert.variant_message(registry.variants[name], self.settings.currency_code)
                for name in registry.names
            ]
        )

    async def Generate(self, request: pb.GenerateRequest, context: _Context) -> pb.GenerateResponse:
        arrived = time.monotonic()
        plan = convert.plan(request.spec, self.runtime.registry)
        # Queue room first: a full queue refuses the call before its images are decoded.
        with self.runtime.batcher.reserve() as room:
            call = await self._call(plan, request.spec, preview_every_steps=0)
            result = await self.runtime.batcher.submit(
                call.job, key=call.key, timeout_s=context.time_remaining(), reservation=room
            )
        return await self._response(call, result, arrived)

    async def StreamGenerate(
        self, request: pb.StreamGenerateRequest, context: _Context
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        arrived = time.monotonic()
        if request.preview_every_steps < 0:
            raise errors.InvalidArgument.of("preview_every_steps", "must be >= 0 (0: no previews)")
        plan = convert.plan(request.spec, self.runtime.registry)
        with self.runtime.batcher.reserve() as room:
            call = await self._call(plan, request.spec, request.preview_every_steps)
            events = self.runtime.batcher.stream(
                call.job, key=call.key, timeout_s=context.time_remaining(), reservation=room
            )
            async for event in events:
                if isinstance(event, StepEvent):
                    yield pb.StreamGenerateResponse(progress=await self._progress(event))
                elif isinstance(event, GenerationResult):
                    yield pb.StreamGenerateResponse(result=await self._response(call, event, arrived))

    # -- helpers ----------------------------------------------------------------------

    async def _call(self, plan: convert.Plan, spec: pb.GenerationSpec, preview_every_steps: int) -> _Call:
        """Decodes the reference images (off the event loop) and builds the job."""
        references: tuple[Image.Image, ...] = ()
        mask: Image.Image | None = None
        input_pixels = 0
        if spec.reference_images or spec.HasField("mask"):
            references, mask, input_pixels = await asyncio.to_thread(
                self._decode_images, spec.reference_images, spec.mask if spec.HasField("mask") else None
            )
        if references:
            # A pipeline call shares its reference images across the batch: these calls run alone.
            plan = dataclasses.replace(plan, key=dataclasses.replace(plan.key, solo=self.runtime.next_solo()))
        job = GenerationJob(
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            seeds=plan.seeds,
            reference_images=references,
            mask=mask,
            strength=plan.strength,
            preview_every_steps=preview_every_steps,
        )
        return _Call(plan, job, input_pixels)

    def _decode_images(
        self, images: Sequence[common_pb2.Image], mask: common_pb2.Image | None
    ) -> tuple[tuple[Image.Image, ...], Image.Image | None, int]:
        """The reference images, the mask (as L) and the references' pixel count."""
        decoded = [
            decode_image(image.data, image.media_type, f"spec.reference_images[{index}]", self.limits).image
            for index, image in enumerate(images)
        ]
        mask_image = None
        if mask is not None:
            mask_image = decode_image(mask.data, mask.media_type, "spec.mask", self.limits).image
            if mask_image.size != decoded[0].size:
                raise errors.InvalidArgument.of(
                    "spec.mask",
                    f"the mask is {mask_image.width}x{mask_image.height}; it must be the size of "
                    f"reference_images[0] ({decoded[0].width}x{decoded[0].height})",
                )
            mask_image = mask_image.convert("L")
        return tuple(decoded), mask_image, sum(image.width * image.height for image in decoded)

    @staticmethod
    async def _progress(event: StepEvent) -> pb.StepProgress:
        progress = pb.StepProgress(
            step=event.step,
            total_steps=event.total_steps,
            elapsed_duration=convert.duration(event.elapsed_s),
            estimated_remaining_duration=convert.duration(event.remaining_s),
        )
        if event.preview is not None:
            # A large preview's PNG takes tens of ms: encoded off the event loop, like the results.
            data = await asyncio.to_thread(encode_image, event.preview, _PREVIEW_MEDIA_TYPE)
            progress.preview.CopyFrom(common_pb2.Image(data=data, media_type=_PREVIEW_MEDIA_TYPE))
        return progress

    async def _response(self, call: _Call, result: GenerationResult, arrived: float) -> pb.GenerateResponse:
        plan, key = call.plan, call.key
        encode_started = time.perf_counter()
        files = await asyncio.to_thread(self._encode_all, call, result)
        encode_s = time.perf_counter() - encode_started
        output_pixels = key.width_px * key.height_px
        megapixels = output_pixels / MEGAPIXEL
        image_cost = plan.variant.pricing.image_cost_micros(output_pixels, call.input_pixels)
        currency = self.settings.currency_code
        response = pb.GenerateResponse(
            images=[
                pb.GeneratedImage(
                    image=common_pb2.Image(data=data, media_type=plan.media_type),
                    seed=seed,
                    width_px=key.width_px,
                    height_px=key.height_px,
                    cost=convert.cost(image_cost, currency),
                )
                for data, seed in zip(files, result.seeds, strict=True)
            ],
            seed=result.seeds[0],
            variant=key.variant,
            steps=result.steps_run,
            timings=pb.Timings(
                queue_duration=convert.duration(result.started_at - arrived),
                encode_duration=convert.duration(result.encode_s),
                denoise_duration=convert.duration(result.denoise_s),
                decode_duration=convert.duration(result.decode_s + encode_s),
                total_duration=convert.duration(time.monotonic() - arrived),
            ),
            usage=common_pb2.Usage(
                image_count=len(files),
                megapixels=round(megapixels * len(files), _MEGAPIXEL_DECIMALS),
                input_megapixels=round(call.input_pixels / MEGAPIXEL, _MEGAPIXEL_DECIMALS),
                cost=convert.cost(image_cost * len(files), currency),
            ),
        )
        self._observe(key, result, arrived, len(files))
        return response

    @staticmethod
    def _encode_all(call: _Call, result: GenerationResult) -> list[bytes]:
        """The output files, each with the prompt, its seed and the parameters as text (PNG)."""
        plan, key = call.plan, call.key
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
                }
            ),
        }
        return [
            encode_image(image, plan.media_type, plan.quality, {**text, "seed": str(seed)})
            for image, seed in zip(result.images, result.seeds, strict=True)
        ]

    def _observe(self, key: BatchKey, result: GenerationResult, arrived: float, images: int) -> None:
        metrics, variant = self.runtime.metrics, key.variant
        metrics.images.labels(variant).inc(images)
        metrics.megapixels.labels(variant).inc(key.width_px * key.height_px / MEGAPIXEL * images)
        metrics.queue_wait_seconds.labels(variant).observe(max(0.0, result.started_at - arrived))
        metrics.time_to_first_step.labels(variant).observe(max(0.0, result.first_step_at - arrived))
        metrics.latency_seconds.labels(variant).observe(time.monotonic() - arrived)
