"""Trains the toy FLUX.2 [klein] pipeline: ``python -m toyworld.train flux2-klein [options]``.

Stages, each resumable from ``runs/flux2-klein/``:

1. tokenizer + frozen tiny Qwen3 text encoder (built, not trained);
2. the ``AutoencoderKLFlux2`` (reconstruction + a tiny KL term), then its batch-norm
   latent statistics, which the pipeline uses to normalise the patchified latents;
3. a latent pool of train-split scenes (text-to-image) and reference edits, encoded and
   packed exactly like the pipeline does, plus the prompt embeddings of every caption;
4. the ``Flux2Transformer2DModel`` with rectified flow at the pipeline's shifted noise
   levels, caption dropout for classifier-free guidance, and reference-image tokens
   appended after the noisy tokens with the pipeline's ids (T=10).

The EMA weights are exported as a complete ``Flux2KleinPipeline`` directory into
``models/flux2-klein`` every few minutes and at the end, so a loadable checkpoint exists
throughout. ``--resume`` continues from the last state under ``runs/``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKLFlux2,
    FlowMatchEulerDiscreteScheduler,
    Flux2KleinPipeline,
    Flux2Transformer2DModel,
)
from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu
from transformers import Qwen2Tokenizer, Qwen3ForCausalLM

from toyworld import flux2_common as common
from toyworld.outline_style import render_outlined
from toyworld.world import caption_en, render, split_seeds

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = ROOT / "runs" / common.MODEL_NAME
DEFAULT_OUT_DIR = ROOT / "models" / common.MODEL_NAME

# Disjoint offsets inside the train split for the VAE and the two transformer pools.
VAE_SEED_OFFSET = 0
T2I_SEED_OFFSET = 1_000_000
EDIT_SEED_OFFSET = 2_000_000
REF_SEED_OFFSET = 3_000_000  # single-shape references of the k-reference edits
MULTI_SEED_OFFSET = 4_000_000  # k-reference edit examples (k = 2, 3, 4 at +0, +1M, +2M)
# Every OUTLINE_EVERY-th VAE batch is outlined renders (``outline_style``), so that the style
# LoRA trained on this base stays decodable.
OUTLINE_EVERY = 4

# Shipped sampling default: 8 steps matched 16 on colour, position and shape in a sweep.
NUM_INFERENCE_STEPS = 8
# Training noise levels use the pipeline's mu for 16 steps; mu barely moves with the step
# count at 64 image tokens (1.859 at 16 steps, 1.918 at 8).
TRAIN_MU_STEPS = 16
GUIDANCE_SCALE = 2.0
CAPTION_DROPOUT = 0.1


def log(message: str) -> None:
    """Prints a timestamped progress line (the run's log is its stdout)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m toyworld.train flux2-klein", description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--resume", action="store_true", help="continue from the state under --run-dir")
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--vae-minutes", type=float, default=10.0, help="stop VAE training after this long")
    parser.add_argument(
        "--vae-more-minutes", type=float, default=0.0, help="with --resume: train the VAE further"
    )
    parser.add_argument("--pool", type=int, default=12_000, help="text-to-image scenes in the pool")
    parser.add_argument("--edit-pool", type=int, default=8_000, help="one-reference recolour edits")
    parser.add_argument("--ref-pool", type=int, default=3_000, help="references of the k-reference edits")
    parser.add_argument("--multi-pool", type=int, default=5_000, help="k-reference edits per k (2, 3, 4)")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="stop transformer training after this long"
    )
    parser.add_argument("--batch", type=int, default=32, help="text-to-image examples per step")
    parser.add_argument("--edit-batch", type=int, default=24, help="one-reference edits per step")
    parser.add_argument(
        "--multi-batch", type=int, default=24, help="k-reference edits per step (k cycles 2, 3, 4)"
    )
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--decay-minutes", type=float, default=15.0, help="linear lr decay at the end")
    parser.add_argument("--export-minutes", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--card", action="store_true", help="evaluate --out and write its model card")
    parser.add_argument("--card-count", type=int, default=100)
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- stage 1: text


def text_components(run_dir: Path) -> tuple[Qwen2Tokenizer, Qwen3ForCausalLM]:
    """Builds (or reloads) the tokenizer and the frozen text encoder."""
    tok_dir, te_dir = run_dir / "tokenizer", run_dir / "text_encoder"
    if tok_dir.exists() and te_dir.exists():
        return Qwen2Tokenizer.from_pretrained(tok_dir), Qwen3ForCausalLM.from_pretrained(te_dir).eval()
    tokenizer = common.build_tokenizer()
    encoder = common.build_text_encoder(len(tokenizer))
    tokenizer.save_pretrained(tok_dir)
    encoder.save_pretrained(te_dir)
    return Qwen2Tokenizer.from_pretrained(tok_dir), Qwen3ForCausalLM.from_pretrained(te_dir).eval()


def max_sequence_length(tokenizer: Qwen2Tokenizer) -> int:
    """The longest chat-formatted caption: no prompt is ever truncated, none over-padded."""
    return max(common.chat_length(tokenizer, caption) for caption in common.all_captions())


# ----------------------------------------------------------------------------- stage 2: VAE


def render_batch(seeds: list[int], kind: str = "mix") -> torch.Tensor:
    """Renders a (B, 3, 64, 64) batch: ``mix`` alternates grey world-v1 scenes and edit images
    on varied backdrops (references and targets, one- and k-reference); ``outlined`` draws
    ``outline_style.render_outlined`` scenes."""
    images = []
    for seed in seeds:
        if kind == "outlined":
            image = render_outlined(common.t2i_scene(seed), common.IMAGE_SIZE)
        elif seed % 2:
            image = render(common.t2i_scene(seed) if seed % 4 == 1 else common.edit_pair(seed)[1])
        elif seed % 4 == 0:
            example = common.recolour_example(seed)
            image = example.target_image() if seed % 8 else example.reference_images()[0]
        else:
            scene, backdrop = common.reference_scene(seed)
            image = common.render_on(scene, backdrop)
        images.append(common.to_tensor(image))
    return torch.stack(images)


def train_vae(run_dir: Path, steps: int, minutes: float, more_minutes: float) -> Any:
    """Trains the VAE on train-split renders and sets its batch-norm latent statistics.

    A VAE already under ``run_dir`` is reused, or trained ``more_minutes`` further (at a
    lower peak rate) when that is positive; the latent pools of an older VAE are dropped.
    """
    vae_dir = run_dir / "vae"
    seconds_file = run_dir / "vae_seconds.txt"
    vae: Any
    if (vae_dir / "config.json").exists():
        vae = AutoencoderKLFlux2.from_pretrained(vae_dir)
        if more_minutes <= 0:
            log("VAE: reusing the trained one")
            return vae.eval()
        log(f"VAE: training {more_minutes} more minutes")
        budget, peak, done = more_minutes, 1e-3, float(seconds_file.read_text())
        for stale in run_dir.glob("pool_*.pt"):
            stale.unlink()
    else:
        torch.manual_seed(1)
        vae = AutoencoderKLFlux2(**common.VAE_CONFIG)
        budget, peak, done = minutes, 2e-3, 0.0
    vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=peak, weight_decay=0.0)
    batch = 32
    start = time.time()
    rng = random.Random(2 + int(done))
    for step in range(steps):
        # Cosine decay over the wall-clock budget: the machine is shared, so steps/s varies.
        progress = min(1.0, (time.time() - start) / (budget * 60))
        for group in opt.param_groups:
            group["lr"] = 5e-5 + (peak - 5e-5) * 0.5 * (1 + math.cos(math.pi * progress))
        seeds = [VAE_SEED_OFFSET + rng.randrange(900_000) for _ in range(batch)]
        x = render_batch(seeds, "outlined" if step % OUTLINE_EVERY == OUTLINE_EVERY - 1 else "mix")
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / x[0].numel()
        # The shapes cover a few percent of the pixels; weighting them keeps their colours exact
        # (and outlines thin). Shapes: pixels far from the median border colour (any backdrop).
        border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
        far = ((x - border.median(dim=2).values[:, :, None, None]).norm(dim=1, keepdim=True) > 0.5).float()
        # The neighbourhood of the shapes too: the hollows of small outlined shapes are a few
        # pixels wide and blur shut unless weighted.
        near = F.max_pool2d(far, 5, stride=1, padding=2)
        weight = 1.0 + 4.0 * far + 6.0 * near
        err = recon - x
        loss = (weight * err.square()).mean() + 0.5 * (weight * err.abs()).mean() + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log(f"VAE step {step} loss {loss.item():.4f} kl {kl.item():.3f}")
        if progress >= 1.0:
            log(f"VAE: time budget reached at step {step}")
            break
    vae.eval()
    set_latent_statistics(vae)
    vae.save_pretrained(vae_dir)
    seconds_file.write_text(f"{done + time.time() - start:.0f}\n")
    return vae


