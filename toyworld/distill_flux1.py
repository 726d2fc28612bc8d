"""Few-step distillation of the schnell-like pipeline by reflow:
``python -m toyworld.train flux1-schnell --stage reflow [--teacher-steps 8 --teacher-cfg 3]``.

BFL's schnell is meant for 1-4 steps. The shipped model, trained by plain
rectified flow, needs true CFG and 4+ steps because its flow paths curve.
Reflow straightens them: the current model (the teacher, frozen) turns seeded
noise ``z`` into an image ``x0`` with many steps and true CFG; the student,
starting from the same weights, learns the straight path from ``z`` to that
``x0`` (``x_s = (1 - s) x0 + s z``, velocity ``z - x0``) with no CFG, so one
Euler step from ``z`` already lands near the teacher's image. A quarter of
each batch keeps the original data loss (real latents, empty-caption dropout)
so the student still knows the world's pixels, not only the teacher's.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.pipelines.flux.pipeline_flux import FluxPipeline

from toyworld.flux1_common import FLUX1_SIZE_PX, flux1_mu, flux1_shift, flux1_step_sigmas, flux1_text_ids
from toyworld.world import caption_en, sample_scene, split_seeds

REFLOW_SHARE = 0.75
# Student sigmas: a share drawn on the 1-, 2- and 4-step grids, the rest shifted-uniform.
GRID_SHARE = 0.5
POOL_SEED_OFFSET = 3_000_000


RECIPE = """Few-step distillation (reflow, `toyworld/distill_flux1.py`): the previous schnell-like
model, frozen, turned {scenes} seeded noise samples into images with {steps} steps and true CFG
{cfg}; the shipped model started from the same weights and learned the straight path from each
noise to its image with no CFG (velocity `noise - image` at every noise level, half of them on the
1-, 2- and 4-step grids), a quarter of each batch keeping the original rectified-flow loss on real
latents. One Euler step from the noise then lands near the teacher's image, so 1-4 steps without
CFG work, as BFL's schnell is meant to be used.
"""
FILTERED = """
The teacher's samples were judged before training: only the {kept} of {scenes} images that the
shipped captioner reads as exactly their prompt (and, for one object, whose pixels agree on its
colour and side) were kept (`--filter-pool`), so the student learns the straight paths to the
teacher's right images only: rejection-sampled reflow. No gradient passes through the captioner.
"""


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _parts_from_pipeline(model_dir: Path) -> Any:
    """The shipped pipeline's text encoders and transformer as training ``Flux1Parts``."""
    from toyworld.train_flux1 import Flux1Parts

    pipe = FluxPipeline.from_pretrained(model_dir)
    parts = Flux1Parts(guidance=False)
    parts.clip.load_state_dict(pipe.text_encoder.state_dict())
    parts.t5.load_state_dict(pipe.text_encoder_2.state_dict())
    parts.transformer.load_state_dict(pipe.transformer.state_dict())
    parts.ema.load_state_dict(parts.modules.state_dict())
    return parts


def ensure_vae_run(model_dir: Path, vae_dir: Path) -> None:
    """Recreates the VAE run folder ``export`` reads from the shipped pipeline when it is missing
    (a fresh checkout has no runs/): the VAE is frozen here, so the shipped one is the run's."""
    if (vae_dir / "vae" / "config.json").exists() and (vae_dir / "info.json").exists():
        return
    vae_dir.mkdir(parents=True, exist_ok=True)
    AutoencoderKL.from_pretrained(model_dir / "vae").save_pretrained(vae_dir / "vae")
    info = json.loads((model_dir / "training_info.json").read_text())["vae"]
    (vae_dir / "info.json").write_text(json.dumps(info, indent=2) + "\n")


