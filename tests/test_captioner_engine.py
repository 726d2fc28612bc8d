"""The captioner engine without transport: per-row cancellation inside a
batch, parity with ``generate()``, and loading the real BLIP-base layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bench.checkpoints import save_blip_base_shaped
from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.options import CaptionJob, CaptionResult, DecodeOptions, TokenEvent
from toyworld.world import render, sample_scene


class Listener:
    """A caller's row: records tokens; cancels itself after ``cancel_after`` tokens."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.events: list[TokenEvent] = []
        self.cancel_after = cancel_after

    @property
    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.events) >= self.cancel_after

    def emit(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def engine(tiny_blip: dict[str, Path]) -> CaptionEngine:
    engine = CaptionEngine(EngineConfig(caption_model=str(tiny_blip["captioner"])))
    engine.load()
    return engine


def jobs(count: int) -> list[CaptionJob]:
    return [CaptionJob(render(sample_scene(seed)), 0) for seed in range(count)]


def test_a_cancelled_row_stops_decoding_while_the_batch_goes_on(engine: CaptionEngine) -> None:
    options = DecodeOptions(max_new_tokens=20, min_new_tokens=20)  # every row would take 20 steps
    alone = [Listener() for _ in range(3)]
    expected = engine.caption(options, jobs(3), alone)
    rows = [Listener(), Listener(cancel_after=2), Listener()]
    steps: list[int] = []
    handle = engine.captioner.text_decoder.register_forward_hook(
        lambda module, args, kwargs, output: steps.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        results = engine.caption(options, jobs(3), rows)
    finally:
        handle.remove()
    assert len(rows[1].events) == 2
    assert not isinstance(results[1], CaptionResult)
    for kept in (0, 2):
        assert results[kept] == expected[kept] or (
            isinstance(results[kept], CaptionResult) and results[kept].text == expected[kept].text  # type: ignore[union-attr]
        )
    # Three rows for two steps, then two rows: the cancelled row costs no more decode steps.
    assert steps[:2] == [3, 3] and set(steps[2:]) == {2}, steps


def test_stepwise_greedy_equals_generate(engine: CaptionEngine) -> None:
    images = [job.image for job in jobs(4)]
    ours = engine.caption(DecodeOptions(max_new_tokens=10), jobs(4), [Listener() for _ in images])
    pixels = engine.pixel_values(engine.caption_processor, images)
    with torch.inference_mode():
        reference = engine.captioner.generate(pixel_values=pixels, max_new_tokens=10, do_sample=False)
    texts = engine.caption_processor.batch_decode(reference, skip_special_tokens=True)
    assert [r.text for r in ours if isinstance(r, CaptionResult)] == [t.strip() for t in texts]


@pytest.mark.slow
def test_the_real_blip_base_layout_loads_through_the_service_loader(tmp_path: Path) -> None:
    path = save_blip_base_shaped(tmp_path / "blip-base")
    assert {"config.json", "preprocessor_config.json", "tokenizer_config.json"} <= {
        p.name for p in path.iterdir()
    }
    engine = CaptionEngine(EngineConfig(caption_model=str(path)))
    engine.load()
    assert engine.facts is not None
    assert (engine.facts.image_size_px, engine.facts.patch_size_px, engine.facts.grid_side) == (384, 16, 24)
    assert (engine.facts.decoder_layers, engine.facts.decoder_heads) == (12, 12)
    image = render(sample_scene(0), 384)
    result = engine.caption(
        DecodeOptions(max_new_tokens=3, min_new_tokens=3), [CaptionJob(image, 0)], [Listener()]
    )
    assert isinstance(result[0], CaptionResult) and len(result[0].token_ids) == 3
    attention = engine.cross_attention(image, "word1 word2", layers=[11], per_head=False)
    assert len(attention.maps) == 2 and len(attention.maps[0][0][0]) == 24 * 24