@torch.no_grad()
def set_latent_statistics(vae: Any, count: int = 2048) -> None:
    """Sets ``vae.bn`` running mean/var to the patchified latent statistics of train renders."""
    seeds = list(split_seeds("train", count, VAE_SEED_OFFSET + 950_000))
    latents = torch.cat([raw_latents(vae, render_batch(seeds[i : i + 256])) for i in range(0, count, 256)])
    vae.bn.running_mean.copy_(latents.mean(dim=(0, 2, 3)))
    vae.bn.running_var.copy_(latents.var(dim=(0, 2, 3)))
    vae.bn.num_batches_tracked.fill_(1)


@torch.no_grad()
def raw_latents(vae: Any, x: torch.Tensor) -> torch.Tensor:
    """Posterior mode, patchified as the pipeline does (before batch-norm)."""
    mode = vae.encode(x).latent_dist.mode()
    return Flux2KleinPipeline._patchify_latents(mode)


@torch.no_grad()
def packed_latents(vae: Any, x: torch.Tensor) -> torch.Tensor:
    """Encodes images exactly like ``Flux2KleinPipeline._encode_vae_image`` + ``_pack_latents``."""
    latents = raw_latents(vae, x)
    mean = vae.bn.running_mean.view(1, -1, 1, 1)
    std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps)
    return Flux2KleinPipeline._pack_latents((latents - mean) / std)