@torch.no_grad()
def teacher_samples(
    teacher: Any,
    clip_ids: torch.Tensor,
    t5_ids: torch.Tensor,
    noise: torch.Tensor,
    img_ids: torch.Tensor,
    txt_ids: torch.Tensor,
    steps: int,
    cfg: float,
    batch: int = 100,
) -> torch.Tensor:
    """The teacher's images (packed latents) from ``noise``: Euler over the pipeline's shifted
    sigmas with true CFG against the empty prompt, exactly as FluxPipeline samples."""
    from toyworld.train_flux1 import encode_text, flux_forward

    mu = flux1_mu()
    sigmas = torch.cat([flux1_shift(torch.linspace(1.0, 1.0 / steps, steps), mu), torch.zeros(1)])
    empty_clip, empty_t5 = flux1_text_ids(teacher.clip_tok, teacher.t5_tok, [""])
    out = []
    for start in range(0, len(noise), batch):
        x = noise[start : start + batch].clone()
        n = len(x)
        pooled, seq = encode_text(
            teacher.clip, teacher.t5, clip_ids[start : start + n], t5_ids[start : start + n]
        )
        pooled_u, seq_u = encode_text(
            teacher.clip, teacher.t5, empty_clip.expand(n, -1), empty_t5.expand(n, -1)
        )
        for s, s_next in itertools.pairwise(sigmas):
            sigma = s.expand(n)
            cond = flux_forward(teacher.transformer, x, sigma, pooled, seq, img_ids, txt_ids, None)
            uncond = flux_forward(teacher.transformer, x, sigma, pooled_u, seq_u, img_ids, txt_ids, None)
            x = x + (s_next - s) * (uncond + cfg * (cond - uncond))
        out.append(x)
    return torch.cat(out)


