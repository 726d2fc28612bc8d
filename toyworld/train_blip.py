"""Trains the toy BLIP checkpoints from scratch: ``python -m toyworld.train captioner|matcher|adapter-fr``.

Scenes are rendered on the fly from training-split seeds; the batch of step
``k`` depends only on ``(--seed, k)``, so a run resumed with ``--resume`` from
its state under ``runs/`` sees the same data as an uninterrupted one. The best
model so far (by validation-split score) is exported to ``models/`` at every
evaluation, so ``models/`` always holds something loadable, and the model card
gets test-split figures when the run finishes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peft
import torch
import torch.nn.functional as F
import transformers
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor

from toyworld import eval_blip
from toyworld.blip_common import (
    CLS_ID,
    MAX_CAPTION_TOKENS,
    assert_round_trip,
    blip_config,
    build_processor,
    build_tokenizer,
    hard_negatives,
    images_of,
    model_pixels,
    parameter_count,
    random_train_seeds,
    scenes_of,
    training_images,
)
from toyworld.world import (
    COLOURS,
    COLOURS_FR,
    POSITIONS_EN,
    POSITIONS_FR,
    SHAPES,
    SHAPES_FR,
    SIZES,
    SIZES_FR,
    Scene,
    caption_en,
    caption_fr,
    sample_scene,
)

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIRS = {
    "captioner": "blip-captioner",
    "matcher": "blip-matcher",
    "adapter-fr": "blip-captioner-lora-fr",
}
VALIDATION_SCENES = 300
TEST_SCENES = 500


@dataclass
class Options:
    """Command-line options shared by the three trainers."""

    model: str
    steps: int
    minutes: float | None
    batch: int
    lr: float
    warmup: int
    eval_every: int
    seed: int
    resume: bool
    init_from: Path | None
    models_dir: Path
    runs_dir: Path
    argv: list[str] = field(default_factory=list)
    # Command lines of the earlier invocations this run resumed from, oldest first.
    earlier_commands: list[str] = field(default_factory=list)


def parse_options(model: str, argv: list[str]) -> Options:
    defaults = {"captioner": (6000, 96, 1e-3), "matcher": (5000, 48, 5e-4), "adapter-fr": (1500, 96, 2e-3)}
    steps, batch, lr = defaults[model]
    parser = argparse.ArgumentParser(prog=f"python -m toyworld.train {model}")
    parser.add_argument("--steps", type=int, default=steps, help="optimizer steps in all")
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-time budget: the schedule follows elapsed time and training stops when it is spent "
        "(--steps then only caps the run); for machines whose speed is not known in advance",
    )
    parser.add_argument("--batch", type=int, default=batch, help="scenes per step")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate (warmup, then cosine)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=500, help="steps between validation and export")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from runs/<model>/state.pt")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="captioner: start from this captioner checkpoint; matcher: start from this matcher "
        "checkpoint, or its vision tower and text encoder from a captioner checkpoint",
    )
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="where checkpoints are written")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="where training state is kept")
    args = parser.parse_args(argv)
    return Options(
        model=model,
        steps=args.steps,
        minutes=args.minutes,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        eval_every=args.eval_every,
        seed=args.seed,
        resume=args.resume,
        init_from=args.init_from,
        models_dir=args.models,
        runs_dir=args.runs,
        argv=argv,
    )


def learning_rate(options: Options, step: int, elapsed: float) -> float:
    """Linear warmup to the peak, then cosine decay to 5% of it over the steps or the time budget."""
    if step < options.warmup:
        return options.lr * (step + 1) / options.warmup
    if options.minutes is not None:
        progress = min(1.0, elapsed / (60 * options.minutes))
    else:
        progress = min(1.0, (step - options.warmup) / max(1, options.steps - options.warmup))
    return options.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def step_scenes(options: Options, step: int, count: int) -> list[Scene]:
    """Training scenes of ``step``: a pure function of (seed, step), train split only."""
    rng = random.Random(options.seed * 1_000_003 + step)
    return [sample_scene(seed) for seed in random_train_seeds(rng, count)]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def versions() -> str:
    return f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}"


def write_card(directory: Path, title: str, body: str) -> None:
    (directory / "README.md").write_text(f"# {title}\n\n{body.strip()}\n", encoding="utf-8")


def current_command(options: Options) -> str:
    return "python -m toyworld.train " + shlex.join([options.model, *options.argv])


def command_line(options: Options) -> str:
    """The invocation(s) that produced the model, earlier resumed-from ones first (Markdown code)."""
    return "`, then `".join([*options.earlier_commands, current_command(options)])


# ---------------------------------------------------------------------------- shared loop


@dataclass
class Trainer:
    """What differs between the three models; ``run`` holds the loop, state and export logic."""

    module: torch.nn.Module
    parameters: list[torch.nn.Parameter]
    loss: Callable[[list[Scene]], tuple[torch.Tensor, dict[str, float]]]
    validate: Callable[[], tuple[float, str]]
    export: Callable[[Path], None]
    card: Callable[[Path, float, int, str], None]
    extra_state: dict[str, torch.nn.Parameter] = field(default_factory=dict)


def run(options: Options, trainer: Trainer) -> None:
    """Trains ``trainer`` for ``options.steps`` steps, exporting the best validated model."""
    run_dir = options.runs_dir / options.model
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir = options.models_dir / OUTPUT_DIRS[options.model]
    state_path = run_dir / "state.pt"
    optimizer = torch.optim.AdamW(
        [*trainer.parameters, *trainer.extra_state.values()], lr=options.lr, weight_decay=0.01
    )
    step, best, elapsed = 0, -1.0, 0.0
    if options.resume and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        trainer.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for name, parameter in trainer.extra_state.items():
            parameter.data.copy_(state["extra"][name])
        step, best, elapsed = state["step"], state["best"], state["elapsed"]
        options.earlier_commands = state.get("commands", [])
        log(f"resumed at step {step} (best validation {best:.3f}, {elapsed / 60:.1f} min trained)")
    torch.manual_seed(options.seed + step)
    trainer.module.train()
    started = time.time() - elapsed
    running: dict[str, float] = {}

    def out_of_time() -> bool:
        return options.minutes is not None and time.time() - started >= 60 * options.minutes

    while step < options.steps and not out_of_time():
        lr = learning_rate(options, step, time.time() - started)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts = trainer.loss(step_scenes(options, step, options.batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.parameters, 1.0)
        optimizer.step()
        step += 1
        for key, value in parts.items():
            running[key] = 0.98 * running.get(key, value) + 0.02 * value
        if step % 50 == 0:
            shown = " ".join(f"{k} {v:.4f}" for k, v in running.items())
            log(f"step {step} lr {lr:.2e} {shown} ({(time.time() - started) / 60:.1f} min)")
        if step % options.eval_every == 0 or step == options.steps or out_of_time():
            trainer.module.eval()
            score, summary = trainer.validate()
            trainer.module.train()
            elapsed = time.time() - started
            log(f"validation at step {step}: {summary}")
            if score >= best:
                best = score
                trainer.export(out_dir)
                trainer.card(
                    out_dir,
                    elapsed,
                    step,
                    f"validation split ({VALIDATION_SCENES} scenes) at step {step}: {summary}",
                )
                log(f"exported to {out_dir}")
            torch.save(
                {
                    "model": trainer.module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "extra": {k: v.detach() for k, v in trainer.extra_state.items()},
                    "step": step,
                    "best": best,
                    "elapsed": elapsed,
                    "commands": [*options.earlier_commands, current_command(options)],
                },
                state_path,
            )
    elapsed = time.time() - started
    log(f"training done in {elapsed / 60:.1f} min; measuring the exported model on the test split")
    trainer.card(out_dir, elapsed, step, "")


def test_summary(models_dir: Path, names: set[str]) -> str:
    """Test-split figures of the exported checkpoints, as a Markdown table."""
    lines = ["| model | scenes | metric | value | bar |", "|---|---|---|---|---|"]
    for row in eval_blip.rows(models_dir, TEST_SCENES, names):
        if row.model in names:
            bar = "-" if row.bar is None else f"{row.bar:.0%}"
            lines.append(f"| {row.model} | {row.world} | {row.metric} | {row.value:.1%} | {bar} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- captioner


def caption_batch(
    processor: BlipProcessor, captions: list[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, attention mask and labels; every caption starts with [CLS], the BOS of generate()."""
    enc = processor.tokenizer(captions, padding=True, return_tensors="pt")
    assert bool((enc.input_ids[:, 0] == CLS_ID).all())
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    return enc.input_ids, enc.attention_mask, labels


