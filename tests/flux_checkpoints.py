"""Tiny random FLUX.1 and FLUX.2 [klein] pipelines of the served architectures,
saved with ``save_pretrained`` so the service loads them through its own loader.

Random weights give arbitrary pictures: tests that use these assert behaviour
(sizes, seeds, batching, streaming, cancellation, limits), not content; content
is asserted on the shipped toy-world checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLFlux2,
    FlowMatchEulerDiscreteScheduler,
    Flux2KleinPipeline,
    Flux2Transformer2DModel,
    FluxPipeline,
    FluxTransformer2DModel,
)
from transformers import CLIPTextModel, T5EncoderModel

from toyworld import flux2_common
from toyworld.flux1_common import (
    FLUX1_MAX_SEQUENCE_LENGTH,
    FLUX1_SCHEDULER_CONFIG,
    flux1_clip_config,
    flux1_clip_tokenizer,
    flux1_t5_config,
    flux1_t5_tokenizer,
    flux1_transformer_config,
    flux1_vae_config,
)

# The tiny klein text encoder has three layers; the pipeline stacks these hidden states.
KLEIN_TEXT_LAYERS = (1, 2, 3)
KLEIN_MAX_SEQUENCE_LENGTH = 24


def _eval(module: Any) -> Any:
    return module.eval()


def save_tiny_flux1(root: Path, guidance: bool = False, seed: int = 0) -> Path:
    """Writes a FluxPipeline directory (64x64 native, 4x VAE) with imaging_defaults.json."""
    torch.manual_seed(seed)
    clip_tok, t5_tok = flux1_clip_tokenizer(), flux1_t5_tokenizer()
    transformer_config = flux1_transformer_config(guidance)
    transformer_config.update(num_layers=1, num_single_layers=1)
    # diffusers' dynamic module registration hides eval/save_pretrained from type checkers.
    pipe: Any = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX1_SCHEDULER_CONFIG),
        # FluxPipeline reads both factors; the trained checkpoints set them from latent statistics.
        vae=_eval(AutoencoderKL(**flux1_vae_config(), scaling_factor=1.0, shift_factor=0.0)),
        text_encoder=CLIPTextModel(flux1_clip_config(clip_tok)).eval(),
        tokenizer=clip_tok,
        text_encoder_2=T5EncoderModel(flux1_t5_config(t5_tok)).eval(),
        tokenizer_2=t5_tok,
        transformer=_eval(FluxTransformer2DModel(**transformer_config)),
    )
    path = root / ("flux1-dev" if guidance else "flux1-schnell")
    pipe.save_pretrained(path)
    defaults = {
        "height": 64,
        "width": 64,
        "num_inference_steps": 4,
        "max_sequence_length": FLUX1_MAX_SEQUENCE_LENGTH,
        "true_cfg_scale": 1.0 if guidance else 2.0,
        "negative_prompt": "",
        "guidance_scale": 3.5,
    }
    (path / "imaging_defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")
    return path


def save_tiny_flux2_klein(root: Path, seed: int = 0) -> Path:
    """Writes a Flux2KleinPipeline directory (64x64 native) with imaging_defaults.json."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tokenizer = flux2_common.build_tokenizer()
    encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=flux2_common.TEXT_HIDDEN,
            intermediate_size=64,
            num_hidden_layers=max(KLEIN_TEXT_LAYERS),
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=128,
            tie_word_embeddings=True,
        )
    ).eval()
    transformer_config = dict(flux2_common.TRANSFORMER_CONFIG)
    transformer_config.update(
        num_layers=1,
        num_single_layers=1,
        joint_attention_dim=flux2_common.TEXT_HIDDEN * len(KLEIN_TEXT_LAYERS),
    )
    pipe: Any = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**flux2_common.SCHEDULER_CONFIG),
        vae=_eval(AutoencoderKLFlux2(**flux2_common.VAE_CONFIG)),
        text_encoder=encoder,
        tokenizer=tokenizer,
        transformer=_eval(Flux2Transformer2DModel(**transformer_config)),
    )
    path = root / "flux2-klein"
    pipe.save_pretrained(path)
    defaults = {
        "height": 64,
        "width": 64,
        "num_inference_steps": 4,
        "max_sequence_length": KLEIN_MAX_SEQUENCE_LENGTH,
        "guidance_scale": 1.0,
        "text_encoder_out_layers": list(KLEIN_TEXT_LAYERS),
    }
    (path / "imaging_defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")
    return path


def save_tiny_flux(root: Path) -> dict[str, Path]:
    """Writes the tiny schnell-like, dev-like and klein pipelines under ``root``."""
    return {
        "flux1-schnell": save_tiny_flux1(root),
        "flux1-dev": save_tiny_flux1(root, guidance=True, seed=1),
        "flux2-klein": save_tiny_flux2_klein(root),
    }