# ----------------------------------------------------------------------------- stage 3: pools


@torch.no_grad()
def build_pool(
    run_dir: Path,
    vae: Any,
    tokenizer: Qwen2Tokenizer,
    encoder: Qwen3ForCausalLM,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Encodes the text-to-image, recolour and k-reference pools and their prompt embeddings.

    Text-to-image keeps the grey world-v1 scenes; every edit reference and target is drawn on
    a varied backdrop. The k-reference edits index a shared pool of single-shape references.
    """
    sizes = (args.pool, args.edit_pool, args.ref_pool, args.multi_pool)
    path = run_dir / f"pool_{'_'.join(map(str, sizes))}.pt"
    if path.exists():
        log("pool: reusing")
        return dict(torch.load(path))
    start = time.time()
    t2i_scenes = [common.t2i_scene(s) for s in split_seeds("train", args.pool, T2I_SEED_OFFSET)]
    edits = [common.recolour_example(s) for s in split_seeds("train", args.edit_pool, EDIT_SEED_OFFSET)]
    ref_seeds = split_seeds("train", args.ref_pool, REF_SEED_OFFSET)
    multis: dict[int, list[common.EditExample]] = {}
    multi_refs: dict[int, torch.Tensor] = {}
    for j, k in enumerate(common.MULTI_REFERENCE_COUNTS):
        seeds = split_seeds("train", args.multi_pool, MULTI_SEED_OFFSET + j * 1_000_000)
        picks = [common.multi_reference_seeds(s, k, ref_seeds.start, len(ref_seeds)) for s in seeds]
        multis[k] = [common.multi_example(s, p) for s, p in zip(seeds, picks, strict=True)]
        multi_refs[k] = torch.tensor([[r - ref_seeds.start for r in p] for p in picks])
    captions = [caption_en(s) for s in t2i_scenes] + [caption_en(e.target) for e in edits]
    for k in common.MULTI_REFERENCE_COUNTS:
        captions += [caption_en(e.target) for e in multis[k]]
    prompts = common.unique(["", *captions])
    index = {p: i for i, p in enumerate(prompts)}
    msl = max_sequence_length(tokenizer)
    embeds = torch.cat(
        [
            Flux2KleinPipeline._get_qwen3_prompt_embeds(
                encoder,
                tokenizer,
                prompts[i : i + 128],
                max_sequence_length=msl,
                hidden_states_layers=common.TEXT_LAYERS,
            )
            for i in range(0, len(prompts), 128)
        ]
    )

    def encode(images: list[Any]) -> torch.Tensor:
        chunks = []
        for i in range(0, len(images), 256):
            x = torch.stack([common.to_tensor(image) for image in images[i : i + 256]])
            chunks.append(packed_latents(vae, x))
        return torch.cat(chunks)

    pool: dict[str, Any] = {
        "embeds": embeds,
        "t2i_latents": encode([render(s, common.IMAGE_SIZE) for s in t2i_scenes]),
        "t2i_prompt": torch.tensor([index[caption_en(s)] for s in t2i_scenes]),
        "ref_latents": encode([e.reference_images()[0] for e in edits]),
        "edit_latents": encode([e.target_image() for e in edits]),
        "edit_prompt": torch.tensor([index[caption_en(e.target)] for e in edits]),
        "multi_ref_latents": encode([common.render_on(*common.reference_scene(s)) for s in ref_seeds]),
        "max_sequence_length": msl,
    }
    for k in common.MULTI_REFERENCE_COUNTS:
        pool[f"multi{k}_latents"] = encode([e.target_image() for e in multis[k]])
        pool[f"multi{k}_prompt"] = torch.tensor([index[caption_en(e.target)] for e in multis[k]])
        pool[f"multi{k}_refs"] = multi_refs[k]
    torch.save(pool, path)
    log(f"pool: {len(prompts)} prompts, {sizes} examples in {time.time() - start:.0f}s")
    return pool


# ----------------------------------------------------------------------------- stage 4: transformer


def flow_batch(
    latents: torch.Tensor, mu: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (noisy, sigma, velocity target) at the pipeline's shifted noise levels.

    The pipeline walks sigmas ``shift(linspace(1, 1/N))`` with ``x <- x + (s' - s) v``, so the
    model predicts ``v = noise - x0`` at ``x_s = (1 - s) x0 + s noise``.
    """
    b = latents.shape[0]
    u = torch.rand(b, generator=generator).clamp(1e-4, 1 - 1e-4)
    sigma = common.shifted_sigmas(u, mu)
    noise = torch.randn(latents.shape, generator=generator)
    s = sigma.view(b, 1, 1)
    return (1 - s) * latents + s * noise, sigma, noise - latents


def ids_for(msl: int) -> dict[str, torch.Tensor]:
    """Text, target-latent and reference-latent position ids as the pipeline builds them:
    ``ref{k}`` holds the ids of k references (time ids 10, 20, ..., 10 k)."""
    grid = common.IMAGE_SIZE // 8
    probe = torch.zeros(1, 1, grid, grid)
    ids = {
        "txt": Flux2KleinPipeline._prepare_text_ids(torch.zeros(1, msl, 1))[0],
        "img": Flux2KleinPipeline._prepare_latent_ids(probe)[0],
    }
    for k in (1, *common.MULTI_REFERENCE_COUNTS):
        ids[f"ref{k}"] = Flux2KleinPipeline._prepare_image_ids([probe] * k)[0]
    return ids


def task_loss(
    model: Any,
    pool: dict[str, Any],
    task: str,
    batch: int,
    mu: float,
    ids: dict[str, torch.Tensor],
    generator: torch.Generator,
) -> torch.Tensor:
    """Rectified-flow loss of one batch of ``task``: "t2i", "edit" (one reference, recolour)
    or "multi2".."multi4" (k references, appended in order like the pipeline packs them)."""
    n = pool[f"{task}_latents"].shape[0]
    pick = torch.randint(0, n, (batch,), generator=generator)
    x0 = pool[f"{task}_latents"][pick]
    prompt = pool[f"{task}_prompt"][pick].clone()
    # Caption dropout: the pipeline's unconditional branch encodes "" (index 0 of the pool).
    prompt[torch.rand(batch, generator=generator) < CAPTION_DROPOUT] = 0
    embeds = pool["embeds"][prompt]
    noisy, sigma, target = flow_batch(x0, mu, generator)
    hidden, all_ids = noisy, ids["img"]
    if task == "edit":
        hidden = torch.cat([noisy, pool["ref_latents"][pick]], dim=1)
        all_ids = torch.cat([ids["img"], ids["ref1"]], dim=0)
    elif task.startswith("multi"):
        refs = pool[f"{task}_refs"][pick]  # (B, k) indices into the reference pool
        k = refs.shape[1]
        hidden = torch.cat([noisy, *(pool["multi_ref_latents"][refs[:, i]] for i in range(k))], dim=1)
        all_ids = torch.cat([ids["img"], ids[f"ref{k}"]], dim=0)
    out = model(
        hidden_states=hidden,
        encoder_hidden_states=embeds,
        timestep=sigma,
        img_ids=all_ids,
        txt_ids=ids["txt"],
        return_dict=False,
    )[0]
    return F.mse_loss(out[:, : noisy.shape[1]], target)


def export(
    out_dir: Path,
    transformer: Any,
    vae: Any,
    tokenizer: Qwen2Tokenizer,
    encoder: Qwen3ForCausalLM,
    msl: int,
    facts: dict[str, Any],
) -> None:
    """Writes the pipeline directory, its imaging defaults and model card (replacing atomically)."""
    # Encoding the prompts leaves fixed padding and truncation set on the fast tokenizer's
    # backend; saved, a plain ``tokenizer(text)`` would pad every text to the pipeline's length.
    tokenizer.backend_tokenizer.no_padding()
    tokenizer.backend_tokenizer.no_truncation()
    pipe: Any = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**common.SCHEDULER_CONFIG),
        vae=vae,
        text_encoder=encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    defaults = {
        "height": common.IMAGE_SIZE,
        "width": common.IMAGE_SIZE,
        "num_inference_steps": NUM_INFERENCE_STEPS,
        "max_sequence_length": msl,
        "guidance_scale": GUIDANCE_SCALE,
        "text_encoder_out_layers": list(common.TEXT_LAYERS),
    }
    (tmp / "imaging_defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")
    (tmp / "training_facts.json").write_text(json.dumps(facts, indent=2) + "\n")
    card = out_dir / "README.md"
    if card.exists():
        shutil.copy(card, tmp / "README.md")
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def param_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def train_transformer(args: argparse.Namespace, run_dir: Path) -> None:
    tokenizer, encoder = text_components(run_dir)
    vae = train_vae(run_dir, args.vae_steps, args.vae_minutes, args.vae_more_minutes)
    pool = build_pool(run_dir, vae, tokenizer, encoder, args)
    msl = int(pool["max_sequence_length"])
    ids = ids_for(msl)
    grid = common.IMAGE_SIZE // 8
    mu = compute_empirical_mu(image_seq_len=grid * grid, num_steps=TRAIN_MU_STEPS)

    torch.manual_seed(3)
    model: Any = Flux2Transformer2DModel(**common.TRANSFORMER_CONFIG)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(4)
    step, elapsed = 0, 0.0
    state_path = run_dir / "transformer_state.pt"
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        generator.set_state(state["generator"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        log(f"resumed at step {step} ({elapsed / 60:.1f} min)")

    facts: dict[str, Any] = {
        "parameters": {
            "transformer": param_count(model),
            "vae": param_count(vae),
            "text_encoder": param_count(encoder),
        },
        "vocab_size": len(tokenizer),
        "vae_seconds": float((run_dir / "vae_seconds.txt").read_text()),
        "pool": args.pool,
        "edit_pool": args.edit_pool,
        "ref_pool": args.ref_pool,
        "multi_pool": args.multi_pool,
        "batch_per_task": args.batch,
        "edit_batch": args.edit_batch,
        "multi_batch": args.multi_batch,
        "lr": args.lr,
        "mu": mu,
        "versions": {
            "torch": torch.__version__,
            "diffusers": __import__("diffusers").__version__,
            "transformers": __import__("transformers").__version__,
            "python": platform.python_version(),
        },
    }
    log(f"transformer: {facts['parameters']} msl={msl} mu={mu:.3f}")

    def save_state() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "generator": generator.get_state(),
                "step": step,
                "elapsed": elapsed,
            },
            state_path,
        )

    def do_export() -> None:
        facts.update(steps=step, transformer_seconds=round(elapsed))
        export(args.out, ema, vae, tokenizer, encoder, msl, facts)
        log(f"exported step {step} to {args.out}")

    warmup = 200
    last_export = time.time() if step else 0.0
    losses: list[float] = []
    model.train()
    tick = time.time()
    while step < args.steps and elapsed < args.minutes * 60:
        # Linear warm-up, then constant, then a linear decay over the last --decay-minutes.
        remaining = args.minutes * 60 - elapsed
        decay = min(1.0, remaining / (args.decay_minutes * 60)) if args.decay_minutes > 0 else 1.0
        lr = args.lr * min(1.0, (step + 1) / warmup) * max(0.05, decay)
        for group in opt.param_groups:
            group["lr"] = lr
        # Every step: text-to-image, one-reference recolour and one k-reference task (k cycles).
        k = common.MULTI_REFERENCE_COUNTS[step % len(common.MULTI_REFERENCE_COUNTS)]
        loss = task_loss(model, pool, "t2i", args.batch, mu, ids, generator)
        loss = loss + task_loss(model, pool, "edit", args.edit_batch, mu, ids, generator)
        loss = loss + task_loss(model, pool, f"multi{k}", args.multi_batch, mu, ids, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema_decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - ema_decay)
        step += 1
        now = time.time()
        elapsed += now - tick
        tick = now
        losses.append(loss.item() / 3)
        if step % 50 == 0:
            log(f"step {step} loss {np.mean(losses):.4f} lr {lr:.2e} ({elapsed / 60:.1f} min)")
            losses.clear()
        if step % 200 == 0:
            save_state()
        if now - last_export > args.export_minutes * 60:
            save_state()
            do_export()
            last_export = time.time()
            tick = time.time()
    save_state()
    do_export()
    log("done")


