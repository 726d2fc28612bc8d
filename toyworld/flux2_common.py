"""Shared pieces of the toy FLUX.2 [klein] pipeline: component configs, data and pixel checks.

The shipped checkpoint is a plain ``Flux2KleinPipeline`` directory; everything here either
builds one of its components from scratch (tokenizer, text encoder, VAE, transformer,
scheduler) or reproduces exactly what the pipeline does at sampling time, so that training
sees the same latents, token layout and noise levels as ``pipe(...)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer, Qwen3Config, Qwen3ForCausalLM

from toyworld import variety
from toyworld.world import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    Shape,
    caption_en,
    caption_fr,
    render,
    sample_scene,
)

MODEL_NAME = "flux2-klein"
IMAGE_SIZE = 64
# The pipeline stacks these hidden states of the text encoder by default
# (``text_encoder_out_layers``); the tiny encoder has exactly enough layers for them.
TEXT_LAYERS = (9, 18, 27)
TEXT_HIDDEN = 32
# Byte-level BPE pre-tokenisation of Qwen2 (copied from transformers' Qwen2Tokenizer) so that
# the tokenizer rebuilt by ``from_pretrained`` splits text exactly like the trained one.
QWEN_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Qwen3's chat format reduced to what the pipeline uses: one user turn, a generation prompt
# and the empty thinking block that ``enable_thinking=False`` asks for.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

VAE_CONFIG: dict[str, object] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    # Three blocks give a 4x VAE; the pipeline's 2x2 patchify makes it 8x, i.e. 8x8 tokens.
    "block_out_channels": [16, 32, 32],
    "layers_per_block": 1,
    "latent_channels": 4,
    # 4 groups keep several channels per group: one channel per group would normalise each
    # channel's mean away, and with it the flat colour of the shapes.
    "norm_num_groups": 4,
    "sample_size": IMAGE_SIZE,
    "mid_block_add_attention": False,
    "batch_norm_eps": 1e-4,
    "patch_size": [2, 2],
}

TRANSFORMER_CONFIG: dict[str, object] = {
    "patch_size": 1,
    "in_channels": 16,  # 4 latent channels x the 2x2 patch
    "num_layers": 2,
    "num_single_layers": 3,
    "attention_head_dim": 32,
    "num_attention_heads": 4,
    "joint_attention_dim": TEXT_HIDDEN * len(TEXT_LAYERS),
    "timestep_guidance_channels": 64,
    "mlp_ratio": 3.0,
    "axes_dims_rope": [8, 8, 8, 8],
    "rope_theta": 2000,
    "guidance_embeds": False,
}

# The scheduler config of the released klein checkpoints: dynamic (resolution-dependent)
# exponential shifting with the ``mu`` the pipeline computes from the token count.
SCHEDULER_CONFIG: dict[str, object] = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "time_shift_type": "exponential",
}


# ----------------------------------------------------------------------------- text side


def all_captions() -> list[str]:
    """Returns every English and French caption the toy world can produce, sorted."""
    singles = [
        Shape(colour, shape, size, position)
        for colour in COLOURS
        for shape in SHAPES
        for size in SIZES
        for position in POSITIONS
    ]
    scenes = [Scene(0, (obj,), 240, ()) for obj in singles]
    lefts = [obj for obj in singles if obj.position == "left"]
    rights = [obj for obj in singles if obj.position == "right"]
    scenes += [Scene(0, (a, b), 240, ()) for a in lefts for b in rights]
    captions = {caption_en(scene) for scene in scenes} | {caption_fr(scene) for scene in scenes}
    return sorted(captions)


def build_tokenizer() -> Qwen2Tokenizer:
    """Trains a Qwen2-style byte-level BPE on the toy world's captions and chat format.

    Every caption word becomes a single token; the result is a ``Qwen2Tokenizer`` with a
    Qwen3-like chat template, so it saves and reloads with ``from_pretrained``.
    """
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                pattern=Regex(QWEN_PRETOKENIZE_REGEX),
                behavior="isolated",
                invert=False,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    chat = "user\nassistant\n\n" * 4
    backend.train_from_iterator([*all_captions(), chat], trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    merges: Any = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "right"
    tokenizer.model_max_length = 512
    return tokenizer


def chat_length(tokenizer: Any, prompt: str) -> int:
    """Returns how many tokens the pipeline's chat-formatted ``prompt`` takes."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
    return len(tokenizer(text)["input_ids"])