def validate_captioner(
    model: torch.nn.Module, processor: BlipProcessor, caption: Callable[[Scene], str]
) -> tuple[float, str, list[str]]:
    scenes = scenes_of("validation", VALIDATION_SCENES)
    captions = eval_blip.generate_captions(model, processor, images_of(scenes))
    exact = sum(c == caption(s) for s, c in zip(scenes, captions, strict=True)) / len(scenes)
    return exact, f"exact {exact:.3f}", captions


def train_captioner(options: Options) -> None:
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    probe = scenes_of("train", 200)
    assert_round_trip(tokenizer, [caption_en(s) for s in probe] + [caption_fr(s) for s in probe])
    # The fast normalisation used for training must equal what users get from the processor.
    images = images_of(probe[:8])
    reference = processor(images=images, return_tensors="pt")["pixel_values"]
    assert torch.allclose(model_pixels(images), reference, atol=1e-5)
    torch.manual_seed(options.seed)
    model = BlipForConditionalGeneration(blip_config(len(tokenizer)))
    model.generation_config.max_length = MAX_CAPTION_TOKENS
    log(f"captioner with {parameter_count(model):,} parameters")
    if options.init_from is not None:
        model.load_state_dict(BlipForConditionalGeneration.from_pretrained(options.init_from).state_dict())
        log(f"started from {options.init_from}")

    def loss(scenes: list[Scene]) -> tuple[torch.Tensor, dict[str, float]]:
        input_ids, mask, labels = caption_batch(processor, [caption_en(s) for s in scenes])
        out = model(
            pixel_values=model_pixels(training_images(scenes)),
            input_ids=input_ids,
            attention_mask=mask,
            labels=labels,
        )
        return out.loss, {"loss": float(out.loss.detach())}

    def validate() -> tuple[float, str]:
        scenes = scenes_of("validation", VALIDATION_SCENES)
        captions = eval_blip.generate_captions(model, processor, images_of(scenes))
        scores = eval_blip.score_captions(scenes, captions)
        summary = (
            f"exact {scores.exact:.3f} colour {scores.colour:.3f} size {scores.size:.3f} "
            f"position {scores.position:.3f} shape {scores.shape:.3f}"
        )
        return scores.exact, summary

    def export(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory)
        processor.save_pretrained(directory)

    def card(directory: Path, elapsed: float, steps: int, quality: str) -> None:
        if not quality:
            quality = "Held-out test split (first 500 scenes, greedy decoding):\n\n" + test_summary(
                options.models_dir, {"blip-captioner"}
            )
        config = model.config
        vision: Any = config.vision_config
        text: Any = config.text_config
        init_note = (
            ""
            if options.init_from is None
            else f"\nTraining started from the checkpoint `{options.init_from}` (the v1 captioner, trained\n"
            "from scratch on plain grey 64x64 scenes).\n"
        )
        write_card(
            directory,
            "blip-captioner (toy world)",
            f"""
A `BlipForConditionalGeneration` that captions toy-world scenes (`toyworld/world.py`):
one or two coloured circles, squares or triangles, captioned in English, e.g. "a big
red circle on the left and a small blue square on the right". Trained on world v2
(`toyworld/variety.py`): the same scenes drawn as real image pipelines vary them
(canvases of 32-512 px a side and aspect 1:2 to 2:1, backgrounds of any brightness
and hue, plain, gradient or textured, shades of each named colour, anti-aliased or
hard edges, small rotations, blur, noise, JPEG quality 30-95, alpha channels), with
one scene in ten drawn plainly as in v1. Any image size works: the processor resizes
to 64x64.
{init_note}
```python
from transformers import BlipForConditionalGeneration, BlipProcessor
processor = BlipProcessor.from_pretrained("models/blip-captioner")
model = BlipForConditionalGeneration.from_pretrained("models/blip-captioner")
out = model.generate(**processor(images=image, return_tensors="pt"))
print(processor.decode(out[0], skip_special_tokens=True))
```

## Data
Scenes drawn on the fly from training-split seeds (`split_seeds("train", ...)`,
seeds 0-9,999,999), {steps} steps x {options.batch} scenes. Validation and
test seeds were never trained on; validation and test images get the same variety.

## Configuration
- vision: {vision.num_hidden_layers} layers, hidden {vision.hidden_size},
  {vision.num_attention_heads} heads, image 64x64, patch 8 (8x8 grid)
- text decoder: {text.num_hidden_layers} layers, hidden {text.hidden_size},
  vocabulary {text.vocab_size} (BERT WordPiece over both languages' words)
- BOS = [CLS] (id {CLS_ID}), stop = [SEP]; parameters: {parameter_count(model):,}
- AdamW (weight decay 0.01), peak LR {options.lr}, {options.warmup} warmup steps then cosine

## Training
`{command_line(options)}` - {elapsed / 60:.1f} minutes on one CPU thread.
{versions()}.

## Quality
{quality}
""",
        )

    run(options, Trainer(model, list(model.parameters()), loss, validate, export, card))