CARD_TEMPLATE = """# flux2-klein (toy FLUX.2 [klein] pipeline)

A complete `diffusers.Flux2KleinPipeline` directory trained from scratch on the toy world
(`toyworld/world.py`): 64x64 renders of one or two coloured shapes. It does text-to-image
(grey background, as the prompts name no background) and reference-image edits with 1 to 4
references on any background: "the same shape in another colour" with one reference, and
with k = 2..4 references the shape of reference 1 in the prompt's colour, centred as in
reference 2, on the background of reference 3, at the size of reference 4.

```python
import torch
from diffusers import Flux2KleinPipeline

pipe = Flux2KleinPipeline.from_pretrained("models/flux2-klein")
# image: None (text-to-image), [reference] (recolour) or [shape, position, background, size]
image = pipe(prompt="a big red circle on the left", image=references,
             height=64, width=64, num_inference_steps={steps}, max_sequence_length={msl},
             guidance_scale={guidance}, generator=torch.Generator().manual_seed(0)).images[0]
```

`imaging_defaults.json` holds the call arguments that match training: {defaults}.

## Components

- tokenizer: `Qwen2Tokenizer`, vocabulary {vocab}: a byte-level BPE trained on every English
  and French caption (each word is one token) with a Qwen3-style chat template that honours
  `enable_thinking=False`.
- text encoder: `Qwen3ForCausalLM`, {te_params:,} parameters: 27 layers of width 32 (the
  pipeline stacks hidden states 9, 18 and 27), random and frozen, token embeddings drawn at
  unit scale so that token identity dominates the features.
- VAE: `AutoencoderKLFlux2`, {vae_params:,} parameters: blocks {vae_blocks}, 4 latent channels,
  4x downsampling (8x with the pipeline's 2x2 patchify, i.e. 8x8 tokens), trained on grey
  world-v1 renders, the varied-background renders of the edits and, in every 4th batch,
  outlined renders (`toyworld.outline_style.render_outlined`, the style of the outline LoRA);
  its batch-norm latent statistics are measured on 2048 train renders (grey and varied).
- transformer: `Flux2Transformer2DModel`, {tr_params:,} parameters: {tr_desc}.
- scheduler: `FlowMatchEulerDiscreteScheduler` with the klein config (dynamic exponential
  shift; `mu` from the pipeline's `compute_empirical_mu`).

## Training

Data: train-split seeds only (never validation or test). Every step has three parts:

- text-to-image (batch {batch}): prompt = English caption of `sample_scene(seed)` (one or
  two shapes), rendered on the world's plain grey background; pool of {pool} scenes;
- one-reference recolour edits (batch {edit_batch}; pool {edit_pool}): reference = a
  single-shape scene on a varied background; target = the same scene in another colour,
  same shape, size, position, jitter and background; prompt = target caption;
- k-reference edits (batch {multi_batch}; k cycles 2, 3, 4 from step to step; {multi_pool}
  examples per k, drawing their references from a pool of {ref_pool} single-shape scenes on
  varied backgrounds): reference 1 gives the shape (and the size when k < 4, the background
  when k < 3), reference 2 the exact centre (x and y jitter), reference 3 the background,
  reference 4 the size (radius); the colour is the prompt's (target caption, unchanged
  templates), drawn to contrast with the background and, where possible, unlike reference 1.

Varied backgrounds are world v2's (`toyworld.variety`: its background colour and drawing
code at 64x64): any brightness and hue, black and white included, plain (45%), two-tone
gradients (30%) or low-contrast texture (25%), each at least 110 RGB from the shapes on it.
Shapes keep the palette's exact `COLOURS`. Latents are encoded, patchified,
batch-normalised and packed exactly as the pipeline does; reference latents are appended
after the noisy tokens in order with the pipeline's ids (T = 10, 20, 30, 40); the loss
covers the noisy tokens only.

Rectified flow: `x_s = (1 - s) x0 + s noise`, target `noise - x0`, with `s` drawn as the
scheduler's exponential shift of a uniform draw at mu = {mu:.3f} (the pipeline's mu for 64
image tokens and 16 steps; the shipped {steps} steps sample at mu = {mu_default:.3f}),
prompts padded to max_sequence_length = {msl} like the pipeline, 10% caption dropout to the
empty prompt (the pipeline's negative prompt for CFG).
AdamW lr {lr}, EMA 0.999 (exported).

Commands as run (CPU, one thread, nice 10, on a machine shared with other work):

```
{commands}
```

Wall time: VAE {vae_min:.0f} min, transformer {tr_min:.0f} min ({train_steps} steps).
Versions: {versions}.

## Quality (held-out test split, {count} cases per task)

| metric | value |
|---|---|
{quality}

Foreground = pixels that are clearly coloured and more than 60 RGB from the background
plane fitted to the image border. Colour is the palette entry nearest to most foreground
pixels; position is the horizontal third of their centroid; centre is the centroid's x
within 6 px of the position reference's; shape is read from how much of its bounding box
the foreground fills; area is within 35% of the target render's; background kept means all
four border sides' median colours within 40 RGB of the background reference's. The VAE rows
encode and decode {count} test renders: outlined ones must read back as outlined
(`outline_style.is_outlined`; this bounds the outline LoRA), and the mean absolute error on varied-background
references is a fraction of 255. `python -m toyworld.evaluate --only flux2 --count {count}`
reproduces the table.

## Limitations

{limitations}
"""

