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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer, Qwen3Config, Qwen3ForCausalLM

from toyworld.world import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    Shape,
    caption_en,
    caption_fr,
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


def foreground_mask(array: np.ndarray) -> np.ndarray:
    """Marks pixels that are clearly coloured, i.e. not the grey background."""
    channels = array.astype(np.float32)
    saturation = channels.max(axis=2) - channels.min(axis=2)
    return saturation > 60


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
