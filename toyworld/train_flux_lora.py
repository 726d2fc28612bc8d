"""Trains a style LoRA on a shipped FLUX base: ``python -m toyworld.train flux1-schnell-lora-outline``
or ``flux2-klein-lora-outline``.

The base pipeline is loaded exactly as the generator loads it; its text
encoders and VAE stay frozen and only LoRA matrices on the transformer's
attention and feed-forward projections train, with the base's own
rectified-flow loss, on outlined pictures (``toyworld.outline_style``)
captioned as usual: the base's own pictures from fixed starting noise,
hollowed, kept with that noise (``Recipe.paired``), or rendered scenes.
The adapter is saved with the pipeline's ``save_lora_weights``, so
``pipe.load_lora_weights(dir)`` (and the generator's ``adapters``) load it.
State is checkpointed under ``runs/`` and ``--resume`` continues a run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peft
import torch
import torch.nn.functional as F

from toyworld import flux2_common
from toyworld.flux1_common import (
    FLUX1_MAX_SEQUENCE_LENGTH,
    FLUX1_SIZE_PX,
    flux1_mu,
    flux1_shift,
    flux1_step_sigmas,
)
from toyworld.outline_style import HOLLOW_BELOW, hollow, is_outlined, render_outlined
from toyworld.world import caption_en, sample_scene, split_seeds

ROOT = Path(__file__).resolve().parent.parent
CAPTION_DROPOUT = 0.1
# Train seeds of the style set start here, away from the offsets the bases' own pools used.
SEED_OFFSET = 5_000_000


@dataclass(frozen=True)
class Recipe:
    """What differs between the two families."""

    base: str
    pipeline: str
    targets: tuple[str, ...]
    # Train on the base's own noise-to-image pairs, hollowed (``Flux1Data``): for a
    # base distilled to few steps, whose paths are straight.
    paired: bool = False


RECIPES = {
    "flux1-schnell-lora-outline": Recipe(
        base="flux1-schnell",
        pipeline="FluxPipeline",
        targets=(
            "to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
            "ff.net.0.proj", "ff.net.2", "proj_mlp",
        ),
        paired=True,
    ),
    "flux2-klein-lora-outline": Recipe(
        base="flux2-klein",
        pipeline="Flux2KleinPipeline",
        targets=(
            "to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
            "linear_in", "linear_out", "to_qkv_mlp_proj",
        ),
        paired=True,
    ),
}  # fmt: skip


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def parse_args(model: str, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m toyworld.train {model}")
    parser.add_argument("--minutes", type=float, default=12.0, help="training time budget")
    parser.add_argument("--scenes", type=int, default=3000, help="outlined training scenes")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--save-minutes", type=float, default=3.0)
    parser.add_argument("--resume", action="store_true", help="continue from runs/MODEL/state.pt")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    return parser.parse_args(argv)


def load_base(recipe: Recipe, models: Path) -> Any:
    import diffusers

    pipe = getattr(diffusers, recipe.pipeline).from_pretrained(models / recipe.base)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def to_unit(images: list[Any]) -> torch.Tensor:
    return torch.stack([flux2_common.to_tensor(image) for image in images])


class Flux1Data:
    """Packed latents, text embeddings and ids of the outlined set, encoded once by the frozen base.

    With ``pairs`` (the base's default sampling settings), the targets are not
    rendered: each is the base's own picture from a fixed starting noise,
    hollowed (``outline_style.hollow``), and training keeps that noise with it.
    schnell was distilled to straight, few-step paths; independent noise and
    targets teach curved ones, whose average a 4-step sampler turns into
    blurred shapes of mixed colours. On the base's own pairs the adapter only
    learns to hollow what the base draws from each noise.
    """

    def __init__(self, pipe: Any, scenes: list[Any], pairs: dict[str, Any] | None = None) -> None:
        from diffusers import FluxPipeline

        vae = pipe.vae
        self.noise: torch.Tensor | None = None
        with torch.no_grad():
            if pairs is None:
                targets = _chunks(scenes, render_outlined)
            else:
                self.noise, targets, scenes = _base_pairs(pipe, scenes, pairs)
            means = torch.cat([vae.encode(to_unit(images)).latent_dist.mean for images in targets])
            scaled = (means - vae.config.shift_factor) * vae.config.scaling_factor
            n, c, h, w = scaled.shape
            self.latents = FluxPipeline._pack_latents(scaled, n, c, h, w)
            self.img_ids = FluxPipeline._prepare_latent_image_ids(
                n, h // 2, w // 2, torch.device("cpu"), torch.float32
            )
            prompts = ["", *sorted({caption_en(scene) for scene in scenes})]
            embeds, pooled, self.txt_ids = pipe.encode_prompt(
                prompt=prompts, prompt_2=None, max_sequence_length=FLUX1_MAX_SEQUENCE_LENGTH
            )
        index = {prompt: i for i, prompt in enumerate(prompts)}
        self.prompt = torch.tensor([index[caption_en(scene)] for scene in scenes])
        self.embeds, self.pooled = embeds, pooled
        self.mu = flux1_mu()
        # The sigmas a 1-, 2- or 4-step sampler visits: half of the paired batches train there.
        self.grid = flux1_step_sigmas((1, 2, 4), self.mu)

    def loss(self, transformer: Any, batch: int, generator: torch.Generator) -> torch.Tensor:
        pick = torch.randint(0, len(self.latents), (batch,), generator=generator)
        x0 = self.latents[pick]
        prompt = self.prompt[pick].clone()
        sigma = flux1_shift(torch.rand(batch, generator=generator).clamp(1e-3, 1.0), self.mu)
        noise, sigma = _noise_and_sigma(self.noise, self.grid, pick, x0, prompt, sigma, generator)
        s = sigma[:, None, None]
        out = transformer(
            hidden_states=(1 - s) * x0 + s * noise,
            timestep=sigma,
            guidance=None,
            pooled_projections=self.pooled[prompt],
            encoder_hidden_states=self.embeds[prompt],
            txt_ids=self.txt_ids,
            img_ids=self.img_ids,
            return_dict=False,
        )[0]
        return F.mse_loss(out, noise - x0)


def _noise_and_sigma(
    pairs: torch.Tensor | None,
    grid: torch.Tensor,
    pick: torch.Tensor,
    x0: torch.Tensor,
    prompt: torch.Tensor,
    sigma: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and sigmas of a batch: fresh noise, with some captions emptied (in place in
    ``prompt``); or, for pairs, each target's own noise, with half of the sigmas moved
    onto the sampler's ``grid`` (a pair belongs to its prompt: no empty captions)."""
    batch = len(pick)
    if pairs is None:
        prompt[torch.rand(batch, generator=generator) < CAPTION_DROPOUT] = 0
        return torch.randn(x0.shape, generator=generator), sigma
    on_grid = torch.rand(batch, generator=generator) < 0.5
    on = grid[torch.randint(0, len(grid), (batch,), generator=generator)]
    return pairs[pick], torch.where(on_grid, on, sigma)


def _base_pairs(
    pipe: Any, scenes: list[Any], defaults: dict[str, Any], chunk: int = 64
) -> tuple[torch.Tensor, list[list[Any]], list[Any]]:
    """Seeded starting noise (packed, as the transformer sees it) for each scene, the
    base's picture from it at its default settings, hollowed, and the scenes kept."""
    from PIL import Image

    noises, targets, kept = [], [], []
    for start in range(0, len(scenes), chunk):
        part = scenes[start : start + chunk]
        prompts = [caption_en(scene) for scene in part]
        seed = torch.Generator().manual_seed(SEED_OFFSET + start)
        if pipe.__class__.__name__ == "FluxPipeline":
            channels = pipe.transformer.config.in_channels // 4
            noise, _ = pipe.prepare_latents(
                len(part), channels, FLUX1_SIZE_PX, FLUX1_SIZE_PX, torch.float32, torch.device("cpu"), seed
            )
            images = pipe(
                prompts,
                latents=noise,
                height=FLUX1_SIZE_PX,
                width=FLUX1_SIZE_PX,
                num_inference_steps=int(defaults["num_inference_steps"]),
                true_cfg_scale=float(defaults["true_cfg_scale"]),
                negative_prompt=[str(defaults["negative_prompt"])] * len(part),
                guidance_scale=float(defaults["guidance_scale"]),
                max_sequence_length=FLUX1_MAX_SEQUENCE_LENGTH,
                output_type="np",
            ).images
            packed = noise
        else:  # klein takes its starting latents unpacked
            side = flux2_common.IMAGE_SIZE // (pipe.vae_scale_factor * 2)
            shape = (len(part), pipe.transformer.config.in_channels, side, side)
            noise = torch.randn(shape, generator=seed)
            kwargs = flux2_common.call_kwargs(defaults)
            images = pipe(prompt=prompts, latents=noise, output_type="np", **kwargs).images
            packed = pipe._pack_latents(noise)
        hollowed = [
            hollow((image * 255).round().astype("uint8"), scene)
            for image, scene in zip(images, part, strict=True)
        ]
        # A base picture whose hollowed shape does not read as an outline (a broken
        # stroke, a shape too faint to find) would teach the wrong thing: dropped.
        keep = [i for i, pixels in enumerate(hollowed) if is_outlined(Image.fromarray(pixels))]
        noises.append(packed[keep])
        targets.append([Image.fromarray(hollowed[i]) for i in keep])
        kept += [part[i] for i in keep]
        log(f"base pairs: {len(kept)} kept of {start + len(part)} (of {len(scenes)})")
    return torch.cat(noises), targets, kept


class Flux2Data:
    """The same for FLUX.2 [klein]: Qwen3 prompt embeddings and batch-normalised packed latents,
    from rendered targets or (``pairs``) the base's own pairs, as ``Flux1Data``."""

    def __init__(
        self, pipe: Any, scenes: list[Any], models: Path, pairs: dict[str, Any] | None = None
    ) -> None:
        from diffusers import Flux2KleinPipeline

        defaults = flux2_common.read_defaults(models / flux2_common.MODEL_NAME)
        msl = int(defaults["max_sequence_length"])  # type: ignore[call-overload]
        vae = pipe.vae
        mean = vae.bn.running_mean.view(1, -1, 1, 1)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps)
        self.noise: torch.Tensor | None = None
        with torch.no_grad():
            if pairs is None:
                targets = _chunks(scenes, render_outlined)
            else:
                self.noise, targets, scenes = _base_pairs(pipe, scenes, pairs)
            chunks = []
            for images in targets:
                mode = vae.encode(to_unit(images)).latent_dist.mode()
                patches = Flux2KleinPipeline._patchify_latents(mode)
                chunks.append(Flux2KleinPipeline._pack_latents((patches - mean) / std))
            self.latents = torch.cat(chunks)
            prompts = ["", *sorted({caption_en(scene) for scene in scenes})]
            self.embeds = Flux2KleinPipeline._get_qwen3_prompt_embeds(
                pipe.text_encoder,
                pipe.tokenizer,
                prompts,
                max_sequence_length=msl,
                hidden_states_layers=flux2_common.TEXT_LAYERS,
            )
            grid = flux2_common.IMAGE_SIZE // 8
            self.txt_ids = Flux2KleinPipeline._prepare_text_ids(torch.zeros(1, msl, 1))[0]
            self.img_ids = Flux2KleinPipeline._prepare_latent_ids(torch.zeros(1, 1, grid, grid))[0]
        index = {prompt: i for i, prompt in enumerate(prompts)}
        self.prompt = torch.tensor([index[caption_en(scene)] for scene in scenes])
        facts = json.loads((models / flux2_common.MODEL_NAME / "training_facts.json").read_text())
        self.mu = float(facts["mu"])
        steps = int(defaults["num_inference_steps"])  # type: ignore[call-overload]
        self.grid = flux2_common.shifted_sigmas(torch.linspace(1.0, 1.0 / steps, steps), self.mu)

    def loss(self, transformer: Any, batch: int, generator: torch.Generator) -> torch.Tensor:
        pick = torch.randint(0, len(self.latents), (batch,), generator=generator)
        x0 = self.latents[pick]
        prompt = self.prompt[pick].clone()
        u = torch.rand(batch, generator=generator).clamp(1e-4, 1 - 1e-4)
        sigma = flux2_common.shifted_sigmas(u, self.mu)
        noise, sigma = _noise_and_sigma(self.noise, self.grid, pick, x0, prompt, sigma, generator)
        s = sigma.view(batch, 1, 1)
        out = transformer(
            hidden_states=(1 - s) * x0 + s * noise,
            encoder_hidden_states=self.embeds[prompt],
            timestep=sigma,
            img_ids=self.img_ids,
            txt_ids=self.txt_ids,
            return_dict=False,
        )[0]
        return F.mse_loss(out, noise - x0)


