"""Tiny random BLIP checkpoints of the served architectures, saved with
``save_pretrained`` so the service loads them through its own loader.

Random weights give arbitrary captions: tests that use these assert
behaviour (batching, streaming, limits), not content; content is asserted on
the shipped toy-world checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval

from toyworld.blip_common import blip_config, build_processor


def save_tiny_blip(root: Path, seed: int = 0) -> dict[str, Path]:
    """Writes a captioner, a retrieval model and a LoRA adapter under ``root``."""
    torch.manual_seed(seed)
    processor = build_processor()
    config = blip_config(
        len(processor.tokenizer),
        vision_hidden=32,
        vision_layers=1,
        text_hidden=32,
        text_layers=2,
        heads=2,
        embed_dim=16,
    )
    paths = {"captioner": root / "captioner", "retrieval": root / "retrieval", "adapter": root / "adapter"}
    captioner = BlipForConditionalGeneration(config).eval()
    # Random weights under BLIP's default init give near-uniform logits; sharpen
    # them so greedy decoding is not decided by float noise.
    with torch.no_grad():
        captioner.text_decoder.cls.predictions.decoder.weight.mul_(20)
    captioner.save_pretrained(paths["captioner"])
    processor.save_pretrained(paths["captioner"])
    retrieval = BlipForImageTextRetrieval(config).eval()
    retrieval.save_pretrained(paths["retrieval"])
    processor.save_pretrained(paths["retrieval"])
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False)
    adapted = get_peft_model(BlipForConditionalGeneration.from_pretrained(paths["captioner"]), lora)
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    adapted.save_pretrained(str(paths["adapter"]))
    return paths


def with_random_vision_lora(model: BlipForConditionalGeneration) -> PeftModel:
    """``model`` with a random, strong LoRA adapter on its vision tower's attention
    only (injected in place, so ``model.vision_model`` carries it too)."""
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=r".*vision_model\.encoder\.layers\.\d+\.self_attn\.qkv"
    )
    adapted = get_peft_model(model, lora)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.5, generator=generator)
    return adapted
