"""Shared pieces of the toy BLIP checkpoints: tokenizer, processor, configs, data and caption parsing.

Training (``toyworld.train_blip``), evaluation (``toyworld.eval_blip``) and the
tests use these so that every checkpoint sees the same vocabulary, the same
pixel normalisation and the same hard negatives.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from PIL import Image
from transformers import BlipConfig, BlipImageProcessorPil, BlipProcessor

# From its module: the top-level ``transformers.BertTokenizerFast`` is a lazy alias type checkers miss.
from transformers.models.bert.tokenization_bert import BertTokenizerFast

from serving.images import to_rgb
from toyworld.variety import World, draw
from toyworld.world import (
    COLOURS,
    POSITIONS,
    POSITIONS_EN,
    SHAPES,
    SIZES,
    SPLIT_SIZE_LIMIT,
    Scene,
    Shape,
    Split,
    caption_en,
    sample_scene,
    split_seeds,
    vocabulary,
)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
IMAGE_SIZE = 64
PATCH_SIZE = 8
# The longest caption is 15 words plus [CLS] and [SEP]; generation stops at [SEP] well before this.
MAX_CAPTION_TOKENS = 24
# Same constants the image processor normalises with (OPENAI_CLIP_MEAN / _STD).
_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def build_tokenizer() -> BertTokenizerFast:
    """Returns the WordPiece tokenizer over the five BERT specials and every caption word of both languages.

    Built from an in-memory ``vocab`` mapping: in transformers 5.x a ``vocab_file``
    argument is silently ignored and every word becomes [UNK]. Accents are kept
    (``strip_accents=False``) so that "à" and "carré" survive lower-casing.
    """
    tokens = [*SPECIAL_TOKENS, *vocabulary()]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, strip_accents=False)
    tokenizer.model_max_length = MAX_CAPTION_TOKENS
    return tokenizer


def assert_round_trip(tokenizer: BertTokenizerFast, captions: Sequence[str]) -> None:
    """Raises AssertionError unless every caption encodes to known words and decodes back unchanged."""
    for caption in captions:
        ids = tokenizer(caption)["input_ids"]
        assert UNK_ID not in ids, f"unknown word in {caption!r}: {ids}"
        assert ids[0] == CLS_ID and ids[-1] == SEP_ID, ids
        decoded = tokenizer.decode(ids, skip_special_tokens=True)
        assert decoded == caption, f"round trip changed {caption!r} into {decoded!r}"


def build_processor(tokenizer: BertTokenizerFast | None = None) -> BlipProcessor:
    """Returns the BlipProcessor of every checkpoint: 64x64 images with CLIP normalisation, our tokenizer."""
    image_processor = BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer or build_tokenizer())


def blip_config(
    vocab_size: int,
    vision_hidden: int = 128,
    vision_layers: int = 4,
    text_hidden: int = 128,
    text_layers: int = 2,
    heads: int = 4,
    embed_dim: int = 64,
) -> BlipConfig:
    """Returns a small BlipConfig: 64x64 images in an 8x8 patch grid and the tiny caption vocabulary.

    [CLS] doubles as BOS because ``generate()`` overwrites the first input id
    with ``text_config.bos_token_id`` and the tokenizer starts every caption with
    [CLS]; [SEP] is the stop token. The vision tower's default initializer range
    (1e-10) would start the position embeddings at zero, so it is set to 0.02.
    """
    vision_config = {
        "hidden_size": vision_hidden,
        "intermediate_size": 2 * vision_hidden,
        "projection_dim": embed_dim,
        "num_hidden_layers": vision_layers,
        "num_attention_heads": heads,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "initializer_range": 0.02,
    }
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": text_hidden,
        "encoder_hidden_size": vision_hidden,
        "intermediate_size": 2 * text_hidden,
        "projection_dim": embed_dim,
        "num_hidden_layers": text_layers,
        "num_attention_heads": heads,
        "max_position_embeddings": 32,
        "bos_token_id": CLS_ID,
        "eos_token_id": SEP_ID,
        "sep_token_id": SEP_ID,
        "pad_token_id": PAD_ID,
        "initializer_range": 0.02,
    }
    return BlipConfig(
        text_config=text_config,
        vision_config=vision_config,
        projection_dim=embed_dim,
        image_text_hidden_size=embed_dim,
    )


def pixel_values(images: Sequence[Image.Image]) -> torch.Tensor:
    """Normalises 64x64 RGB images exactly as the saved BlipProcessor does, without its per-call overhead."""
    array = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) for image in images]) / 255.0
    array = (array - _MEAN) / _STD
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


def random_train_seeds(rng: random.Random, count: int) -> list[int]:
    """Draws ``count`` seeds from the training split only (never validation or test)."""
    start = split_seeds("train", 1).start
    return [start + rng.randrange(SPLIT_SIZE_LIMIT) for _ in range(count)]


def scenes_of(split: Split, count: int, offset: int = 0) -> list[Scene]:
    """Returns the first ``count`` scenes of ``split`` after ``offset``."""
    return [sample_scene(seed) for seed in split_seeds(split, count, offset)]


def images_of(scenes: Sequence[Scene], world: World = "v2") -> list[Image.Image]:
    """Draws scenes in ``world`` as RGB images the way the services see them (any size;
    transparency composited on white): what the processor or ``model_pixels`` then resizes."""
    return [to_rgb(draw(scene, world)) for scene in scenes]


def training_images(scenes: Sequence[Scene]) -> list[Image.Image]:
    """Training images: world v2, with one scene in ten drawn plainly (v1) so those never regress."""
    return [to_rgb(draw(scene, "v1" if scene.seed % 10 == 0 else "v2")) for scene in scenes]


def model_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    """Resizes to 64x64 (bicubic, as BlipProcessor does) and normalises: the processor's output, faster."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    resized = [im if im.size == size else im.resize(size, Image.Resampling.BICUBIC) for im in images]
    return pixel_values(resized)