def build_text_encoder(vocab_size: int, seed: int = 0) -> Qwen3ForCausalLM:
    """Returns a frozen, randomly initialised tiny Qwen3 with ``max(TEXT_LAYERS)`` layers.

    The embedding table is drawn with unit scale (not Qwen's 0.02) so that each token's
    identity dominates the residual stream the pipeline reads; the layers on top add a
    little causal context. The transformer learns to read these features.
    """
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=max(TEXT_LAYERS),
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0.0, 1.0)
    model.eval()
    return model


# ----------------------------------------------------------------------------- data


def t2i_scene(seed: int) -> Scene:
    """Returns the text-to-image scene of ``seed`` (one or two objects, as the world draws)."""
    return sample_scene(seed)


def edit_pair(seed: int) -> tuple[Scene, Scene]:
    """Returns (reference, target) of ``seed``: the same single shape in another colour.

    The target keeps shape, size, position, jitter and background; only the colour changes.
    """
    reference = sample_scene(seed, two_object_fraction=0.0)
    obj = reference.objects[0]
    rng = random.Random(seed * 7919 + 13)
    colour = rng.choice([c for c in COLOURS if c != obj.colour])
    target = dataclasses.replace(reference, objects=(dataclasses.replace(obj, colour=colour),))
    return reference, target


# ----------------------------------------------------------------------------- varied backgrounds

RGB = tuple[int, int, int]
# Reference-edit tasks: 1 = recolour one reference; 2..4 = combine attributes of k references.
MULTI_REFERENCE_COUNTS = (2, 3, 4)


@dataclass(frozen=True)
class Backdrop:
    """A world-v2 background at 64x64: plain, two-tone gradient or low-contrast texture."""

    kind: str
    a: RGB
    b: RGB
    angle: float
    texture: float
    seed: int


def sample_backdrop(rng: random.Random, seed: int, avoid: Sequence[RGB]) -> Backdrop:
    """Draws a backdrop like ``variety.sample_look`` (any brightness and hue, black and white
    included) that keeps world v2's contrast to every colour in ``avoid``."""
    kind = rng.choices(("plain", "gradient", "texture"), weights=(0.45, 0.3, 0.25))[0]
    for _ in range(50):
        a = variety.background_colour(rng)
        b = variety.background_colour(rng) if kind == "gradient" else a
        if all(min(math.dist(c, a), math.dist(c, b)) >= variety.MIN_CONTRAST for c in avoid):
            break
    else:  # as world v2: black or white, whichever is farther from the objects
        black_white: tuple[RGB, RGB] = ((0, 0, 0), (255, 255, 255))
        a = b = max(black_white, key=lambda bg: min(math.dist(c, bg) for c in avoid))
    angle = rng.uniform(0, 2 * math.pi)
    texture = rng.uniform(4, 14) if kind == "texture" else 0.0
    return Backdrop(kind, a, b, angle, texture, seed)


def backdrop_pixels(backdrop: Backdrop, size_px: int = IMAGE_SIZE) -> np.ndarray:
    """The backdrop as a float (H, W, 3) array, drawn by world v2's background code."""
    look = variety.Look(
        width=size_px,
        height=size_px,
        background=(backdrop.kind, backdrop.a, backdrop.b),
        gradient_angle=backdrop.angle,
        texture=backdrop.texture,
        colours=(),
        rotations=(),
        antialias=False,
        blur=0.0,
        noise=0.0,
        jpeg_quality=None,
        alpha="none",
    )
    return variety.draw_background(look, backdrop.seed)


