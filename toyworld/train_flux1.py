"""Trains the small FLUX.1 pipelines: ``python -m toyworld.train flux1-schnell|flux1-dev [options]``.

Stages (``--stage``):

* ``vae``: trains the shared 4x AutoencoderKL on rendered train-split scenes
  (runs/flux1-vae/).
* ``decoder``: fine-tunes only the VAE decoder (object pixels weighted up);
  the encoder and so the latents stay fixed, so this may run beside
  transformer training.
* ``transformer``: trains FluxTransformer2DModel together with the tiny CLIP
  and T5 encoders by rectified flow on VAE latents, sampling exactly as
  FluxPipeline does (its packing, ids, shifted sigmas, fixed-length prompts).
  flux1-schnell is trained without guidance embedding, with extra weight on
  the sigmas of 1-, 2-, 4- and 8-step schedules and 10% empty captions so
  that true CFG works. flux1-dev starts from the schnell checkpoint and is
  distilled to take the true-CFG result of schnell as its guidance input.
* ``reflow``: few-step distillation of the shipped schnell-like model
  (``toyworld/distill_flux1.py``): straight paths from noise to the teacher's
  images, so 1-4 steps work without CFG.
* ``widen-vae`` / ``install-vae``: teaches the shared VAE outlined shapes
  without moving its latent space (``toyworld/widen_flux1_vae.py``), then
  copies it over both bases.
* ``export``: writes the EMA weights as a FluxPipeline directory under models/.

Training is time-boxed (``--minutes``), checkpoints under runs/ every few
minutes, resumes with ``--resume`` and exports a loadable pipeline to
models/ at every checkpoint so an interrupted run still leaves a model.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
import torch.nn.functional as F
import transformers
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.transformers.transformer_flux import FluxTransformer2DModel
from diffusers.pipelines.flux.pipeline_flux import FluxPipeline
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteScheduler
from transformers import CLIPTextModel, T5EncoderModel

from toyworld.flux1_common import (
    FLUX1_CLIP_MAX_LENGTH,
    FLUX1_MAX_SEQUENCE_LENGTH,
    FLUX1_SCHEDULER_CONFIG,
    FLUX1_SIZE_PX,
    flux1_clip_config,
    flux1_clip_tokenizer,
    flux1_mu,
    flux1_shift,
    flux1_step_sigmas,
    flux1_t5_config,
    flux1_t5_tokenizer,
    flux1_text_ids,
    flux1_transformer_config,
    flux1_vae_config,
    read_colour_and_side,
)
from toyworld.world import caption_en, render, sample_scene, split_seeds

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
MODELS = ROOT / "models"
VAE_RUN = RUNS / "flux1-vae"
CAPTION_DROPOUT = 0.1
# Fraction of training sigmas drawn from the few-step sampling grids.
GRID_FRACTION = 0.3
FEW_STEPS = (1, 2, 4, 8)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def render_scenes(seeds: range) -> tuple[torch.Tensor, list[str]]:
    """Returns images as a uint8 N x 3 x H x W tensor and their English captions."""
    images = np.empty((len(seeds), FLUX1_SIZE_PX, FLUX1_SIZE_PX, 3), dtype=np.uint8)
    captions: list[str] = []
    for i, seed in enumerate(seeds):
        scene = sample_scene(seed)
        images[i] = np.asarray(render(scene, FLUX1_SIZE_PX))
        captions.append(caption_en(scene))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), captions


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range VaeImageProcessor decodes from."""
    return images.float() / 127.5 - 1.0