_SIZE_WORDS = set(SIZES)
_COLOUR_WORDS = set(COLOURS)
_SHAPE_WORDS = set(SHAPES)
_POSITION_BY_PHRASE = {phrase: position for position, phrase in POSITIONS_EN.items()}


def parse_caption_en(caption: str) -> list[Shape | None]:
    """Parses an English caption back into objects, left to right.

    Each " and "-separated phrase becomes a Shape, or None when it does not
    follow the template "a SIZE COLOUR SHAPE POSITION-PHRASE".
    """
    objects: list[Shape | None] = []
    for phrase in caption.strip().split(" and "):
        words = phrase.split()
        position = _POSITION_BY_PHRASE.get(" ".join(words[4:]))
        if (
            len(words) >= 5
            and words[0] == "a"
            and words[1] in _SIZE_WORDS
            and words[2] in _COLOUR_WORDS
            and words[3] in _SHAPE_WORDS
            and position is not None
        ):
            objects.append(Shape(colour=words[2], shape=words[3], size=words[1], position=position))
        else:
            objects.append(None)
    return objects


def _with_objects(scene: Scene, objects: Sequence[Shape]) -> Scene:
    return replace(scene, objects=tuple(objects))


def hard_negatives(scene: Scene, count: int, rng: random.Random) -> list[Scene]:
    """Returns ``count`` scenes whose captions differ from ``scene``'s in one detail, all distinct.

    The changes keep the scene but alter one object's colour, shape or size,
    move a single object to another third, or swap the two objects' sides;
    when those run out, two such changes are combined.
    """
    singles: list[Scene] = []
    objects = list(scene.objects)
    for index, obj in enumerate(objects):
        variants = [replace(obj, colour=c) for c in COLOURS if c != obj.colour]
        variants += [replace(obj, shape=s) for s in SHAPES if s != obj.shape]
        variants += [replace(obj, size=s) for s in SIZES if s != obj.size]
        if len(objects) == 1:
            variants += [replace(obj, position=p) for p in POSITIONS if p != obj.position]
        for variant in variants:
            singles.append(_with_objects(scene, [*objects[:index], variant, *objects[index + 1 :]]))
    if len(objects) == 2:
        left, right = objects
        swapped = [replace(right, position="left"), replace(left, position="right")]
        if caption_en(_with_objects(scene, swapped)) != caption_en(scene):
            singles.append(_with_objects(scene, swapped))
    rng.shuffle(singles)
    seen = {caption_en(scene)}
    chosen: list[Scene] = []
    for candidate in singles:
        text = caption_en(candidate)
        if text not in seen:
            seen.add(text)
            chosen.append(candidate)
        if len(chosen) == count:
            return chosen
    while len(chosen) < count:
        # Two single changes applied one after the other: still close to the truth.
        first = rng.choice(singles)
        second = hard_negatives(first, 1, rng)[0]
        text = caption_en(second)
        if text not in seen:
            seen.add(text)
            chosen.append(second)
    return chosen


def parameter_count(model: torch.nn.Module) -> int:
    """Counts distinct parameters (tied weights once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