def render_on(scene: Scene, backdrop: Backdrop | None, size_px: int = IMAGE_SIZE) -> Image.Image:
    """Renders ``scene`` (shapes exactly as ``world.render``) on ``backdrop`` (None: its grey)."""
    if backdrop is None:
        return render(scene, size_px)
    # Palette colours are never black, so the shapes are wherever a black canvas changed.
    shapes = np.asarray(render(dataclasses.replace(scene, background=0), size_px), dtype=np.float32)
    drawn = shapes.max(axis=2, keepdims=True) > 0
    pixels = np.where(drawn, shapes, backdrop_pixels(backdrop, size_px))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


@dataclass(frozen=True)
class EditExample:
    """Reference scenes with their backdrops, and the target scene and backdrop."""

    references: tuple[Scene, ...]
    backdrops: tuple[Backdrop, ...]
    target: Scene
    backdrop: Backdrop

    def reference_images(self) -> list[Image.Image]:
        return [render_on(s, b) for s, b in zip(self.references, self.backdrops, strict=True)]

    def target_image(self) -> Image.Image:
        return render_on(self.target, self.backdrop)


def recolour_example(seed: int) -> EditExample:
    """The one-reference edit of ``seed``: ``edit_pair`` on a varied backdrop that contrasts
    with both colours; the target keeps shape, size, position, jitter and backdrop."""
    reference, target = edit_pair(seed)
    rng = random.Random(seed * 104_729 + 5)
    avoid = [COLOURS[reference.objects[0].colour], COLOURS[target.objects[0].colour]]
    backdrop = sample_backdrop(rng, seed, avoid)
    return EditExample((reference,), (backdrop,), target, backdrop)


def reference_scene(seed: int) -> tuple[Scene, Backdrop]:
    """A single-shape reference of ``seed`` on its own varied backdrop."""
    scene = sample_scene(seed, two_object_fraction=0.0)
    rng = random.Random(seed * 104_729 + 7)
    return scene, sample_backdrop(rng, seed, [COLOURS[scene.objects[0].colour]])


def multi_example(seed: int, reference_seeds: Sequence[int]) -> EditExample:
    """A k-reference edit (k = 2..4): reference i contributes attribute i of the target.

    Ref 1: the shape (and the size when k < 4, the background when k < 3); ref 2: the exact
    centre (x and y); ref 3: the background; ref 4: the size (with its exact radius). The
    colour is the prompt's: drawn from the palette, contrasting with the target background
    and, where possible, unlike the shape reference's colour.
    """
    k = len(reference_seeds)
    if k not in MULTI_REFERENCE_COUNTS:
        raise ValueError(f"multi-reference edits take 2 to 4 references, not {k}")
    pairs = [reference_scene(s) for s in reference_seeds]
    scenes = tuple(p[0] for p in pairs)
    backdrops = tuple(p[1] for p in pairs)
    shape_obj, place = scenes[0].objects[0], scenes[1]
    size_scene = scenes[3] if k >= 4 else scenes[0]
    backdrop = backdrops[2] if k >= 3 else backdrops[0]
    rng = random.Random(seed * 7_919 + 29)
    contrasting = [
        c
        for c in COLOURS
        if min(math.dist(COLOURS[c], backdrop.a), math.dist(COLOURS[c], backdrop.b)) >= variety.MIN_CONTRAST
    ]
    choices = [c for c in contrasting if c != shape_obj.colour] or contrasting or list(COLOURS)
    obj = Shape(
        colour=rng.choice(choices),
        shape=shape_obj.shape,
        size=size_scene.objects[0].size,
        position=place.objects[0].position,
    )
    jx, jy = place.jitter[0], place.jitter[1]
    jr = size_scene.jitter[2]
    target = Scene(seed=seed, objects=(obj,), background=240, jitter=(jx, jy, jr))
    return EditExample(scenes, backdrops, target, backdrop)


def multi_reference_seeds(seed: int, k: int, start: int, span: int) -> list[int]:
    """``k`` distinct reference seeds of example ``seed``, drawn from ``range(start, start + span)``."""
    rng = random.Random(seed * 31 + k)
    return [start + i for i in rng.sample(range(span), k)]


def to_tensor(image: Image.Image) -> torch.Tensor:
    """Converts an RGB image to the pipeline's (3, H, W) tensor in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def shifted_sigmas(u: torch.Tensor, mu: float) -> torch.Tensor:
    """Applies the scheduler's exponential shift (``time_shift_type="exponential"``) to ``u``."""
    return math.exp(mu) / (math.exp(mu) + (1.0 / u - 1.0))