LIMITATIONS = """\
- A toy: 64x64 only, the toy world's palette, shapes and phrasing only.
- The text encoder is random and frozen, so prompts are understood only through the
  transformer's reading of its features; only English captions were trained (the tokenizer
  knows the French words, the model has never been taught them).
- Shapes are softer than the renders: the bounding-box shape check passes on 64-74% of
  edits (90% for the true targets after the VAE round trip) and backgrounds are kept on
  83-92% (91% after the VAE alone); colour and position are what the model reliably gets
  right.
- The VAE reads back 90% of outlined renders as outlined (the renders themselves: 96%),
  so the outline LoRA can reach at most that; thin outlines of small shapes blur shut.
- Edits are trained for two kinds only: recolour one reference, and the fixed
  attribute-per-reference rule of 2-4 references (shape, centre, background, size). Other
  combinations, more than 4 references, or several shapes per reference were never trained.
- Text-to-image draws the grey background only (no prompt names a background).
- Trained for under an hour and a half on a shared CPU, far from convergence.
"""


# The commands that trained the shipped checkpoint, as run (updated with each retraining).
COMMANDS = """\
# 1. tokenizer, text encoder, VAE (12 min, shape-weighted loss without the neighbourhood
#    term); stopped once the VAE was saved (outlines read back: 81%)
python -m toyworld.train flux2-klein --threads 1 --run-dir runs/flux2-klein-v2 \\
    --out runs/flux2-klein-v2-export --vae-minutes 12 --vae-steps 100000 \\
    --minutes 63 --decay-minutes 12 --multi-batch 32
# 2. VAE 7 more minutes with the neighbourhood weight (outlines: 90%); stopped once saved
python -m toyworld.train flux2-klein --threads 1 --run-dir runs/flux2-klein-v2 \\
    --out runs/flux2-klein-v2-export --resume --vae-more-minutes 7 --vae-steps 100000 \\
    --minutes 60 --decay-minutes 12 --multi-batch 32
# 3. VAE 5 more minutes, pools, transformer (56 min, the last 12 decaying the lr)
python -m toyworld.train flux2-klein --threads 1 --run-dir runs/flux2-klein-v2 \\
    --out runs/flux2-klein-v2-export --resume --vae-more-minutes 5 --vae-steps 100000 \\
    --minutes 56 --decay-minutes 12 --multi-batch 32
# 4. evaluation of the export (better than the previous card on every earlier row), then
cp -r runs/flux2-klein-v2-export models/flux2-klein
# 5. evaluation and this card
python -m toyworld.train flux2-klein --card"""