def _defaults(recipe: Recipe, models: Path) -> dict[str, Any] | None:
    """The base's default sampling settings, when the recipe trains on the base's own pairs."""
    return dict(flux2_common.read_defaults(models / recipe.base)) if recipe.paired else None


def _chunks(scenes: list[Any], draw: Any, size: int = 256) -> list[list[Any]]:
    return [[draw(scene) for scene in scenes[i : i + size]] for i in range(0, len(scenes), size)]


def save_adapter(pipe: Any, transformer: Any, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = peft.get_peft_model_state_dict(transformer)
    type(pipe).save_lora_weights(out_dir, transformer_lora_layers=layers)


def card_only(model: str, argv: list[str]) -> None:
    """Rewrites the model card of an adapter already trained (``--card-only``), from its
    training_info.json, e.g. after the evaluation changed."""
    args = parse_args(model, [a for a in argv if a != "--card-only"])
    out_dir = args.models / model
    info = json.loads((out_dir / "training_info.json").read_text(encoding="utf-8"))
    for key in ("scenes", "batch", "lr", "rank"):
        setattr(args, key, info[key])
    write_card(model, RECIPES[model], out_dir, args, info["steps"], info["seconds"], info["commands"])


def main(model: str, argv: list[str]) -> None:
    if "--card-only" in argv:
        card_only(model, argv)
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    recipe = RECIPES[model]
    args = parse_args(model, argv)
    run_dir = args.runs / model
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir = args.models / model
    pipe = load_base(recipe, args.models)
    scenes = [sample_scene(seed) for seed in split_seeds("train", args.scenes, SEED_OFFSET)]
    started_encoding = time.time()
    data: Flux1Data | Flux2Data = (
        Flux1Data(pipe, scenes, pairs=_defaults(recipe, args.models))
        if recipe.pipeline == "FluxPipeline"
        else Flux2Data(pipe, scenes, args.models, pairs=_defaults(recipe, args.models))
    )
    log(f"encoded {len(data.latents)} outlined targets in {time.time() - started_encoding:.0f}s")
    transformer = pipe.transformer
    transformer.requires_grad_(False)
    config = peft.LoraConfig(
        r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian", target_modules=list(recipe.targets)
    )
    transformer.add_adapter(config)
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    log(f"{model}: {sum(p.numel() for p in trainable):,} trainable LoRA parameters on {recipe.base}")
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    state_path = run_dir / "state.pt"
    step, elapsed_before = 0, 0.0
    commands: list[str] = []
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        peft.set_peft_model_state_dict(transformer, state["lora"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before, commands = state["step"], state["elapsed"], state["commands"]
        log(f"resumed at step {step}, {elapsed_before / 60:.1f} min trained")
    command = "python -m toyworld.train " + shlex.join([model, *argv])
    generator = torch.Generator().manual_seed(1000 + step)
    budget = 60.0 * args.minutes
    start = last_save = time.monotonic()
    running = 0.0
    transformer.train()

    def checkpoint(elapsed: float) -> None:
        torch.save(
            {
                "lora": peft.get_peft_model_state_dict(transformer),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "commands": [*commands, command],  # this run included, for a later --resume
            },
            state_path,
        )
        save_adapter(pipe, transformer, out_dir)
        settings = {k: v for k, v in vars(args).items() if k not in ("models", "runs", "resume")}
        info = {"steps": step, "seconds": round(elapsed), "commands": [*commands, command], **settings}
        (out_dir / "training_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    while (elapsed := elapsed_before + time.monotonic() - start) < budget:
        # Constant rate, then a linear decay over the last third of the budget.
        fraction = elapsed / budget
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, 3.0 * (1.0 - fraction))
        loss = data.loss(transformer, args.batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        step += 1
        running = loss.item() if step == 1 else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            log(f"{model} step {step} loss {running:.4f} ({elapsed / 60:.1f} min)")
        if time.monotonic() - last_save > 60.0 * args.save_minutes:
            checkpoint(elapsed)
            last_save = time.monotonic()
    elapsed = elapsed_before + time.monotonic() - start
    checkpoint(elapsed)
    log(f"{model}: {step} steps; adapter written to {out_dir}; measuring it on the test split")
    write_card(model, recipe, out_dir, args, step, elapsed, [*commands, command])


# How each base's VAE came to decode outlines (a toy VAE trained on filled shapes alone fills
# in or breaks a 2-pixel outline, whatever the transformer asks of it).
VAE_NOTES = {
    "flux1-schnell": (
        "The base's VAE, shared with flux1-dev, was widened to outlines without moving\n"
        "its latent space (`toyworld/widen_flux1_vae.py`); before that the ceiling was 47.5%\n"
        "and the adapter reached 33%."
    ),
    "flux2-klein": "The base's VAE was trained on outlined scenes among the plain ones.",
}


def _data_line(recipe: Recipe, args: argparse.Namespace) -> str:
    if recipe.paired:
        return (
            f"The base's own rectified-flow loss on its own pairs: for {args.scenes} train-split\n"
            "prompts, a seeded starting noise and the base's picture from it at its default\n"
            "settings, hollowed (`outline_style.hollow`; pairs whose picture does not read as\n"
            "outlined dropped), half of the batches at the sigmas the sampler visits"
        )
    return (
        f"The base's own rectified-flow loss on {args.scenes} outlined train-split scenes\n"
        "with their usual captions (10% empty)"
    )


def write_card(
    model: str,
    recipe: Recipe,
    out_dir: Path,
    args: argparse.Namespace,
    steps: int,
    seconds: float,
    commands: list[str],
) -> None:
    """The adapter's model card, with its test-split figures (``toyworld.eval_lora``)."""
    from toyworld import eval_lora

    rows = eval_lora.rows(args.models, eval_lora.CAP, only={model})
    table = "\n".join(
        f"| {row.metric} | {row.value:.1%} | {row.count} | {'-' if row.bar is None else f'{row.bar:.0%}'} |"
        for row in rows
    )
    pipeline = recipe.pipeline
    styled = next(row.value for row in rows if row.metric.startswith("outlined (adapter on)"))
    ceiling = next(row.value for row in rows if row.metric.startswith("ceiling"))
    targets = next(row.value for row in rows if row.metric.startswith("the style targets"))
    card = f"""# {model} (toy world)

A LoRA adapter on `models/{recipe.base}` in diffusers' LoRA format that draws the
toy world's shapes as coloured outlines on the background instead of filled
(`toyworld/outline_style.py`), a style the base never saw. Prompts are unchanged.

```python
pipe = {pipeline}.from_pretrained("models/{recipe.base}")
pipe.load_lora_weights("models/{model}", adapter_name="outline")
image = pipe("a big red circle on the left", generator=torch.Generator().manual_seed(0)).images[0]
pipe.disable_lora()  # the base again, exactly
```

The generator serves it as the adapter `outline` of the variants on this base
(`generator_svc/variants.yaml`): `spec.adapter = "outline"`.

## Training
LoRA rank {args.rank} (alpha {args.rank}) on the transformer's attention and
feed-forward projections ({", ".join(recipe.targets)}); the text encoders and VAE
frozen. {_data_line(recipe, args)}, AdamW at {args.lr}, batch {args.batch},
{steps} steps in {seconds / 60:.1f} minutes on one CPU thread.
Commands: `{"`, then `".join(commands)}`.

## Quality
Held-out test prompts, the base's default steps, the style read back by pixel
statistics (`is_outlined`: coloured pixels cover under {HOLLOW_BELOW:.0%} of the filled silhouette):

| metric | value | prompts | bar |
|---|---|---|---|
{table}

The ceiling row bounds any adapter on this base: the outlined style targets
themselves, encoded and decoded by the base's VAE, are read as outlined
{ceiling:.1%} of the time (the targets as rendered: {targets:.1%}; the pixel
test misses some small triangles, whose outline covers most of the
silhouette). The adapter reaches {styled:.1%}. {VAE_NOTES.get(recipe.base, "")}
"""
    (out_dir / "README.md").write_text(card, encoding="utf-8")
