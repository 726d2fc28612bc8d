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
from generator_svc.options import GenerationJob, GenerationResult, StepEvent
from generator_svc.service import GeneratorRuntime
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from serving import errors
from serving.images import ImageLimits, decode_image, encode_image

_Context = Any  # grpc.aio.ServicerContext; only time_remaining() is used

_PREVIEW_MEDIA_TYPE = "image/png"


@dataclasses.dataclass(frozen=True)
class _Call:
    """A validated call: what to submit and what the response needs."""

    plan: convert.Plan
    job: GenerationJob
    input_megapixels: float


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
        call = await self._call(request.spec, arrived, preview_every_steps=0)
        result = await self.runtime.batcher.submit(
            call.job, key=call.plan.key, timeout_s=context.time_remaining()
        )
        return await self._response(call, result, arrived)

    async def StreamGenerate(
        self, request: pb.StreamGenerateRequest, context: _Context
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        arrived = time.monotonic()
        if request.preview_every_steps < 0:
            raise errors.InvalidArgument.of("preview_every_steps", "must be >= 0 (0: no previews)")
        call = await self._call(request.spec, arrived, request.preview_every_steps)
        events = self.runtime.batcher.stream(call.job, key=call.plan.key, timeout_s=context.time_remaining())
        async for event in events:
            if isinstance(event, StepEvent):
                yield pb.StreamGenerateResponse(progress=self._progress(event))
            elif isinstance(event, GenerationResult):
                yield pb.StreamGenerateResponse(result=await self._response(call, event, arrived))

    # -- helpers ----------------------------------------------------------------------

    async def _call(self, spec: pb.GenerationSpec, arrived: float, preview_every_steps: int) -> _Call:
        plan = convert.plan(spec, self.runtime.registry)
        references: tuple[Image.Image, ...] = ()
        mask: Image.Image | None = None
        input_megapixels = 0.0
        if spec.reference_images or spec.HasField("mask"):
            references, mask, input_megapixels = await asyncio.to_thread(
                self._decode_images, spec.reference_images, spec.mask if spec.HasField("mask") else None
            )
        key = plan.key
        if references:
            # A pipeline call shares its reference images across the batch: these calls run alone.
            key = dataclasses.replace(key, solo=self.runtime.next_solo())
            plan = dataclasses.replace(plan, key=key)
        job = GenerationJob(
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            seeds=plan.seeds,
            reference_images=references,
            mask=mask,
            strength=plan.strength,
            preview_every_steps=preview_every_steps,
            arrived_at=arrived,
        )
        return _Call(plan, job, input_megapixels)

    def _decode_images(
        self, images: Sequence[common_pb2.Image], mask: common_pb2.Image | None
    ) -> tuple[tuple[Image.Image, ...], Image.Image | None, float]:
        decoded = [
            decode_image(image.data, image.media_type, f"spec.reference_images[{index}]", self.limits)
            for index, image in enumerate(images)
        ]
        mask_image = None
        if mask is not None:
            mask_image = decode_image(mask.data, mask.media_type, "spec.mask", self.limits).image
            if mask_image.size != decoded[0].image.size:
                raise errors.InvalidArgument.of(
                    "spec.mask",
                    f"the mask is {mask_image.width}x{mask_image.height}; it must be the size of "
                    f"reference_images[0] ({decoded[0].image.width}x{decoded[0].image.height})",
                )
            mask_image = mask_image.convert("L")
        return tuple(d.image for d in decoded), mask_image, sum(d.megapixels for d in decoded)

    @staticmethod
    def _progress(event: StepEvent) -> pb.StepProgress:
        progress = pb.StepProgress(
            step=event.step,
            total_steps=event.total_steps,
            elapsed_duration=convert.duration(event.elapsed_s),
            estimated_remaining_duration=convert.duration(event.remaining_s),
        )
        if event.preview is not None:
            data = encode_image(event.preview, _PREVIEW_MEDIA_TYPE)
            progress.preview.CopyFrom(common_pb2.Image(data=data, media_type=_PREVIEW_MEDIA_TYPE))
        return progress

    async def _response(self, call: _Call, result: GenerationResult, arrived: float) -> pb.GenerateResponse:
        plan, key = call.plan, call.plan.key
        encode_started = time.perf_counter()
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

        def encode_all() -> list[bytes]:
            return [
                encode_image(image, plan.media_type, plan.quality, {**text, "seed": str(seed)})
                for image, seed in zip(result.images, result.seeds, strict=True)
            ]

        files = await asyncio.to_thread(encode_all)
        encode_s = time.perf_counter() - encode_started
        megapixels = key.width_px * key.height_px / 1_000_000
        image_cost = plan.variant.pricing.image_cost_micros(megapixels, call.input_megapixels)
        currency = self.settings.currency_code
        metrics = self.runtime.metrics
        metrics.images.labels(key.variant).inc(len(files))
        metrics.megapixels.labels(key.variant).inc(megapixels * len(files))
        metrics.time_to_first_step.observe(max(0.0, result.first_step_at - arrived))
        return pb.GenerateResponse(
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
                megapixels=round(megapixels * len(files), 6),
                input_megapixels=round(call.input_megapixels, 6),
                cost=convert.cost(image_cost * len(files), currency),
            ),
        )
