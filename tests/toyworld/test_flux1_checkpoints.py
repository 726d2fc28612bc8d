"""Checks the shipped models/flux1-schnell pipeline: it loads with the stock
FluxPipeline, its tokenizers round-trip the world's words, and generated images
show the prompted colour on the prompted side, reproducibly per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from toyworld.flux1_common import FLUX1_CLIP_MAX_LENGTH, object_mask, read_colour_and_side, read_defaults
from toyworld.world import caption_en, sample_scene, split_seeds, vocabulary

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "flux1-schnell"

pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "model_index.json").exists(), reason="models/flux1-schnell is not present"
)


@pytest.fixture(scope="module")
def pipe():
    from diffusers import FluxPipeline

    torch.set_num_threads(1)
    pipeline = FluxPipeline.from_pretrained(MODEL_DIR)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipe, prompts: list[str], seed: int = 0, steps: int | None = None) -> list[np.ndarray]:
    defaults = read_defaults(MODEL_DIR)
    out = pipe(
        prompts,
        height=defaults["height"],
        width=defaults["width"],
        num_inference_steps=steps or defaults["num_inference_steps"],
        max_sequence_length=defaults["max_sequence_length"],
        negative_prompt=[defaults["negative_prompt"]] * len(prompts),
        true_cfg_scale=defaults["true_cfg_scale"],
        guidance_scale=defaults["guidance_scale"],
        generator=[torch.Generator().manual_seed(seed + i) for i in range(len(prompts))],
        output_type="np",
    ).images
    return [(np.asarray(image) * 255).round().astype(np.uint8) for image in out]


def test_defaults_file_matches_the_pipeline_contract():
    defaults = read_defaults(MODEL_DIR)
    assert defaults["height"] == defaults["width"] == 64
    assert defaults["negative_prompt"] == ""
    # Few-step distilled (reflow): no true CFG needed, one transformer pass per step.
    assert defaults["true_cfg_scale"] == 1.0
    assert defaults["num_inference_steps"] <= 4
    assert set(defaults) >= {"num_inference_steps", "max_sequence_length", "guidance_scale"}


def test_tokenizers_round_trip_every_world_word():
    # The name the pipeline's component is declared with; transformers 5 exports
    # it lazily, out of sight of static checkers.
    from transformers import CLIPTokenizer, T5TokenizerFast  # type: ignore[attr-defined]

    clip = CLIPTokenizer.from_pretrained(MODEL_DIR / "tokenizer")
    t5 = T5TokenizerFast.from_pretrained(MODEL_DIR / "tokenizer_2")
    assert clip.model_max_length == FLUX1_CLIP_MAX_LENGTH
    english = [w for w in vocabulary() if w.isascii()]
    for word in english:
        # T5 has one piece per word; CLIP's merge chains leave "orange" and
        # "triangle" in a few pieces, but no word falls back to the unknown token.
        assert len(t5(word).input_ids) == 2, word
        assert clip.decode(clip(word).input_ids, skip_special_tokens=True) == word
        assert t5.decode(t5(word).input_ids, skip_special_tokens=True) == word
    text = "a big red circle on the left and a small blue square on the right"
    assert clip.decode(clip(text).input_ids, skip_special_tokens=True) == text
    assert t5.decode(t5(text).input_ids, skip_special_tokens=True) == text
    assert t5.unk_token_id not in t5(text).input_ids


def test_same_seed_gives_the_same_image(pipe):
    first = generate(pipe, ["a big red circle on the left"], seed=3)[0]
    again = generate(pipe, ["a big red circle on the left"], seed=3)[0]
    other = generate(pipe, ["a big red circle on the left"], seed=4)[0]
    assert first.shape == (64, 64, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_big_red_circle_on_the_left_is_red_and_left(pipe):
    images = generate(pipe, ["a big red circle on the left"] * 3)
    for image in images:
        mask = object_mask(image)
        assert mask.sum() > 40
        left = mask[:, :32].sum()
        assert left > 0.8 * mask.sum()
        colour, side = read_colour_and_side(image)
        assert (colour, side) == ("red", "left")


@pytest.mark.slow
def test_test_split_single_object_prompts_follow_colour_and_side(pipe):
    scenes = [s for s in (sample_scene(seed) for seed in split_seeds("test", 40)) if len(s.objects) == 1][:12]
    images = generate(pipe, [caption_en(s) for s in scenes])
    reads = [read_colour_and_side(image) for image in images]
    colour = np.mean([r[0] == s.objects[0].colour for r, s in zip(reads, scenes, strict=True)])
    side = np.mean([r[1] == s.objects[0].position for r, s in zip(reads, scenes, strict=True)])
    assert colour >= 0.75
    assert side >= 0.75


@pytest.mark.slow
@pytest.mark.parametrize("steps", [1, 2])
def test_one_and_two_steps_already_draw_the_prompt(pipe, steps):
    """BFL's schnell is meant for 1-4 steps: the distilled toy model draws the colour and side at once."""
    scenes = [s for s in (sample_scene(seed) for seed in split_seeds("test", 40)) if len(s.objects) == 1][:12]
    images = generate(pipe, [caption_en(s) for s in scenes], steps=steps)
    reads = [read_colour_and_side(image) for image in images]
    colour = np.mean([r[0] == s.objects[0].colour for r, s in zip(reads, scenes, strict=True)])
    side = np.mean([r[1] == s.objects[0].position for r, s in zip(reads, scenes, strict=True)])
    assert colour >= 0.75
    assert side >= 0.9


