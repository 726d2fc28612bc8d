"""Shared pieces of the small FLUX.1 pipelines: tokenizers, component configs,
the training-time noise schedule and the pixel-statistics readers.

Everything here is sized for 64x64 toy-world images: a 4x VAE gives 16x16
latents, which FLUX packs into 8x8 = 64 image tokens. Training and sampling
must agree on every detail the pipeline fixes (packing, ids, timestep shift,
prompt padding), so both sides take those from this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTokenizer, T5Config

# transformers 5 makes T5TokenizerFast an alias of this tokenizers-backed class;
# importing it from its module keeps the type visible to static checkers.
from transformers.models.t5.tokenization_t5 import T5Tokenizer as T5TokenizerFast

from toyworld.world import COLOURS, POSITIONS, SHAPES, vocabulary

FLUX1_SIZE_PX = 64
FLUX1_VAE_SCALE = 4
FLUX1_LATENT_CHANNELS = 4
# 64 px / 4 (VAE) / 2 (packing) = 8 tokens a side.
FLUX1_IMAGE_TOKENS = (FLUX1_SIZE_PX // FLUX1_VAE_SCALE // 2) ** 2
# The longest English caption has 15 words; T5 adds one end token. FluxPipeline
# pads T5 to exactly this length with no attention mask, so training uses it too.
FLUX1_MAX_SEQUENCE_LENGTH = 16
# CLIP adds start and end tokens; the pipeline pads CLIP to model_max_length.
FLUX1_CLIP_MAX_LENGTH = 20
FLUX1_TEXT_WIDTH = 64

FLUX1_CLIP_BOS = "<|startoftext|>"
FLUX1_CLIP_EOS = "<|endoftext|>"

# Dynamic shifting as FLUX configures it, with the sequence-length range moved
# down to this project's token counts: at 64 tokens mu = base_shift.
FLUX1_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 64,
    "max_image_seq_len": 1024,
    "time_shift_type": "exponential",
}


def flux1_clip_tokenizer() -> CLIPTokenizer:
    """Returns a byte-level BPE CLIP tokenizer whose merges spell every world word.

    The vocabulary holds the byte alphabet (plain and word-final) so any text
    tokenizes, and one merge chain per world word so that each word is a
    single token.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {FLUX1_CLIP_BOS: 0, FLUX1_CLIP_EOS: 1}
    for symbol in alphabet:
        vocab.setdefault(symbol, len(vocab))
    for symbol in alphabet:
        vocab.setdefault(symbol + "</w>", len(vocab))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    merges: list[tuple[str, str]] = []
    for word in vocabulary():
        pieces = [piece for piece, _ in byte_level.pre_tokenize_str(word)]
        chars = list("".join(pieces))
        if len(chars) < 2:
            continue
        chars[-1] = chars[-1] + "</w>"
        current = chars[0]
        for nxt in chars[1:]:
            merge = (current, nxt)
            current = current + nxt
            if merge not in merges:
                merges.append(merge)
            vocab.setdefault(current, len(vocab))
    # The tokenizers BPE model takes merges as pairs; the annotation says strings.
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=FLUX1_CLIP_MAX_LENGTH)  # type: ignore[arg-type]


def flux1_t5_tokenizer() -> T5TokenizerFast:
    """Returns a Unigram T5 tokenizer with one piece per world word.

    Single characters are kept at a low score so unknown words still split
    into pieces instead of collapsing to ``<unk>``.
    """
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for word in vocabulary():
        pieces.append(("▁" + word, -1.0))
    chars = sorted({c for word in vocabulary() for c in word} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    for char in chars:
        pieces.append((char, -10.0))
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=FLUX1_MAX_SEQUENCE_LENGTH)


def flux1_clip_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    """Returns the tiny CLIP text config matching ``tokenizer``.

    eos_token_id must not be 2: with any other id CLIP pools the first end
    token, which is the real one since padding repeats the end token.
    """
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=FLUX1_TEXT_WIDTH,
        intermediate_size=2 * FLUX1_TEXT_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=FLUX1_CLIP_MAX_LENGTH,
        projection_dim=FLUX1_TEXT_WIDTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def flux1_t5_config(tokenizer: T5TokenizerFast) -> T5Config:
    """Returns the tiny T5 encoder config matching ``tokenizer``."""
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=FLUX1_TEXT_WIDTH,
        d_kv=16,
        d_ff=2 * FLUX1_TEXT_WIDTH,
        num_layers=2,
        num_decoder_layers=0,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=FLUX1_MAX_SEQUENCE_LENGTH,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def flux1_vae_config() -> dict[str, Any]:
    """Returns the AutoencoderKL config: three blocks, so a scale factor of 4.

    Four norm groups: with one channel a group, GroupNorm would normalise
    each colour channel on its own and wash colour out of the features.
    """
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 3,
        "up_block_types": ["UpDecoderBlock2D"] * 3,
        "block_out_channels": [16, 32, 64],
        "layers_per_block": 1,
        "latent_channels": FLUX1_LATENT_CHANNELS,
        "norm_num_groups": 4,
        "sample_size": FLUX1_SIZE_PX,
        "mid_block_add_attention": False,
        "force_upcast": False,
    }


