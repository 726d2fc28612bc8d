"""Checkpoints for benchmarks and tests: the real BLIP-base shapes with random weights."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration  # type: ignore[attr-defined]


def save_blip_base_shaped(root: Path) -> Path:
    """A checkpoint with Salesforce/blip-image-captioning-base's config shapes and
    file layout, random weights."""
    tokens = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + [f"word{i}" for i in range(30_517)]
        + ["[DEC]", "[ENC]"]
    )
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    # The shapes of Salesforce/blip-image-captioning-base's config.json.
    shape = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
    }
    config = BlipConfig(
        text_config={
            **shape,
            "vocab_size": 30524,
            "encoder_hidden_size": 768,
            "max_position_embeddings": 512,
            "bos_token_id": tokens.index("[DEC]"),
            "sep_token_id": tokens.index("[SEP]"),
            "pad_token_id": 0,
        },
        vision_config={**shape, "image_size": 384, "patch_size": 16},
        projection_dim=512,
        image_text_hidden_size=256,
    )
    model = BlipForConditionalGeneration(config)
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    # The hub directory's own files: an image-processor config and a WordPiece vocab.txt.
    (root / "vocab.txt").write_text("\n".join(tokens) + "\n")
    (root / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_normalize": True,
                "do_resize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_processor_type": "BlipImageProcessor",
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "processor_class": "BlipProcessor",
                "rescale_factor": 0.00392156862745098,
                "size": {"height": 384, "width": 384},
            }
        )
    )
    return root
