"""BLIP's vision tower without the model's forward wrappers.

``BlipVisionModel.forward`` merges config defaults and captures outputs on
every call; on the small groups of images that join a running decode those
wrappers hold the interpreter lock for 0.1-0.4 ms a call of one or two
images (the shipped model, one torch thread). This computes the same
operations through the tower's own submodules, so LoRA layers injected into
them still apply, except that attention is one fused kernel
(``scaled_dot_product_attention``) instead of the model's matmul, softmax and
matmul: nobody reads the tower's attention weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def encode_images(vision_model: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """The tower's last hidden state (images x tokens x hidden) for ``pixel_values``
    (images x channels x height x width, at the model's image size)."""
    hidden = vision_model.embeddings(pixel_values)
    for layer in vision_model.encoder.layers:
        hidden = hidden + _self_attention(layer.self_attn, layer.layer_norm1(hidden))
        hidden = hidden + layer.mlp(layer.layer_norm2(hidden))
    return vision_model.post_layernorm(hidden)


def _self_attention(attention: Any, hidden: torch.Tensor) -> torch.Tensor:
    """``BlipAttention`` of ``hidden`` (images x tokens x hidden), less its weights."""
    images, tokens, width = hidden.shape
    heads = attention.num_heads
    qkv = attention.qkv(hidden).reshape(images, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
    context = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=attention.scale)
    return attention.projection(context.transpose(1, 2).reshape(images, tokens, width))