@torch.no_grad()
def judge_pool(vae: AutoencoderKL, x0: torch.Tensor, scenes: list[Any], captioner: Path) -> torch.Tensor:
    """Which teacher samples draw their prompt: the shipped captioner's caption of the
    decoded image equals the prompt (colour, size, shape and position of every object),
    and for one object the pixels agree on its colour and side. A rejection-sampled
    pool: the student learns the straight paths to the teacher's right images only."""
    from toyworld.eval_flux1 import ShapeReader
    from toyworld.flux1_common import read_colour_and_side

    reader = ShapeReader(captioner)
    scale_factor = 2 ** (len(vae.config["block_out_channels"]) - 1)
    keep = []
    for start in range(0, len(x0), 200):
        packed = x0[start : start + 200]
        latents = FluxPipeline._unpack_latents(packed, FLUX1_SIZE_PX, FLUX1_SIZE_PX, scale_factor)
        latents = latents / vae.config["scaling_factor"] + vae.config["shift_factor"]
        pixels = vae.decode(latents).sample.clamp(-1, 1)
        images = ((pixels + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        captions = reader.captions(list(images))
        for image, caption, scene in zip(images, captions, scenes[start : start + 200], strict=True):
            right = caption == caption_en(scene)
            if right and len(scene.objects) == 1:
                colour, third = read_colour_and_side(image)
                right = (colour, third) == (scene.objects[0].colour, scene.objects[0].position)
            keep.append(right)
    return torch.tensor(keep)


def reflow(model: str, args: argparse.Namespace, runs: Path, models: Path) -> None:
    """Distils models/MODEL into a few-step, CFG-free student within ``--minutes``; resumable."""
    from toyworld.train_flux1 import (
        encode_text,
        export,
        flux_forward,
        lr_at,
        prepare_latents,
        render_scenes,
        save_state,
    )

    torch.manual_seed(2)
    run = runs / (args.run_name or f"{model}-reflow")
    run.mkdir(parents=True, exist_ok=True)
    model_dir = models / model
    ensure_vae_run(model_dir, args.vae_dir)
    vae = AutoencoderKL.from_pretrained(args.vae_dir / "vae").eval()
    pool_path = run / f"pool-{args.scenes}-{args.teacher_steps}-{args.teacher_cfg}.pt"
    teacher_path = run / "teacher.pt"
    if not teacher_path.exists():
        torch.save(_parts_from_pipeline(model_dir).modules.state_dict(), teacher_path)
    parts = _parts_from_pipeline(model_dir)
    teacher = copy.deepcopy(parts)
    teacher.modules.load_state_dict(torch.load(teacher_path))
    teacher.modules.requires_grad_(False).eval()
    scenes = [sample_scene(seed) for seed in split_seeds("train", args.scenes, POOL_SEED_OFFSET)]
    clip_ids, t5_ids = flux1_text_ids(parts.clip_tok, parts.t5_tok, [caption_en(s) for s in scenes])
    images, captions = render_scenes(split_seeds("train", args.scenes))
    packed, img_ids, txt_ids = prepare_latents(vae, images, args.vae_dir / f"latents-{args.scenes}.pt")
    data_clip, data_t5 = flux1_text_ids(parts.clip_tok, parts.t5_tok, captions)
    empty_clip, empty_t5 = flux1_text_ids(parts.clip_tok, parts.t5_tok, [""])
    if pool_path.exists():
        pool = torch.load(pool_path)
    else:
        started = time.time()
        noise = torch.randn((args.scenes, *packed.shape[1:]), generator=torch.Generator().manual_seed(7))
        x0 = teacher_samples(
            teacher, clip_ids, t5_ids, noise, img_ids, txt_ids, args.teacher_steps, args.teacher_cfg
        )
        pool = {"noise": noise, "x0": x0}
        torch.save(pool, pool_path)
        log(f"teacher pool: {args.scenes} samples in {time.time() - started:.0f}s")
    del teacher
    if args.filter_pool and "keep" not in pool:
        pool["keep"] = judge_pool(vae, pool["x0"], scenes, models / "blip-captioner")
        torch.save(pool, pool_path)
    kept = pool["keep"].nonzero()[:, 0] if args.filter_pool else torch.arange(args.scenes)
    log(f"teacher pool: training on {len(kept)} of {args.scenes} samples")
    opt = torch.optim.AdamW(parts.modules.parameters(), lr=args.lr, weight_decay=0.01)
    state_path = run / "state.pt"
    elapsed_before, step = 0.0, 0
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        parts.modules.load_state_dict(state["modules"])
        parts.ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        elapsed_before, step = state["elapsed"], state["step"]
        log(f"resumed at step {step}, {elapsed_before:.0f}s trained")
    mu = flux1_mu()
    grid = flux1_step_sigmas((1, 2, 4), mu)
    gen = torch.Generator().manual_seed(2000 + step)
    budget = args.minutes * 60.0
    start = last_save = time.monotonic()
    running = 0.0
    parts.modules.train()
    n_reflow = round(args.batch * REFLOW_SHARE)
    while (elapsed := elapsed_before + time.monotonic() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(elapsed / budget, args.lr)
        pick = kept[torch.randint(0, len(kept), (n_reflow,), generator=gen)]
        z, x0 = pool["noise"][pick], pool["x0"][pick]
        c_ids, t_ids = clip_ids[pick], t5_ids[pick]
        real = torch.randint(0, len(packed), (args.batch - n_reflow,), generator=gen)
        z_real = torch.randn(packed[real].shape, generator=gen)
        rc, rt = data_clip[real].clone(), data_t5[real].clone()
        drop = torch.rand(len(real), generator=gen) < 0.1
        rc[drop], rt[drop] = empty_clip[0], empty_t5[0]
        z, x0 = torch.cat([z, z_real]), torch.cat([x0, packed[real]])
        c_ids, t_ids = torch.cat([c_ids, rc]), torch.cat([t_ids, rt])
        on_grid = torch.rand(args.batch, generator=gen) < GRID_SHARE
        uniform = flux1_shift(torch.rand(args.batch, generator=gen).clamp(1e-3, 1.0), mu)
        sigma = torch.where(on_grid, grid[torch.randint(0, len(grid), (args.batch,), generator=gen)], uniform)
        s = sigma[:, None, None]
        pooled, seq = encode_text(parts.clip, parts.t5, c_ids, t_ids)
        pred = flux_forward(
            parts.transformer, (1 - s) * x0 + s * z, sigma, pooled, seq, img_ids, txt_ids, None
        )
        loss = F.mse_loss(pred, z - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parts.modules.parameters(), 1.0)
        opt.step()
        step += 1
        parts.update_ema(min(args.ema, (1.0 + step) / (10.0 + step)))
        running = loss.item() if step == 1 else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            log(f"{model} reflow step {step} loss {running:.4f} elapsed {elapsed:.0f}s")
        if time.monotonic() - last_save > args.save_minutes * 60.0:
            save_state(state_path, parts, opt, elapsed, step)
            last_save = time.monotonic()
    elapsed = elapsed_before + time.monotonic() - start
    save_state(state_path, parts, opt, elapsed, step)
    args.run_name = run.name  # the model card reads the recipe from this run's folder
    recipe = RECIPE.format(steps=args.teacher_steps, cfg=args.teacher_cfg, scenes=args.scenes)
    if args.filter_pool:
        recipe += FILTERED.format(kept=len(kept), scenes=args.scenes)
    (run / "recipe.md").write_text(recipe)
    export(model, parts, vae, args, elapsed, step)
    log(f"reflow done: {step} steps in {elapsed / 60:.1f} min ({FLUX1_SIZE_PX}px)")
