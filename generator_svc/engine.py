"""The FLUX engine: loads each checkpoint once and runs diffusers pipelines.

Pure compute, no transport: it imports torch and diffusers, never grpc or
the generated stubs. Every public method runs on the model's worker thread
(``serving.worker.ModelWorker``), one at a time, which is what makes sharing
one pipeline (and its img2img/inpaint forms) between variants safe.

A batch is one pipeline call: a list of prompt embeddings and one CPU
``torch.Generator`` per image, seeded with the image's seed, so an image's
noise never depends on its neighbours. The engine encodes prompts itself
(timed as ``encode``), asks the pipeline for latents (``denoise``) and decodes
them one image at a time (``decode``), which skips cancelled images and keeps
each image's VAE pass independent of the batch.

LoRA adapters load once per checkpoint (``load_lora_weights``) and are switched
per pipeline call: the batch key's adapter is enabled, or LoRA is disabled for
a call without one. A disabled LoRA layer computes exactly its base layer, so
such calls give the images of a server with no adapters at all.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from generator_svc.options import HUB_PREFIX, BatchKey, Family, GenerationJob, GenerationResult, StepEvent
from serving.compute import DtypeName, Row, torch_dtype

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    """Which checkpoints to load and how.

    ``checkpoints`` maps a checkpoint (directory or ``hub:owner/name``) to its
    pipeline class name. ``dtype`` applies to the transformer and VAE; text
    encoders stay float32 so prompt features keep their precision.
    ``cpu_offload`` (CUDA only) moves each component to the GPU while it runs;
    ``vae_tiling`` decodes large images tile by tile. ``cpu_threads`` > 0 sets
    torch's intra-op thread count (process-wide) when loading. Step previews
    are at most ``preview_max_side_px`` a side. ``adapters`` maps a checkpoint
    to its LoRA adapters, name -> directory (diffusers LoRA format).
    """

    checkpoints: dict[str, str]
    device: str
    dtype: DtypeName
    cpu_offload: bool
    vae_tiling: bool
    cpu_threads: int
    preview_max_side_px: int
    adapters: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class _Loaded:
    """A loaded checkpoint: its text-to-image pipeline and lazily built forms
    (which share its transformer, and so its LoRA layers). ``adapter`` is the
    active LoRA adapter ("": LoRA disabled); None when it has no adapters."""

    pipe: Any
    img2img: Any = None
    inpaint: Any = None
    adapter: str | None = None
    # Where prompts are encoded and the transformer's dtype: read once, as
    # diffusers finds each by walking every module or parameter.
    device: Any = None
    dtype: Any = None


class FluxEngine:
    """FLUX.1 (``FluxPipeline`` + img2img/inpaint) and FLUX.2 (``Flux2KleinPipeline``)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.dtype = torch_dtype(config.dtype)
        self._loaded: dict[str, _Loaded] = {}
        # Denoising steps run since start, all pipelines together (the worker thread writes it).
        self.steps_run = 0

    # -- loading --------------------------------------------------------------------

    def load(self) -> None:
        """Loads every configured checkpoint once (worker thread; may take minutes)."""
        import diffusers

        started = time.perf_counter()
        if self.config.cpu_threads:
            torch.set_num_threads(self.config.cpu_threads)
        for checkpoint, class_name in self.config.checkpoints.items():
            source = checkpoint.removeprefix(HUB_PREFIX)
            pipe = getattr(diffusers, class_name).from_pretrained(source, dtype=self.dtype)
            for name in ("text_encoder", "text_encoder_2"):
                encoder = getattr(pipe, name, None)
                if encoder is not None:
                    encoder.to(torch.float32)
            adapters = self.config.adapters.get(checkpoint, {})
            for name, path in sorted(adapters.items()):
                # Before moving the pipeline: the LoRA layers then follow it to the device (or offload).
                with warnings.catch_warnings():
                    # peft warns of every adapter after the first on one model; several are the point.
                    warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
                    pipe.load_lora_weights(path, adapter_name=name)
            if self.config.cpu_offload:
                pipe.enable_model_cpu_offload(device=self.config.device)
            else:
                pipe.to(self.device)
            if self.config.vae_tiling:
                pipe.vae.enable_tiling()
            pipe.set_progress_bar_config(disable=True)
            loaded = _Loaded(pipe, device=pipe._execution_device, dtype=pipe.transformer.dtype)
            if adapters:
                # A loaded adapter is active: calls start on the base model.
                pipe.disable_lora()
                loaded.adapter = ""
            self._loaded[checkpoint] = loaded
        _LOGGER.info(
            "pipelines loaded",
            extra={
                "checkpoints": len(self._loaded),
                "adapters": sum(len(names) for names in self.config.adapters.values()),
                "seconds": round(time.perf_counter() - started, 2),
            },
        )

    def close(self) -> None:
        self._loaded.clear()

    def _flux1_form(self, checkpoint: str, inpaint: bool) -> Any:
        """The img2img or inpaint pipeline built on the loaded components (nothing loads twice)."""
        from diffusers import FluxImg2ImgPipeline, FluxInpaintPipeline

        loaded = self._loaded[checkpoint]
        if inpaint and loaded.inpaint is None:
            loaded.inpaint = FluxInpaintPipeline(**_flux1_components(loaded.pipe))
            loaded.inpaint.set_progress_bar_config(disable=True)
        if not inpaint and loaded.img2img is None:
            loaded.img2img = FluxImg2ImgPipeline(**_flux1_components(loaded.pipe))
            loaded.img2img.set_progress_bar_config(disable=True)
        return loaded.inpaint if inpaint else loaded.img2img

    # -- generation -----------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self, key: BatchKey, jobs: Sequence[GenerationJob], rows: Sequence[Row]
    ) -> list[GenerationResult | None]:
        """Runs compatible jobs as one pipeline call; ``rows[i]`` streams and cancels job i.

        Returns one result per job, or None for a job whose caller left (its row
        was cancelled or its deadline passed: it stops costing compute at the
        next step; the whole call stops when every caller left), as
        ``serving.compute`` has it. Jobs with reference images come alone.
        """
        started = time.monotonic()
        if all(row.cancelled for row in rows):
            return [None] * len(jobs)
        image_jobs = [index for index, job in enumerate(jobs) for _ in job.seeds]
        prompts = [jobs[index].prompt for index in image_jobs]
        negatives = [jobs[index].negative_prompt or key.default_negative_prompt for index in image_jobs]
        generators = [torch.Generator(device="cpu").manual_seed(seed) for job in jobs for seed in job.seeds]
        first = jobs[0]

        loaded = self._loaded[key.checkpoint]
        _use_adapter(loaded, key.adapter)
        pipe = loaded.pipe
        encode_started = time.perf_counter()
        if key.family is Family.FLUX_1:
            kwargs = self._flux1_inputs(pipe, loaded, key, prompts, negatives)
            if first.reference_images:
                pipe = self._flux1_form(key.checkpoint, inpaint=first.mask is not None)
                kwargs.update(image=first.reference_images[0], strength=first.strength)
                if first.mask is not None:
                    kwargs["mask_image"] = first.mask
        else:
            kwargs = self._flux2_inputs(pipe, loaded, key, prompts, negatives)
            if first.reference_images:
                kwargs["image"] = list(first.reference_images)
        encode_s = time.perf_counter() - encode_started

        progress = _Progress(self, pipe, key, jobs, rows, started)
        denoise_started = time.perf_counter()
        latents = pipe(
            height=key.height_px,
            width=key.width_px,
            num_inference_steps=key.steps,
            generator=generators,
            output_type="latent",
            callback_on_step_end=progress,
            **kwargs,
        ).images
        denoise_s = time.perf_counter() - denoise_started

        decode_started = time.perf_counter()
        # One VAE pass over every image still wanted: the decoder batches as the denoiser does.
        live = [index for index, job_index in enumerate(image_jobs) if not rows[job_index].cancelled]
        decoded = self._decode(pipe, key, latents[live], preview=False) if live else []
        images: list[Image.Image | None] = [None] * len(image_jobs)
        for image_index, image in zip(live, decoded, strict=True):
            images[image_index] = image
        decode_s = time.perf_counter() - decode_started

        results: list[GenerationResult | None] = []
        for job_index, (job, row) in enumerate(zip(jobs, rows, strict=True)):
            mine = [image for image, owner in zip(images, image_jobs, strict=True) if owner == job_index]
            if row.cancelled or any(image is None for image in mine):
                results.append(None)
                continue
            results.append(
                GenerationResult(
                    images=tuple(image for image in mine if image is not None),
                    seeds=job.seeds,
                    steps_run=progress.step,
                    started_at=started,
                    first_step_at=progress.first_step_at or time.monotonic(),
                    encode_s=encode_s,
                    denoise_s=denoise_s,
                    decode_s=decode_s,
                )
            )
        return results

    def _flux1_inputs(
        self, pipe: Any, loaded: _Loaded, key: BatchKey, prompts: list[str], negatives: list[str]
    ) -> dict[str, Any]:
        dtype, device = loaded.dtype, loaded.device
        max_sequence_length = key.max_sequence_length
        embeds, pooled, _ = pipe.encode_prompt(
            prompt=prompts,
            prompt_2=None,
            device=device,
            max_sequence_length=max_sequence_length,
        )
        kwargs: dict[str, Any] = {
            "prompt_embeds": embeds.to(dtype),
            "pooled_prompt_embeds": pooled.to(dtype),
            "guidance_scale": key.guidance_scale,
            "true_cfg_scale": key.true_cfg_scale,
            "max_sequence_length": max_sequence_length,
        }
        if key.true_cfg_scale > 1:
            negative, negative_pooled, _ = pipe.encode_prompt(
                prompt=negatives,
                prompt_2=None,
                device=device,
                max_sequence_length=max_sequence_length,
            )
            kwargs.update(
                negative_prompt_embeds=negative.to(dtype),
                negative_pooled_prompt_embeds=negative_pooled.to(dtype),
            )
        return kwargs

    def _flux2_inputs(
        self, pipe: Any, loaded: _Loaded, key: BatchKey, prompts: list[str], negatives: list[str]
    ) -> dict[str, Any]:
        dtype, device = loaded.dtype, loaded.device
        max_sequence_length = key.max_sequence_length
        layers = (
            {"text_encoder_out_layers": key.text_encoder_out_layers} if key.text_encoder_out_layers else {}
        )
        embeds, _ = pipe.encode_prompt(
            prompt=prompts, device=device, max_sequence_length=max_sequence_length, **layers
        )
        kwargs: dict[str, Any] = {
            "prompt_embeds": embeds.to(dtype),
            "guidance_scale": key.guidance_scale,
            "max_sequence_length": max_sequence_length,
            **layers,
        }
        if key.guidance_scale > 1 and not pipe.config.is_distilled:
            negative, _ = pipe.encode_prompt(
                prompt=negatives,
                device=device,
                max_sequence_length=max_sequence_length,
                **layers,
            )
            kwargs["negative_prompt_embeds"] = negative.to(dtype)
        return kwargs

    # -- latents to pixels --------------------------------------------------------------

    def _decode(self, pipe: Any, key: BatchKey, latents: torch.Tensor, preview: bool) -> list[Image.Image]:
        """Decodes a batch of latents as the pipeline returns them (``output_type="latent"``),
        or, with ``preview``, packed latents from inside the denoising loop at low resolution."""
        vae = pipe.vae
        if key.family is Family.FLUX_1:
            if preview or latents.dim() == 3:
                latents = pipe._unpack_latents(latents, key.height_px, key.width_px, pipe.vae_scale_factor)
            latents = latents / vae.config.scaling_factor + vae.config.shift_factor
        elif preview:
            latents = _flux2_unpack(pipe, latents, key)
        if preview:
            # Pooling the latents first makes a preview's VAE pass as small as the preview.
            latent_side = max(1, self.config.preview_max_side_px // pipe.vae_scale_factor)
            factor = max(1, -(-max(latents.shape[-2:]) // latent_side))
            if factor > 1:
                latents = torch.nn.functional.avg_pool2d(latents, factor)
        latents = latents.to(device=vae.device, dtype=vae.dtype)
        pixels = vae.decode(latents, return_dict=False)[0]
        images: list[Image.Image] = pipe.image_processor.postprocess(pixels, output_type="pil")
        return images

    @torch.inference_mode()
    def preview(self, pipe: Any, key: BatchKey, latents: torch.Tensor) -> Image.Image:
        """A low-resolution picture of the first image's current latents."""
        return self._decode(pipe, key, latents[:1], preview=True)[0]


def _use_adapter(loaded: _Loaded, adapter: str) -> None:
    """Makes ``adapter`` the checkpoint's only active LoRA adapter, or disables
    LoRA for ""; the img2img/inpaint forms share the transformer, so they follow."""
    if loaded.adapter == adapter or (loaded.adapter is None and not adapter):
        return
    if adapter:
        # set_adapters raises on a name not loaded before it changes anything; it picks the
        # adapter, and enable_lora undoes an earlier disable_lora.
        loaded.pipe.set_adapters([adapter])
        loaded.pipe.enable_lora()
    else:
        loaded.pipe.disable_lora()
    loaded.adapter = adapter


def _flux1_components(pipe: Any) -> dict[str, Any]:
    """The components FluxImg2ImgPipeline and FluxInpaintPipeline take."""
    names = ("scheduler", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2", "transformer")
    return {name: pipe.components[name] for name in names}


def _flux2_unpack(pipe: Any, latents: torch.Tensor, key: BatchKey) -> torch.Tensor:
    """Packed FLUX.2 latents (B, h*w, C), row-major as the pipeline lays them out,
    to the VAE's (B, C/4, 2h, 2w) with the batch-norm statistics undone."""
    multiple = pipe.vae_scale_factor * 2
    height, width = key.height_px // multiple, key.width_px // multiple
    batch, _, channels = latents.shape
    latents = latents.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
    vae = pipe.vae
    mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
    std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(
        latents.device, latents.dtype
    )
    return pipe._unpatchify_latents(latents * std + mean)


class _Progress:
    """``callback_on_step_end``: emits a StepEvent per step to every live row,
    previews every k steps, counts steps, and interrupts the pipeline once
    every row is cancelled (diffusers then skips the remaining steps)."""

    def __init__(
        self,
        engine: FluxEngine,
        pipe: Any,
        key: BatchKey,
        jobs: Sequence[GenerationJob],
        rows: Sequence[Row],
        started: float,
    ) -> None:
        self.engine = engine
        self.pipe = pipe
        self.key = key
        self.jobs = jobs
        self.rows = rows
        self.started = started
        self.step = 0
        self.first_step_at = 0.0

    def __call__(self, pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        self.step = index + 1
        self.engine.steps_run += 1
        if not self.first_step_at:
            self.first_step_at = now
        total = int(pipe.num_timesteps)
        elapsed = now - self.started
        remaining = elapsed / self.step * (total - self.step)
        image_offset = 0
        for job, row in zip(self.jobs, self.rows, strict=True):
            if not row.cancelled:
                preview = None
                every = job.preview_every_steps
                if every and self.step % every == 0 and self.step < total:
                    latents = tensors["latents"][image_offset : image_offset + 1]
                    preview = self.engine.preview(self.pipe, self.key, latents)
                row.emit(StepEvent(self.step, total, elapsed, remaining, preview))
            image_offset += len(job.seeds)
        if all(row.cancelled for row in self.rows):
            pipe._interrupt = True
        return {}
