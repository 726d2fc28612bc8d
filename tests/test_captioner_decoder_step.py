"""The lean prefill and decode step against the text decoder's own forward:
the same logits and caches, on a batch whose rows joined at different times
(left padding and their own positions), with and without a LoRA adapter."""

from __future__ import annotations

import copy
from typing import Any

import torch

from captioner_svc.decoder_step import decoder_prefill, decoder_step
from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.settings import MODELS_DIR
from toyworld.world import render, sample_scene


def _engine_with_adapter() -> CaptionEngine:
    """The shipped captioner with its French adapter loaded."""
    engine = CaptionEngine(
        EngineConfig(
            caption_model=str(MODELS_DIR / "blip-captioner"),
            adapters={"fr": str(MODELS_DIR / "blip-captioner-lora-fr")},
        )
    )
    engine.load()
    return engine


def _padded_state(engine: CaptionEngine) -> tuple[Any, ...]:
    """A running batch's cache: row 0 decoded 4 tokens, row 1 joined 2 tokens later
    (its cache left-padded by 2), and the step's tokens, positions and masks."""
    decoder = engine.captioner.text_decoder
    images = [render(sample_scene(seed), 64) for seed in (3, 4)]
    embeds = engine.captioner.vision_model(
        pixel_values=engine.pixel_values(engine.caption_processor, images)
    )[0]
    bos = decoder.config.bos_token_id
    # Row 1's tokens sit at the end of its cache, after two padding slots.
    ids = torch.tensor([[bos, 11, 12, 13, 14], [0, 0, bos, 21, 22]])
    attends = torch.tensor([[True] * 5, [False, False, True, True, True]])
    positions = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]])
    out = decoder(
        input_ids=ids,
        attention_mask=attends.long(),
        position_ids=positions,
        encoder_hidden_states=embeds,
        use_cache=True,
    )
    tokens = torch.tensor([15, 23])
    step_positions = torch.tensor([5, 3])
    step_attends = torch.cat([attends, torch.ones(2, 1, dtype=torch.bool)], dim=1)
    additive = torch.zeros(step_attends.shape).masked_fill(~step_attends, torch.finfo(torch.float32).min)
    return out.past_key_values, embeds, tokens, step_positions, step_attends, additive[:, None, None, :]


def _both(engine: CaptionEngine) -> tuple[torch.Tensor, torch.Tensor]:
    past, embeds, tokens, positions, attends, additive = _padded_state(engine)
    reference = engine.captioner.text_decoder(
        input_ids=tokens[:, None],
        attention_mask=attends.long(),
        position_ids=positions[:, None],
        encoder_hidden_states=embeds,
        past_key_values=copy.deepcopy(past),
        use_cache=True,
    ).logits[:, -1, :]
    lean_past = copy.deepcopy(past)
    length = lean_past.get_seq_length()
    lean = decoder_step(engine.captioner.text_decoder, lean_past, tokens, positions, additive)
    # The step appended this token's keys and values, as the model's forward does.
    assert lean_past.get_seq_length() == length + 1
    return reference, lean


@torch.inference_mode()
def test_the_lean_step_gives_the_decoders_logits_with_and_without_an_adapter() -> None:
    engine = _engine_with_adapter()
    with engine._adapter(""):
        reference, lean = _both(engine)
    torch.testing.assert_close(lean, reference, rtol=0, atol=1e-5)
    with engine._adapter("fr"):
        adapted_reference, adapted = _both(engine)
    torch.testing.assert_close(adapted, adapted_reference, rtol=0, atol=1e-5)
    # The adapter's LoRA layers took part: its logits are not the base model's.
    assert (adapted - lean).abs().max() > 1e-2


def _prefills(engine: CaptionEngine) -> tuple[Any, Any]:
    """The forward's and the lean prefill's (logits, cache) for a three-token prompt."""
    decoder = engine.captioner.text_decoder
    images = [render(sample_scene(seed), 64) for seed in (5, 6, 7)]
    embeds = engine.captioner.vision_model(
        pixel_values=engine.pixel_values(engine.caption_processor, images)
    )[0]
    prompt = torch.tensor([[decoder.config.bos_token_id, 11, 12]] * 3)
    out = decoder(input_ids=prompt, encoder_hidden_states=embeds, use_cache=True)
    return (out.logits[:, -1, :], out.past_key_values), decoder_prefill(decoder, prompt, embeds)


@torch.inference_mode()
def test_the_lean_prefill_gives_the_decoders_logits_and_cache_with_and_without_an_adapter() -> None:
    engine = _engine_with_adapter()
    logits = {}
    for adapter in ("", "fr"):
        with engine._adapter(adapter):
            (reference, reference_past), (lean, lean_past) = _prefills(engine)
        torch.testing.assert_close(lean, reference, rtol=0, atol=1e-5)
        logits[adapter] = lean
        # The cache a step extends: the prompt's keys and values, and the image's.
        for ours, theirs in (
            (lean_past.self_attention_cache.layers, reference_past.self_attention_cache.layers),
            (lean_past.cross_attention_cache.layers, reference_past.cross_attention_cache.layers),
        ):
            assert len(ours) == len(theirs) == engine.captioner.text_decoder.config.num_hidden_layers
            for mine, model in zip(ours, theirs, strict=True):
                torch.testing.assert_close(mine.keys, model.keys, rtol=0, atol=1e-5)
                torch.testing.assert_close(mine.values, model.values, rtol=0, atol=1e-5)
    # The adapter's LoRA layers took part: its logits are not the base model's.
    assert (logits["fr"] - logits[""]).abs().max() > 1e-2