def flux1_transformer_config(guidance: bool) -> dict[str, Any]:
    """Returns the FluxTransformer2DModel config; ``guidance`` adds the dev guidance embedding."""
    return {
        "patch_size": 1,
        "in_channels": 4 * FLUX1_LATENT_CHANNELS,
        "num_layers": 2,
        "num_single_layers": 3,
        "attention_head_dim": 32,
        "num_attention_heads": 4,
        "joint_attention_dim": FLUX1_TEXT_WIDTH,
        "pooled_projection_dim": FLUX1_TEXT_WIDTH,
        "guidance_embeds": guidance,
        "axes_dims_rope": [8, 12, 12],
    }


def flux1_mu() -> float:
    """Returns the timestep shift ``mu`` the pipeline computes for 64 image tokens."""
    cfg = FLUX1_SCHEDULER_CONFIG
    slope = (cfg["max_shift"] - cfg["base_shift"]) / (cfg["max_image_seq_len"] - cfg["base_image_seq_len"])
    return float(FLUX1_IMAGE_TOKENS * slope + cfg["base_shift"] - slope * cfg["base_image_seq_len"])


def flux1_shift(sigmas: torch.Tensor, mu: float) -> torch.Tensor:
    """Applies the scheduler's exponential time shift to ``sigmas`` in (0, 1]."""
    return math.exp(mu) / (math.exp(mu) + (1.0 / sigmas - 1.0))


def flux1_step_sigmas(steps: Sequence[int], mu: float) -> torch.Tensor:
    """Returns every (shifted) sigma the pipeline visits for each count in ``steps``."""
    grid: list[float] = []
    for n in steps:
        grid.extend(np.linspace(1.0, 1.0 / n, n).tolist())
    return flux1_shift(torch.tensor(sorted(set(grid)), dtype=torch.float32), mu)


def flux1_text_ids(
    clip_tok: CLIPTokenizer, t5_tok: T5TokenizerFast, prompts: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenizes ``prompts`` exactly as FluxPipeline does: both padded to fixed length."""
    clip = clip_tok(
        list(prompts),
        padding="max_length",
        max_length=FLUX1_CLIP_MAX_LENGTH,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    t5 = t5_tok(
        list(prompts),
        padding="max_length",
        max_length=FLUX1_MAX_SEQUENCE_LENGTH,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return clip, t5


def read_defaults(model_dir: Path) -> dict[str, Any]:
    """Returns the pipeline call defaults shipped as ``imaging_defaults.json``."""
    return dict(json.loads((model_dir / "imaging_defaults.json").read_text()))


# Pixels further than this (RGB distance) from the grey background are object pixels.
_OBJECT_DISTANCE = 60.0


def object_mask(image: np.ndarray) -> np.ndarray:
    """Returns the boolean mask of non-background pixels of an HxWx3 uint8 image.

    The background is a light grey, so a pixel counts as object when it is
    far from the grey of its own brightness or clearly darker than the
    lightest background.
    """
    pixels = image.astype(np.float32)
    grey = pixels.mean(axis=2, keepdims=True)
    chroma = np.sqrt(((pixels - grey) ** 2).sum(axis=2))
    return np.asarray((chroma > _OBJECT_DISTANCE) | (grey[..., 0] < 225.0 - _OBJECT_DISTANCE))


def nearest_colour(pixels: np.ndarray) -> np.ndarray:
    """Returns, for each RGB row of ``pixels`` (N x 3), the index into COLOURS of the nearest colour."""
    palette = np.array(list(COLOURS.values()), dtype=np.float32)
    dist = ((pixels.astype(np.float32)[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(dist.argmin(axis=1))


def read_colour_and_side(image: np.ndarray, columns: slice | None = None) -> tuple[str | None, str | None]:
    """Returns (dominant object colour, centroid third) of ``image``; None where no object is seen.

    ``columns`` restricts the reading to a band of columns (for two-object scenes).
    """
    mask = object_mask(image)
    if columns is not None:
        band = np.zeros_like(mask)
        band[:, columns] = mask[:, columns]
        mask = band
    if mask.sum() < 4:
        return None, None
    names = list(COLOURS)
    votes = np.bincount(nearest_colour(image[mask]), minlength=len(names))
    colour = names[int(votes.argmax())]
    xs = np.nonzero(mask)[1]
    third = min(int(xs.mean() / image.shape[1] * 3), 2)
    return colour, POSITIONS[third]


def read_shape(caption: str) -> str | None:
    """Returns the first shape word of a caption, or None."""
    for word in caption.split():
        if word in SHAPES:
            return word
    return None