# ----------------------------------------------------------------------------- pixel checks


def _palette() -> tuple[list[str], np.ndarray]:
    names = list(COLOURS)
    return names, np.array([COLOURS[n] for n in names], dtype=np.float32)


def background_plane(array: np.ndarray) -> np.ndarray:
    """Estimates the background as a per-channel plane ``a + b x + c y`` fitted to the border
    pixels (robustly: shapes touching the border are dropped); exact for plain and gradient
    backgrounds, the mean level of a texture."""
    h, w = array.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    border = np.zeros((h, w), dtype=bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    design = np.stack([np.ones(border.sum()), xs[border] / w, ys[border] / h], axis=1)
    values = array[border].astype(np.float64)
    keep = np.ones(len(values), dtype=bool)
    coef = np.zeros((3, 3))
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = np.linalg.norm(values - design @ coef, axis=1)
        keep = residual <= max(30.0, float(np.percentile(residual, 70)))
    full = np.stack([np.ones(h * w), xs.ravel() / w, ys.ravel() / h], axis=1)
    return (full @ coef).reshape(h, w, 3).astype(np.float32)


def foreground_mask(array: np.ndarray) -> np.ndarray:
    """Marks pixels that are clearly coloured and clearly not the background (any backdrop)."""
    channels = array.astype(np.float32)
    saturation = channels.max(axis=2) - channels.min(axis=2)
    distance = np.linalg.norm(channels - background_plane(channels), axis=2)
    return (saturation > 60) & (distance > 60)


def border_sides(image: Image.Image) -> np.ndarray:
    """Median colour of each border side (top, bottom, left, right; 2 pixels deep), (4, 3)."""
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    sides = (a[:2].reshape(-1, 3), a[-2:].reshape(-1, 3), a[:, :2].reshape(-1, 3), a[:, -2:].reshape(-1, 3))
    return np.stack([np.median(side, axis=0) for side in sides])


def shape_of(mask: np.ndarray) -> str | None:
    """Classifies a foreground mask by how much of its bounding box it fills (square ~1,
    circle ~0.79, triangle ~0.5); None with too few pixels."""
    if mask.sum() < 8:
        return None
    ys, xs = np.nonzero(mask)
    extent = mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    return "square" if extent > 0.9 else ("circle" if extent > 0.64 else "triangle")


def dominant_colour(image: Image.Image) -> str | None:
    """Returns the palette colour nearest to most foreground pixels (None: no foreground)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    mask = foreground_mask(array)
    if mask.sum() < 8:
        return None
    names, palette = _palette()
    pixels = array[mask]
    nearest = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(names))
    return names[int(counts.argmax())]


def centroid_position(image: Image.Image) -> str | None:
    """Returns the horizontal third ("left"/"middle"/"right") of the foreground centroid."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    mask = foreground_mask(array)
    if mask.sum() < 8:
        return None
    x = float(np.nonzero(mask)[1].mean()) / array.shape[1]
    return "left" if x < 3 / 8 else ("right" if x > 5 / 8 else "middle")


def read_defaults(model_dir: Path) -> dict[str, object]:
    """Returns ``imaging_defaults.json`` of a checkpoint directory."""
    return dict(json.loads((model_dir / "imaging_defaults.json").read_text()))


def call_kwargs(defaults: dict[str, object]) -> dict[str, object]:
    """Picks the keyword arguments of ``Flux2KleinPipeline.__call__`` out of the defaults."""
    keys = ("height", "width", "num_inference_steps", "max_sequence_length", "guidance_scale")
    kwargs = {key: defaults[key] for key in keys if key in defaults}
    layers = defaults.get("text_encoder_out_layers")
    if isinstance(layers, list):
        kwargs["text_encoder_out_layers"] = tuple(layers)
    return kwargs


def unique(items: Iterable[str]) -> list[str]:
    """Returns ``items`` without duplicates, in first-seen order."""
    return list(dict.fromkeys(items))
