"""BLIP's vision tower without the model's forward wrappers.

``BlipVisionModel.forward`` merges config defaults and captures outputs on
every call; on the small groups of images that join a running decode those
wrappers hold the interpreter lock for 0.1-0.4 ms a call of one or two
images (the shipped model, one torch thread). This computes the same
operations in the same order through the tower's own submodules, so LoRA
layers injected into them still apply.
"""

from __future__ import annotations

from typing import Any

import torch


def encode_images(vision_model: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """The tower's last hidden state (images x tokens x hidden) for ``pixel_values``
    (images x channels x height x width, at the model's image size)."""
    hidden = vision_model.embeddings(pixel_values)
    for layer in vision_model.encoder.layers:
        attended, _ = layer.self_attn(layer.layer_norm1(hidden))
        hidden = hidden + attended
        hidden = hidden + layer.mlp(layer.layer_norm2(hidden))
    return vision_model.post_layernorm(hidden)