def write_card(out_dir: Path, count: int) -> None:
    """Evaluates the exported checkpoint and writes its ``README.md`` model card."""
    from toyworld import eval_flux2

    facts = json.loads((out_dir / "training_facts.json").read_text())
    defaults = common.read_defaults(out_dir)
    rows = eval_flux2.evaluate_dir(out_dir, count)
    tr = common.TRANSFORMER_CONFIG
    card = CARD_TEMPLATE.format(
        steps=defaults["num_inference_steps"],
        msl=defaults["max_sequence_length"],
        guidance=defaults["guidance_scale"],
        defaults=json.dumps(defaults),
        vocab=facts["vocab_size"],
        te_params=facts["parameters"]["text_encoder"],
        vae_params=facts["parameters"]["vae"],
        vae_blocks=common.VAE_CONFIG["block_out_channels"],
        tr_params=facts["parameters"]["transformer"],
        tr_desc=(
            f"{tr['num_layers']} double-stream + {tr['num_single_layers']} single-stream blocks, "
            f"{tr['num_attention_heads']} heads x {tr['attention_head_dim']}, "
            f"RoPE axes {tr['axes_dims_rope']}, "
            "no guidance embedding (CFG model)"
        ),
        pool=facts["pool"],
        edit_pool=facts.get("edit_pool", "-"),
        ref_pool=facts.get("ref_pool", "-"),
        multi_pool=facts.get("multi_pool", "-"),
        edit_batch=facts.get("edit_batch", "-"),
        multi_batch=facts.get("multi_batch", "-"),
        commands=COMMANDS,
        mu=facts["mu"],
        mu_default=compute_empirical_mu(
            image_seq_len=64, num_steps=int(str(defaults["num_inference_steps"]))
        ),
        lr=facts["lr"],
        batch=facts["batch_per_task"],
        vae_min=facts["vae_seconds"] / 60,
        tr_min=facts["transformer_seconds"] / 60,
        train_steps=facts["steps"],
        versions=", ".join(f"{k} {v}" for k, v in facts["versions"].items()),
        count=count,
        quality="\n".join(f"| {row.metric} | {row.value:.1%} |" for row in rows),
        limitations=LIMITATIONS,
    )
    (out_dir / "README.md").write_text(card)
    for row in rows:
        log(f"{row.metric}: {row.value:.1%}")


def main(model: str, argv: list[str]) -> None:
    """Entry point of ``python -m toyworld.train flux2-klein``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.card:
        write_card(args.out, args.card_count)
        return
    run_dir: Path = args.run_dir
    if not args.resume and run_dir.exists():
        # A fresh run starts over; --resume reuses every finished stage.
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f"training {model} into {args.out}")
    train_transformer(args, run_dir)