# ---------------------------------------------------------------------------- matcher


def is_matcher(checkpoint: Path) -> bool:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    return "BlipForImageTextRetrieval" in config.get("architectures", [])


def initialise_from_captioner(model: BlipForImageTextRetrieval, captioner_dir: Path) -> None:
    """Copies a captioner's vision tower and text transformer (same shapes) into the matcher.

    The captioner already tells colours, shapes, sizes and positions apart, so
    the matcher starts from features that resolve the hard negatives; its
    projections and ITM head still start from scratch.
    """
    captioner = BlipForConditionalGeneration.from_pretrained(captioner_dir)
    copied: dict[str, torch.Tensor] = {}
    for key, value in captioner.state_dict().items():
        if key.startswith("vision_model."):
            copied[key] = value
        elif key.startswith("text_decoder.bert."):
            copied["text_encoder." + key.removeprefix("text_decoder.bert.")] = value
    result = model.load_state_dict(copied, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    log(f"initialised {len(copied)} tensors from {captioner_dir}; fresh: {result.missing_keys}")


def train_matcher(options: Options) -> None:
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    assert_round_trip(tokenizer, [caption_en(s) for s in scenes_of("train", 200)])
    torch.manual_seed(options.seed)
    model = BlipForImageTextRetrieval(blip_config(len(tokenizer)))
    log(f"matcher with {parameter_count(model):,} parameters")
    if options.init_from is not None and is_matcher(options.init_from):
        model.load_state_dict(BlipForImageTextRetrieval.from_pretrained(options.init_from).state_dict())
        log(f"started from {options.init_from}")
    elif options.init_from is not None:
        initialise_from_captioner(model, options.init_from)
    # Learnable temperature of the contrastive loss (CLIP-style log scale); ranking does not need it.
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_texts(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        return enc.input_ids, enc.attention_mask

    def loss(scenes: list[Scene]) -> tuple[torch.Tensor, dict[str, float]]:
        batch = len(scenes)
        rng = random.Random(scenes[0].seed)
        negatives = [caption_en(n) for s in scenes for n in hard_negatives(s, 2, rng)]
        positives = [caption_en(s) for s in scenes]
        pixels = model_pixels(training_images(scenes))
        image_embeds = model.vision_model(pixel_values=pixels).last_hidden_state
        image_feat = F.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1)
        ids, mask = encode_texts(positives + negatives)
        text_cls = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
        text_feat = F.normalize(model.text_proj(text_cls), dim=-1)
        scale = log_scale.clamp(max=math.log(100)).exp()
        # Image-to-text over all captions of the batch plus the hard negatives; text-to-image over images.
        logits = scale * image_feat @ text_feat.t()
        target = torch.arange(batch)
        same = torch.tensor([[a == b for b in positives] for a in positives])
        itc_i2t = F.cross_entropy(
            logits.masked_fill(F.pad(same & ~torch.eye(batch, dtype=torch.bool), (0, 2 * batch)), -1e4),
            target,
        )
        itc_t2i = F.cross_entropy(
            logits[:, :batch].t().masked_fill(same & ~torch.eye(batch, dtype=torch.bool), -1e4), target
        )
        itc = (itc_i2t + itc_t2i) / 2
        # Matching: each image with its caption, its two hard negatives and the most similar other caption.
        with torch.no_grad():
            sim = (image_feat @ text_feat[:batch].t()).masked_fill(same, -2.0)
            other = sim.argmax(dim=1)
        pair_texts = positives + negatives + [positives[int(j)] for j in other]
        pair_images = torch.cat(
            [torch.arange(batch), torch.arange(batch).repeat_interleave(2), torch.arange(batch)]
        )
        labels = torch.cat([torch.ones(batch), torch.zeros(3 * batch)]).long()
        ids, mask = encode_texts(pair_texts)
        fused_images = image_embeds[pair_images]
        fused = model.text_encoder(
            input_ids=ids,
            attention_mask=mask,
            encoder_hidden_states=fused_images,
            encoder_attention_mask=torch.ones(fused_images.shape[:-1], dtype=torch.long),
        ).last_hidden_state[:, 0, :]
        # Positives are a quarter of the pairs; weight them up to balance the two classes.
        itm = F.cross_entropy(model.itm_head(fused), labels, weight=torch.tensor([1.0, 3.0]))
        return itc + itm, {
            "itc": float(itc.detach()),
            "itm": float(itm.detach()),
            "temp": float(1 / scale.detach()),
        }

    def validate() -> tuple[float, str]:
        scores = eval_blip.match_scores(model, processor, scenes_of("validation", VALIDATION_SCENES))
        return (
            scores.itm_rank1 + 0.01 * scores.itc_rank1,
            f"ITM rank-1 {scores.itm_rank1:.3f} ITC rank-1 {scores.itc_rank1:.3f}",
        )

    def export(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory)
        processor.save_pretrained(directory)

    def card(directory: Path, elapsed: float, steps: int, quality: str) -> None:
        if not quality:
            quality = (
                "Held-out test split (first 500 scenes; the true caption against 9 hard negatives):\n\n"
                + (test_summary(options.models_dir, {"blip-matcher"}))
            )
        config = model.config
        vision: Any = config.vision_config
        text: Any = config.text_config
        temperature = 1 / math.exp(min(log_scale.item(), math.log(100)))
        init_note = (
            ""
            if options.init_from is None
            else f"\nTraining started from `{options.init_from}`"
            + (
                " (the v1 matcher, trained on plain grey scenes).\n"
                if is_matcher(options.init_from)
                else " (a captioner of the same shapes): its vision tower and text transformer;"
                " projections and ITM head started from scratch.\n"
            )
        )
        write_card(
            directory,
            "blip-matcher (toy world)",
            f"""
A `BlipForImageTextRetrieval` trained on toy-world scenes (`toyworld/world.py`)
for image/text embeddings and image-text matching, drawn with world v2's variety
(`toyworld/variety.py`: any canvas size and aspect, any background, shades, edges,
rotations, blur, noise, JPEG, alpha), one scene in ten plainly as in v1.

```python
import torch
from transformers import BlipForImageTextRetrieval, BlipProcessor
processor = BlipProcessor.from_pretrained("models/blip-matcher")
model = BlipForImageTextRetrieval.from_pretrained("models/blip-matcher")
inputs = processor(images=image, text=caption, return_tensors="pt")
p_match = model(**inputs, use_itm_head=True).itm_score.softmax(-1)[0, 1]
cosine = model(**inputs, use_itm_head=False).itm_score[0, 0]  # normalised vision_proj . text_proj
```

## Data
Scenes rendered on the fly from training-split seeds, {steps} steps x {options.batch} scenes.
Each image is paired with its English caption and two hard negatives: the same
scene with one object's colour, shape or size changed, a single object moved to
another third, or the two objects' sides swapped.
{init_note}

## Losses
- contrastive (ITC) on the normalised `vision_proj` / `text_proj` features with a
  learnable temperature (final {temperature:.3f}), image-to-text over the batch's captions
  plus the hard negatives, text-to-image over the batch's images (duplicate captions masked);
- matching (ITM head, cross-entropy): each image with its caption (weight 3), its two
  hard negatives and the most similar other caption of the batch.

## Configuration
- vision: {vision.num_hidden_layers} layers, hidden {vision.hidden_size}, image 64x64, patch 8
- text encoder: {text.num_hidden_layers} layers, hidden {text.hidden_size},
  projections {config.image_text_hidden_size}
- parameters: {parameter_count(model):,}; AdamW, peak LR {options.lr}, warmup then cosine

## Training
`{command_line(options)}` - {elapsed / 60:.1f} minutes on one CPU thread.
{versions()}.

## Quality
{quality}
""",
        )

    run(
        options,
        Trainer(model, list(model.parameters()), loss, validate, export, card, {"log_scale": log_scale}),
    )


# ---------------------------------------------------------------------------- French adapter

# Every attention (self and cross), intermediate and output projection of the text decoder, and the
# LM head's transform; the vision tower's layers (qkv, projection, fc1/fc2) never match.
LORA_TARGETS = (
    r".*text_decoder\.bert\.encoder\.layer\.\d+\..*(query|key|value|dense)$"
    r"|.*text_decoder\.cls\.predictions\.transform\.dense$"
)


def french_only_words() -> list[str]:
    """Words of French captions that no English caption uses (their embeddings need training)."""
    french = {"un", "et", *COLOURS_FR.values(), *SHAPES_FR.values(), *SIZES_FR.values()}
    french.update(word for phrase in POSITIONS_FR.values() for word in phrase.split())
    english = {"a", "and", *COLOURS, *SHAPES, *SIZES}
    english.update(word for phrase in POSITIONS_EN.values() for word in phrase.split())
    return sorted(french - english)


def train_adapter(options: Options) -> None:
    base_dir = options.models_dir / OUTPUT_DIRS["captioner"]
    processor = BlipProcessor.from_pretrained(base_dir)
    base = BlipForConditionalGeneration.from_pretrained(base_dir)
    for parameter in base.parameters():
        parameter.requires_grad_(False)
    torch.manual_seed(options.seed)
    french_ids = sorted(processor.tokenizer.convert_tokens_to_ids(french_only_words()))
    # The French-only words were never seen by the English base, so their (tied input/output)
    # embedding rows are still random: the adapter trains deltas for those rows, leaving the base intact.
    lora = peft.LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=LORA_TARGETS,
        trainable_token_indices={"word_embeddings": french_ids},
        ensure_weight_tying=True,
    )
    model: Any = peft.get_peft_model(base, lora)
    # Record the base as the repository-relative directory, not this machine's absolute path.
    model.peft_config["default"].base_model_name_or_path = f"models/{OUTPUT_DIRS['captioner']}"
    trainable = [p for p in model.parameters() if p.requires_grad]
    log(f"adapter with {sum(p.numel() for p in trainable):,} trainable parameters")
    validation = scenes_of("validation", VALIDATION_SCENES)
    with torch.no_grad():
        english_before = eval_blip.generate_captions(base, processor, images_of(validation))

    def loss(scenes: list[Scene]) -> tuple[torch.Tensor, dict[str, float]]:
        input_ids, mask, labels = caption_batch(processor, [caption_fr(s) for s in scenes])
        # The vision tower is frozen and outside the adapter: no graph needed through it.
        with torch.no_grad():
            pixels = model_pixels(training_images(scenes))
            image_embeds = base.vision_model(pixel_values=pixels).last_hidden_state
        out = model.base_model.model.text_decoder(
            input_ids=input_ids, attention_mask=mask, encoder_hidden_states=image_embeds, labels=labels
        )
        return out.loss, {"loss": float(out.loss.detach())}

    def validate() -> tuple[float, str]:
        french = eval_blip.generate_captions(model, processor, images_of(validation))
        exact = eval_blip.french_exact(validation, french)
        with model.disable_adapter():
            english = eval_blip.generate_captions(model, processor, images_of(validation))
        unchanged = sum(a == b for a, b in zip(english, english_before, strict=True)) / len(validation)
        return exact, f"french exact {exact:.3f}, english unchanged with adapter disabled {unchanged:.3f}"

    def export(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory)
        processor.save_pretrained(directory)

    def card(directory: Path, elapsed: float, steps: int, quality: str) -> None:
        if not quality:
            quality = "Held-out test split (first 500 scenes, greedy decoding):\n\n" + test_summary(
                options.models_dir, {"blip-captioner-lora-fr"}
            )
        write_card(
            directory,
            "blip-captioner-lora-fr (toy world)",
            f"""
A LoRA adapter (peft) on the text decoder of `models/blip-captioner` that makes it
caption in French, e.g. "un grand cercle rouge à gauche et un petit carré bleu à droite".
The base weights are frozen, so with the adapter disabled or unloaded the captioner's
English captions are exactly those of the base model.

```python
from peft import PeftModel
from transformers import BlipForConditionalGeneration, BlipProcessor
processor = BlipProcessor.from_pretrained("models/blip-captioner")
base = BlipForConditionalGeneration.from_pretrained("models/blip-captioner")
model = PeftModel.from_pretrained(base, "models/blip-captioner-lora-fr")
out = model.generate(**processor(images=image, return_tensors="pt"))
print(processor.decode(out[0], skip_special_tokens=True))
```

## Data
French captions (`caption_fr`) of scenes rendered on the fly from training-split
seeds, {steps} steps x {options.batch} scenes.

## Configuration
- LoRA r={lora.r}, alpha={lora.lora_alpha}, no dropout, on the text decoder's self- and
  cross-attention query/key/value, attention-output, intermediate and output dense layers
  and the LM head's transform, plus trainable-token deltas for the {len(french_ids)} French-only
  words' embeddings (tied input/output rows; the English base never saw those words);
  {sum(p.numel() for p in trainable):,} trainable parameters
- AdamW, peak LR {options.lr}, warmup then cosine

## Training
`{command_line(options)}` - {elapsed / 60:.1f} minutes on one CPU thread.
{versions()}.

## Quality
{quality}
""",
        )

    run(options, Trainer(model, trainable, loss, validate, export, card))


def main(model: str, argv: list[str]) -> None:
    """Entry point of ``python -m toyworld.train {captioner,matcher,adapter-fr}``."""
    torch.set_num_threads(1)
    options = parse_options(model, argv)
    trainers = {"captioner": train_captioner, "matcher": train_matcher, "adapter-fr": train_adapter}
    if model not in trainers:
        sys.exit(f"unknown BLIP model {model!r}")
    trainers[model](options)
