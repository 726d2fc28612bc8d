"""The vision tower run through its submodules against its own forward: the
same hidden states for the caption and the retrieval model, with and without
a LoRA adapter on the tower's attention."""

from __future__ import annotations

import torch
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor

from captioner_svc.settings import MODELS_DIR
from captioner_svc.vision_tower import encode_images
from tests.blip_checkpoints import with_random_vision_lora
from toyworld.world import render, sample_scene


def _pixels() -> torch.Tensor:
    images = [render(sample_scene(seed), 64) for seed in (8, 9, 10)]
    processor = BlipProcessor.from_pretrained(MODELS_DIR / "blip-captioner")
    return processor(images=images, return_tensors="pt").pixel_values


@torch.inference_mode()
def test_the_tower_through_its_submodules_gives_its_forwards_hidden_states() -> None:
    pixels = _pixels()
    captioner = BlipForConditionalGeneration.from_pretrained(MODELS_DIR / "blip-captioner").eval()
    retriever = BlipForImageTextRetrieval.from_pretrained(MODELS_DIR / "blip-matcher").eval()
    for model in (captioner, retriever):
        reference = model.vision_model(pixel_values=pixels)[0]
        torch.testing.assert_close(encode_images(model.vision_model, pixels), reference, rtol=0, atol=1e-5)


@torch.inference_mode()
def test_lora_layers_in_the_tower_still_apply() -> None:
    pixels = _pixels()
    base = BlipForConditionalGeneration.from_pretrained(MODELS_DIR / "blip-captioner").eval()
    bare = encode_images(base.vision_model, pixels)
    with_random_vision_lora(base).eval()
    tower = base.vision_model  # peft injected its LoRA layers in place
    lean = encode_images(tower, pixels)
    assert (lean - bare).abs().max() > 1e-2  # the LoRA layers took part
    # The random LoRA makes float32 rounding grow to ~1e-3 in either order of
    # operations (fused attention or not); in float64 the two agree exactly.
    tower, pixels = tower.double(), pixels.double()
    torch.testing.assert_close(encode_images(tower, pixels), tower(pixel_values=pixels)[0], rtol=0, atol=1e-9)