def _round_trip(vae, images: list[np.ndarray]) -> np.ndarray:
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample
    return ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def test_the_shared_vae_draws_outlines_and_keeps_plain_scenes(pipe):
    """The VAE was widened to outlined shapes (the outline LoRA's style) without losing plain scenes."""
    from PIL import Image

    from toyworld.outline_style import is_outlined, render_outlined
    from toyworld.world import render

    scenes = [sample_scene(seed) for seed in split_seeds("test", 30)]
    outlined = [np.asarray(render_outlined(scene)) for scene in scenes]
    readable = [image for image in outlined if is_outlined(Image.fromarray(image))]
    decoded = _round_trip(pipe.vae, readable)
    assert np.mean([is_outlined(Image.fromarray(image)) for image in decoded]) >= 0.8
    plain = [np.asarray(render(scene, 64)) for scene in scenes]
    error = np.abs(_round_trip(pipe.vae, plain).astype(np.int16) - np.stack(plain)).mean()
    assert error < 8.0  # of 255: plain scenes come back as drawn, filled
    assert not any(is_outlined(Image.fromarray(image)) for image in _round_trip(pipe.vae, plain))


def test_the_reflow_judge_keeps_images_of_their_prompt_and_rejects_others(pipe):
    """``judge_pool`` (rejection-sampled reflow) keeps a latent drawing its prompt, not another one."""
    from diffusers import FluxPipeline

    from toyworld.distill_flux1 import judge_pool
    from toyworld.world import render

    captioner = MODEL_DIR.parent / "blip-captioner"
    if not (captioner / "config.json").exists():
        pytest.skip("models/blip-captioner is not present")
    scenes = [sample_scene(seed) for seed in split_seeds("test", 12)]
    vae = pipe.vae
    pixels = torch.from_numpy(np.stack([np.asarray(render(s, 64)) for s in scenes])).permute(0, 3, 1, 2)
    with torch.no_grad():
        means = vae.encode(pixels.float() / 127.5 - 1).latent_dist.mean
    scaled = (means - vae.config["shift_factor"]) * vae.config["scaling_factor"]
    packed = FluxPipeline._pack_latents(scaled, *scaled.shape)
    assert judge_pool(vae, packed, scenes, captioner).float().mean() >= 0.9
    others = scenes[1:] + scenes[:1]  # every image under another scene's prompt
    assert judge_pool(vae, packed, others, captioner).float().mean() <= 0.1