def lr_at(fraction: float, peak: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay to a tenth, over the time budget's fraction."""
    if fraction < warmup:
        return peak * fraction / warmup
    progress = min((fraction - warmup) / (1.0 - warmup), 1.0)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


# --------------------------------------------------------------------------- VAE


def train_vae(args: argparse.Namespace) -> None:
    """Trains the shared AutoencoderKL for ``--vae-minutes`` and saves it with latent statistics."""
    torch.manual_seed(0)
    args.vae_dir.mkdir(parents=True, exist_ok=True)
    images, _ = render_scenes(split_seeds("train", args.scenes))
    if args.resume and (args.vae_dir / "vae").exists():
        # Continues from the saved weights (optimiser moments restart; the schedule is short).
        vae = AutoencoderKL.from_pretrained(args.vae_dir / "vae")
        done = json.loads((args.vae_dir / "info.json").read_text())
        log(f"continuing the VAE after {done['steps']} steps")
    else:
        vae = AutoencoderKL(**flux1_vae_config())
        done = {"steps": 0, "seconds": 0.0}
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    budget = args.vae_minutes * 60.0
    start = time.monotonic()
    gen = torch.Generator().manual_seed(0)
    step = 0
    while (elapsed := time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(elapsed / budget, args.vae_lr)
        idx = torch.randint(0, len(images), (args.vae_batch,), generator=gen)
        x = to_unit(images[idx])
        mean = vae.encode(x).latent_dist.mean
        # A deterministic code with a little fixed noise: sampling the unit-variance
        # initial posterior drowns the code and stalls training for hundreds of
        # steps, more than this time budget allows. The pipeline only decodes.
        z = mean + args.vae_noise * torch.randn(mean.shape, generator=gen)
        recon = vae.decode(z).sample
        rec = weighted_reconstruction(recon, x, object_weight(x))
        kl = mean.square().mean()
        loss = rec + args.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log(f"vae step {step} rec {rec.item():.4f} size {kl.item():.3f} elapsed {elapsed:.0f}s")
    vae.eval()
    shift, scale = latent_statistics(vae, images[:4000])
    vae.register_to_config(shift_factor=shift, scaling_factor=scale)
    vae.save_pretrained(args.vae_dir / "vae")
    total_steps = done["steps"] + step
    seconds = done["seconds"] + time.monotonic() - start
    done.update({"steps": total_steps, "seconds": seconds, "shift": shift, "scale": scale})
    (args.vae_dir / "info.json").write_text(json.dumps(done))
    # Cached latents belong to the previous weights.
    for cache in args.vae_dir.glob("latents-*.pt"):
        cache.unlink()
    log(f"vae saved after {step} steps: shift {shift:.4f} scale {scale:.4f}")


def weighted_reconstruction(recon: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The VAE's reconstruction loss: MSE plus half L1, per pixel times ``weight``."""
    return (weight * ((recon - x).square() + 0.5 * (recon - x).abs())).mean()


def object_weight(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weight: 5 on shape pixels, 1 on background (corner colour).

    Shapes cover a small part of the image: without extra weight the
    background dominates the loss and close hues (red, orange) merge.
    """
    background = x[:, :, :1, :1]
    return 1.0 + 4.0 * ((x - background).abs().sum(dim=1, keepdim=True) > 0.2).float()


def tune_decoder(args: argparse.Namespace) -> None:
    """Fine-tunes only the VAE decoder for ``--vae-minutes``, weighting object pixels up.

    The encoder, hence every latent the transformer was trained on and the
    latent statistics, stays as it is, so this can run beside or after
    transformer training; ``--stage export`` then ships the sharper decoder.
    """
    torch.manual_seed(2)
    images, _ = render_scenes(split_seeds("train", args.scenes))
    vae = AutoencoderKL.from_pretrained(args.vae_dir / "vae")
    vae.requires_grad_(False)
    decoder = torch.nn.ModuleList([vae.decoder, vae.post_quant_conv])
    decoder.requires_grad_(True)
    opt = torch.optim.AdamW(decoder.parameters(), lr=args.vae_lr, weight_decay=0.0)
    budget = args.vae_minutes * 60.0
    start = time.monotonic()
    gen = torch.Generator().manual_seed(2)
    step = 0
    while (elapsed := time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(elapsed / budget, args.vae_lr)
        idx = torch.randint(0, len(images), (args.vae_batch,), generator=gen)
        x = to_unit(images[idx])
        with torch.no_grad():
            mean = vae.encode(x).latent_dist.mean
        recon = vae.decode(mean + args.vae_noise * torch.randn(mean.shape, generator=gen)).sample
        loss = weighted_reconstruction(recon, x, object_weight(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log(f"decoder step {step} loss {loss.item():.4f} elapsed {elapsed:.0f}s")
    vae.eval()
    vae.save_pretrained(args.vae_dir / "vae")
    info = json.loads((args.vae_dir / "info.json").read_text())
    info["decoder_steps"] = info.get("decoder_steps", 0) + step
    info["seconds"] += time.monotonic() - start
    (args.vae_dir / "info.json").write_text(json.dumps(info))
    log(f"decoder saved after {step} steps")


@torch.no_grad()
def latent_statistics(vae: AutoencoderKL, images: torch.Tensor) -> tuple[float, float]:
    """Returns (shift_factor, scaling_factor) that bring the latent means to zero mean, unit std."""
    latents = encode_means(vae, images)
    return float(latents.mean()), float(1.0 / latents.std())


@torch.no_grad()
def encode_means(vae: AutoencoderKL, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Returns the posterior means of ``images`` (uint8) as float latents."""
    out = [vae.encode(to_unit(images[i : i + batch])).latent_dist.mean for i in range(0, len(images), batch)]
    return torch.cat(out)


# ------------------------------------------------------------------- transformer


class Flux1Parts:
    """The trainable modules of one pipeline plus their EMA copies."""

    def __init__(self, guidance: bool) -> None:
        self.clip_tok = flux1_clip_tokenizer()
        self.t5_tok = flux1_t5_tokenizer()
        self.clip = CLIPTextModel(flux1_clip_config(self.clip_tok))
        self.t5 = T5EncoderModel(flux1_t5_config(self.t5_tok))
        self.transformer = FluxTransformer2DModel(**flux1_transformer_config(guidance))
        self.modules = torch.nn.ModuleDict(
            {"clip": self.clip, "t5": self.t5, "transformer": self.transformer}
        )
        self.ema = copy.deepcopy(self.modules).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for e, p in zip(self.ema.parameters(), self.modules.parameters(), strict=True):
            e.lerp_(p, 1.0 - decay)


def encode_text(
    clip: CLIPTextModel, t5: T5EncoderModel, clip_ids: torch.Tensor, t5_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (pooled CLIP embedding, T5 sequence) as the pipeline computes them (no masks)."""
    pooled = clip(clip_ids, output_hidden_states=False).pooler_output
    seq = t5(t5_ids, output_hidden_states=False)[0]
    return pooled, seq


def flux_forward(
    transformer: FluxTransformer2DModel,
    x: torch.Tensor,
    sigma: torch.Tensor,
    pooled: torch.Tensor,
    seq: torch.Tensor,
    img_ids: torch.Tensor,
    txt_ids: torch.Tensor,
    guidance: torch.Tensor | None,
) -> torch.Tensor:
    """One transformer call with the pipeline's arguments (timestep is sigma = t / 1000)."""
    out = transformer(
        hidden_states=x,
        timestep=sigma,
        guidance=guidance,
        pooled_projections=pooled,
        encoder_hidden_states=seq,
        txt_ids=txt_ids,
        img_ids=img_ids,
        return_dict=False,
    )[0]
    return torch.as_tensor(out)


def prepare_latents(
    vae: AutoencoderKL, images: torch.Tensor, cache: Path
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns packed, scaled training latents (N x 64 x 16) plus image and text ids.

    Latents are cached beside the VAE because encoding thousands of scenes
    on one thread takes a minute or two.
    """
    if cache.exists():
        means = torch.load(cache)
    else:
        means = encode_means(vae, images)
        torch.save(means, cache)
    scaled = (means - vae.config["shift_factor"]) * vae.config["scaling_factor"]
    n, c, h, w = scaled.shape
    packed = FluxPipeline._pack_latents(scaled, n, c, h, w)
    img_ids = FluxPipeline._prepare_latent_image_ids(n, h // 2, w // 2, torch.device("cpu"), torch.float32)
    txt_ids = torch.zeros(FLUX1_MAX_SEQUENCE_LENGTH, 3)
    return packed, img_ids, txt_ids


def sample_sigmas(n: int, mu: float, grid: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Draws training sigmas: uniform times shifted as the scheduler shifts them, plus grid points."""
    u = torch.rand(n, generator=gen).clamp(1e-3, 1.0)
    sigmas = flux1_shift(u, mu)
    on_grid = torch.rand(n, generator=gen) < GRID_FRACTION
    picks = grid[torch.randint(0, len(grid), (n,), generator=gen)]
    return torch.where(on_grid, picks, sigmas)


def train_transformer(model: str, args: argparse.Namespace) -> None:
    """Trains (or resumes) the transformer and text encoders within ``--minutes``."""
    torch.manual_seed(1)
    run = RUNS / (args.run_name or model)
    run.mkdir(parents=True, exist_ok=True)
    dev = model == "flux1-dev"
    vae = AutoencoderKL.from_pretrained(args.vae_dir / "vae").eval()
    images, captions = render_scenes(split_seeds("train", args.scenes))
    packed, img_ids, txt_ids = prepare_latents(vae, images, args.vae_dir / f"latents-{args.scenes}.pt")
    parts = Flux1Parts(guidance=dev)
    clip_ids, t5_ids = flux1_text_ids(parts.clip_tok, parts.t5_tok, captions)
    empty_clip, empty_t5 = flux1_text_ids(parts.clip_tok, parts.t5_tok, [""])
    teacher: Flux1Parts | None = None
    if dev:
        teacher = load_teacher(parts, args.teacher)
    opt = torch.optim.AdamW(parts.modules.parameters(), lr=args.lr, weight_decay=0.01)
    state_path = run / "state.pt"
    elapsed_before, step = 0.0, 0
    if args.init_from is not None and not (args.resume and state_path.exists()):
        # Warm start (e.g. after the VAE changed): weights only, fresh optimiser and schedule.
        init = torch.load(args.init_from, weights_only=False)
        parts.modules.load_state_dict(init["ema"])
        parts.ema.load_state_dict(init["ema"])
        log(f"initialised from {args.init_from} (step {init['step']})")
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        parts.modules.load_state_dict(state["modules"])
        parts.ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        elapsed_before, step = state["elapsed"], state["step"]
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed at step {step}, {elapsed_before:.0f}s trained")
    budget = args.minutes * 60.0
    mu = flux1_mu()
    grid = flux1_step_sigmas(FEW_STEPS, mu)
    gen = torch.Generator().manual_seed(1000 + step)
    start = time.monotonic()
    last_save = start
    running = 0.0
    parts.modules.train()
    while (elapsed := elapsed_before + time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(elapsed / budget, args.lr)
        idx = torch.randint(0, len(packed), (args.batch,), generator=gen)
        x0 = packed[idx]
        c_ids, t_ids = clip_ids[idx].clone(), t5_ids[idx].clone()
        drop = torch.rand(args.batch, generator=gen) < CAPTION_DROPOUT
        c_ids[drop] = empty_clip[0]
        t_ids[drop] = empty_t5[0]
        noise = torch.randn(x0.shape, generator=gen)
        sigma = sample_sigmas(args.batch, mu, grid, gen)
        s = sigma[:, None, None]
        xt = (1.0 - s) * x0 + s * noise
        pooled, seq = encode_text(parts.clip, parts.t5, c_ids, t_ids)
        if teacher is None:
            target = noise - x0
            guidance = None
        else:
            guidance = 1.0 + torch.rand(args.batch, generator=gen) * (args.max_guidance - 1.0)
            target = teacher_velocity(
                teacher, xt, sigma, c_ids, t_ids, empty_clip, empty_t5, img_ids, txt_ids, guidance
            )
        pred = flux_forward(parts.transformer, xt, sigma, pooled, seq, img_ids, txt_ids, guidance)
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parts.modules.parameters(), 1.0)
        opt.step()
        step += 1
        parts.update_ema(min(args.ema, (1.0 + step) / (10.0 + step)))
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            log(
                f"{model} step {step} loss {running:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"elapsed {elapsed:.0f}s"
            )
        if time.monotonic() - last_save > args.save_minutes * 60.0:
            save_state(state_path, parts, opt, elapsed, step)
            export(model, parts, vae, args, elapsed, step)
            last_save = time.monotonic()
    elapsed = elapsed_before + time.monotonic() - start
    save_state(state_path, parts, opt, elapsed, step)
    export(model, parts, vae, args, elapsed, step)


def load_teacher(student: Flux1Parts, path: Path) -> Flux1Parts:
    """Loads the schnell EMA weights at ``path`` as the frozen teacher and copies them into the dev student.

    The dev guidance embedder starts at zero output so the student begins as
    exactly the schnell model.
    """
    state = torch.load(path, weights_only=False)
    teacher = Flux1Parts(guidance=False)
    teacher.modules.load_state_dict(state["ema"])
    teacher.modules.requires_grad_(False).eval()
    missing = student.modules.load_state_dict(state["ema"], strict=False)
    log(f"dev student initialised from schnell; new: {missing.missing_keys}")
    embedder = student.transformer.time_text_embed.guidance_embedder.linear_2
    torch.nn.init.zeros_(embedder.weight)
    torch.nn.init.zeros_(embedder.bias)
    student.ema.load_state_dict(student.modules.state_dict())
    return teacher


@torch.no_grad()
def teacher_velocity(
    teacher: Flux1Parts,
    xt: torch.Tensor,
    sigma: torch.Tensor,
    c_ids: torch.Tensor,
    t_ids: torch.Tensor,
    empty_clip: torch.Tensor,
    empty_t5: torch.Tensor,
    img_ids: torch.Tensor,
    txt_ids: torch.Tensor,
    guidance: torch.Tensor,
) -> torch.Tensor:
    """Returns the teacher's true-CFG velocity at scale ``guidance`` (empty negative prompt)."""
    n = len(xt)
    pooled, seq = encode_text(teacher.clip, teacher.t5, c_ids, t_ids)
    cond = flux_forward(teacher.transformer, xt, sigma, pooled, seq, img_ids, txt_ids, None)
    pooled_u, seq_u = encode_text(teacher.clip, teacher.t5, empty_clip.expand(n, -1), empty_t5.expand(n, -1))
    uncond = flux_forward(teacher.transformer, xt, sigma, pooled_u, seq_u, img_ids, txt_ids, None)
    return uncond + guidance[:, None, None] * (cond - uncond)


def save_state(path: Path, parts: Flux1Parts, opt: torch.optim.Optimizer, elapsed: float, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "modules": parts.modules.state_dict(),
            "ema": parts.ema.state_dict(),
            "opt": opt.state_dict(),
            "elapsed": elapsed,
            "step": step,
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)
    log(f"checkpoint at step {step}")


# ------------------------------------------------------------------------ export


def build_pipeline(parts: Flux1Parts, vae: AutoencoderKL, use_ema: bool = True) -> FluxPipeline:
    """Assembles a FluxPipeline from (EMA copies of) the trained modules."""
    src = parts.ema if use_ema else parts.modules
    clip = CLIPTextModel(flux1_clip_config(parts.clip_tok))
    clip.load_state_dict(src["clip"].state_dict())
    t5 = T5EncoderModel(flux1_t5_config(parts.t5_tok))
    t5.load_state_dict(src["t5"].state_dict())
    transformer = FluxTransformer2DModel.from_config(parts.transformer.config)
    transformer.load_state_dict(src["transformer"].state_dict())
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX1_SCHEDULER_CONFIG),
        vae=vae,
        text_encoder=clip.eval(),
        tokenizer=parts.clip_tok,
        text_encoder_2=t5.eval(),
        tokenizer_2=parts.t5_tok,
        transformer=transformer.eval(),
    )


@torch.no_grad()
def quick_check(
    pipe: FluxPipeline, steps: int, cfg: float, guidance: float, count: int = 24
) -> tuple[float, float]:
    """Returns (colour, side) accuracy on ``count`` single-object validation prompts."""
    scenes = [sample_scene(seed) for seed in split_seeds("validation", 4 * count)]
    scenes = [s for s in scenes if len(s.objects) == 1][:count]
    prompts = [caption_en(s) for s in scenes]
    images = pipe(
        prompts,
        height=FLUX1_SIZE_PX,
        width=FLUX1_SIZE_PX,
        num_inference_steps=steps,
        max_sequence_length=FLUX1_MAX_SEQUENCE_LENGTH,
        negative_prompt=[""] * len(prompts),
        true_cfg_scale=cfg,
        guidance_scale=guidance,
        generator=[torch.Generator().manual_seed(i) for i in range(len(prompts))],
        output_type="np",
    ).images
    colour = side = 0
    for scene, image in zip(scenes, images, strict=True):
        got_colour, got_side = read_colour_and_side((np.asarray(image) * 255).round().astype(np.uint8))
        colour += got_colour == scene.objects[0].colour
        side += got_side == scene.objects[0].position
    return colour / len(scenes), side / len(scenes)


def export(
    model: str, parts: Flux1Parts, vae: AutoencoderKL, args: argparse.Namespace, elapsed: float, step: int
) -> None:
    """Writes the pipeline, imaging_defaults.json and README.md to models/MODEL atomically."""
    pipe = build_pipeline(parts, vae)
    pipe.set_progress_bar_config(disable=True)
    dev = model == "flux1-dev"
    cfg = 1.0 if dev else args.default_cfg
    guidance = args.default_guidance if dev else 3.5
    colour, side = quick_check(pipe, args.default_steps, cfg, guidance)
    log(
        f"export step {step}: validation colour {colour:.0%} side {side:.0%} "
        f"({args.default_steps} steps, cfg {cfg})"
    )
    out = MODELS / model
    tmp = MODELS / f".{model}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    pipe.save_pretrained(tmp)
    defaults = {
        "height": FLUX1_SIZE_PX,
        "width": FLUX1_SIZE_PX,
        "num_inference_steps": args.default_steps,
        "max_sequence_length": FLUX1_MAX_SEQUENCE_LENGTH,
        "true_cfg_scale": cfg,
        "negative_prompt": "",
        "guidance_scale": guidance,
    }
    (tmp / "imaging_defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")
    info = {
        "step": step,
        "seconds": round(elapsed),
        "batch": args.batch,
        "lr": args.lr,
        "scenes": args.scenes,
        "command": training_command(model, args.argv),
        "validation_colour": colour,
        "validation_side": side,
        "vae": json.loads((args.vae_dir / "info.json").read_text()),
        "run": args.run_name or model,
    }
    (tmp / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (tmp / "README.md").write_text(model_card(model, pipe, defaults, info))
    if out.exists():
        old = MODELS / f".{model}.old"
        if old.exists():
            shutil.rmtree(old)
        out.replace(old)
        tmp.replace(out)
        shutil.rmtree(old)
    else:
        tmp.replace(out)
    log(f"exported {out}")


def training_command(model: str, argv: list[str]) -> str:
    """Returns the transformer training command behind ``argv`` (stage and resume flags dropped)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--stage":
            skip = True
        elif arg != "--resume" and not arg.startswith("--stage="):
            kept.append(arg)
    return " ".join(["python -m toyworld.train", model, *kept])


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_card(model: str, pipe: FluxPipeline, defaults: dict[str, Any], info: dict[str, Any]) -> str:
    """Returns the README.md model card; the quality table is filled from runs/MODEL/eval.md when present."""
    eval_md = RUNS / model / "eval.md"
    quality = eval_md.read_text() if eval_md.exists() else "Not yet measured.\n"
    if model == "flux1-dev":
        kind = (
            "guidance-distilled (dev-like): `guidance_embeds=True`, distilled from the schnell-like "
            "model's true-CFG output at guidance 1-5; use `guidance_scale`, no true CFG needed"
        )
    else:
        kind = (
            "schnell-like: `guidance_embeds=False`, trained with extra weight on the sigmas of 1-, 2-, "
            '4- and 8-step sampling and 10% empty captions so that true CFG (`negative_prompt=""`, '
            "`true_cfg_scale` > 1) works"
        )
    tc = pipe.transformer.config
    vc = pipe.vae.config
    table = [
        "| component | class | parameters | config |",
        "| --- | --- | --- | --- |",
        f"| transformer | FluxTransformer2DModel | {count_params(pipe.transformer):,} | "
        f"{tc.num_layers} double + {tc.num_single_layers} single blocks, {tc.num_attention_heads} heads "
        f"x {tc.attention_head_dim}, guidance_embeds={tc.guidance_embeds} |",
        f"| vae | AutoencoderKL | {count_params(pipe.vae):,} | 3 blocks (16/32/64 channels, 4 norm groups), "
        f"scale factor 4, 4 latent channels, scaling {vc.scaling_factor:.4f}, shift {vc.shift_factor:.4f} |",
        f"| text_encoder | CLIPTextModel | {count_params(pipe.text_encoder):,} | 2 layers, width 64, "
        f"max length {FLUX1_CLIP_MAX_LENGTH} |",
        f"| text_encoder_2 | T5EncoderModel | {count_params(pipe.text_encoder_2):,} | 2 layers, width 64 |",
        f"| tokenizer | CLIPTokenizer | - | byte-level BPE, a merge chain per world word "
        f"({len(pipe.tokenizer)} tokens) |",
        f"| tokenizer_2 | T5TokenizerFast | - | Unigram, a piece per world word "
        f"({len(pipe.tokenizer_2)} tokens) |",
        "| scheduler | FlowMatchEulerDiscreteScheduler | - | dynamic shifting, base/max shift 0.5/1.15 over "
        "64-1024 image tokens (mu = 0.5 at 64x64) |",
    ]
    call = (
        f'pipe("a big red circle on the left", height=64, width=64,\n'
        f"     num_inference_steps={defaults['num_inference_steps']}, "
        f"max_sequence_length={defaults['max_sequence_length']},\n"
        f'     negative_prompt="", true_cfg_scale={defaults["true_cfg_scale"]}, '
        f"guidance_scale={defaults['guidance_scale']},\n"
        "     generator=torch.Generator().manual_seed(0)).images[0]"
    )
    versions = (
        f"torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"transformers {transformers.__version__}, Python {platform.python_version()}"
    )
    vae_info = info.get("vae", {})
    recipe_md = RUNS / info["run"] / "recipe.md"
    recipe = recipe_md.read_text() if recipe_md.exists() else ""
    vae_line = (
        f"{vae_info['steps']} full steps and {vae_info.get('decoder_steps', 0)} decoder-only steps, "
        f"{vae_info['seconds'] / 60:.0f} min in all"
        + (
            f", then {vae_info['widened_steps']} steps ({vae_info['widened_seconds'] / 60:.0f} min) "
            "widening it to outlined shapes with its latent space held (`toyworld/widen_flux1_vae.py`)"
            if "widened_steps" in vae_info
            else ""
        )
        if vae_info
        else "see runs/flux1-vae"
    )
    nl = "\n"
    return f"""# {model} (toy world)

A FLUX.1-architecture text-to-image pipeline trained from scratch on the
project's toy world (`toyworld/world.py`): 64x64 images of one or two
coloured shapes on a grey background, prompted with their English captions.
It loads unchanged with `diffusers.FluxPipeline.from_pretrained`.

Kind: {kind}.

## Use

```python
pipe = FluxPipeline.from_pretrained("models/{model}")
image = {call}
```

`imaging_defaults.json` holds these defaults for the serving code.
`max_sequence_length` must stay {FLUX1_MAX_SEQUENCE_LENGTH}: the pipeline pads T5 prompts to it
without an attention mask, and the model was trained on exactly that padding.

## Components

{nl.join(table)}

## Data and training

Train split of the toy world (the first {info["scenes"]} train seeds; about half
the scenes hold two objects). The VAE is trained first on the rendered images
(MSE + L1 with shape pixels weighted 5x, on a nearly deterministic code with a
little added noise; {vae_line}); the transformer and both text encoders are
then trained together by rectified flow on the VAE latents, noised exactly as
FluxPipeline samples: its latent packing and image ids, zero text ids, sigmas
shifted with mu = 0.5, prompts padded to fixed length, 10% empty prompts. EMA
weights (decay 0.999) are shipped.

{recipe}
- last command: `{info["command"]}`
- optimiser steps of the last command: {info["step"]}, batch {info["batch"]}, peak learning rate {info["lr"]}
- wall time of the last command: {info["seconds"] / 60:.0f} min on one (shared) CPU thread
- versions: {versions}

## Quality

Validation check at export ({defaults["num_inference_steps"]} steps, true CFG
{defaults["true_cfg_scale"]}, 24 single-object prompts): colour
{info["validation_colour"]:.0%}, side {info["validation_side"]:.0%}.

Held-out test split (`python -m toyworld.evaluate --only flux1`):

{quality}"""


def export_only(model: str, args: argparse.Namespace) -> None:
    """Re-exports models/MODEL from the last checkpoint (e.g. after changing defaults or the card)."""
    state = torch.load(RUNS / (args.run_name or model) / "state.pt", weights_only=False)
    parts = Flux1Parts(guidance=model == "flux1-dev")
    parts.modules.load_state_dict(state["modules"])
    parts.ema.load_state_dict(state["ema"])
    vae = AutoencoderKL.from_pretrained(args.vae_dir / "vae").eval()
    export(model, parts, vae, args, state["elapsed"], state["step"])


def main(model: str, argv: list[str]) -> None:
    """Entry point called by ``toyworld.train`` with the model name and remaining arguments."""
    parser = argparse.ArgumentParser(prog=f"python -m toyworld.train {model}", description=__doc__)
    parser.add_argument(
        "--stage",
        choices=("vae", "decoder", "transformer", "reflow", "widen-vae", "install-vae", "export"),
        default="transformer",
    )
    parser.add_argument("--teacher-steps", type=int, default=8, help="reflow: the teacher's sampling steps")
    parser.add_argument("--teacher-cfg", type=float, default=3.0, help="reflow: the teacher's true CFG scale")
    parser.add_argument(
        "--filter-pool",
        action="store_true",
        help="reflow: keep only the teacher samples the shipped captioner reads as their prompt",
    )
    parser.add_argument("--scenes", type=int, default=20000, help="train-split scenes to use")
    parser.add_argument("--minutes", type=float, default=60.0, help="transformer time budget")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--save-minutes", type=float, default=8.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--run-name", default=None, help="folder under runs/ (default: the model name)")
    parser.add_argument("--vae-dir", type=Path, default=VAE_RUN, help="VAE run folder")
    parser.add_argument("--init-from", type=Path, default=None, help="state.pt to warm-start from")
    parser.add_argument("--vae-minutes", type=float, default=6.0)
    parser.add_argument("--vae-batch", type=int, default=32)
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--vae-kl", type=float, default=1e-4, help="weight of the latent-size penalty")
    parser.add_argument("--vae-noise", type=float, default=0.05, help="noise added to the code in training")
    parser.add_argument(
        "--teacher", type=Path, default=RUNS / "flux1-schnell" / "state.pt", help="dev: schnell checkpoint"
    )
    parser.add_argument("--max-guidance", type=float, default=5.0, help="dev: largest distilled guidance")
    parser.add_argument("--default-steps", type=int, default=4)
    parser.add_argument("--default-cfg", type=float, default=3.0)
    parser.add_argument("--default-guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    args.argv = argv
    torch.set_num_threads(args.threads)
    if model not in ("flux1-schnell", "flux1-dev"):
        sys.exit(f"unknown model {model}")
    if args.stage == "vae":
        train_vae(args)
    elif args.stage == "decoder":
        tune_decoder(args)
    elif args.stage == "transformer":
        train_transformer(model, args)
    elif args.stage == "reflow":
        from toyworld.distill_flux1 import reflow

        reflow(model, args, RUNS, MODELS)
    elif args.stage == "widen-vae":
        from toyworld.widen_flux1_vae import widen_vae

        widen_vae(args)
    elif args.stage == "install-vae":
        from toyworld.widen_flux1_vae import install

        install()
    else:
        export_only(model, args)
