"""The captioner engine without transport: per-row cancellation inside a
batch, rows that join a running decode, parity with ``generate()``, the
off-thread normaliser against BLIP's processor, and loading the real
BLIP-base layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bench.checkpoints import save_blip_base_shaped
from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.options import CaptionJob, CaptionResult, DecodeOptions, Strategy, TokenEvent
from toyworld.world import render, sample_scene


class Listener:
    """A caller's row: records tokens; cancels itself after ``cancel_after`` tokens."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.events: list[TokenEvent] = []
        self.cancel_after = cancel_after

    @property
    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.events) >= self.cancel_after

    @property
    def streaming(self) -> bool:
        return True

    def emit(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def engine(tiny_blip: dict[str, Path]) -> CaptionEngine:
    # The decodes here are 12 tokens long: joiners get in after 6 at the latest.
    engine = CaptionEngine(EngineConfig(caption_model=str(tiny_blip["captioner"]), join_after_steps=6))
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
    # The LM head ends every decoder pass (prefill and step): its input has a row per decoded row.
    handle = engine.captioner.text_decoder.cls.register_forward_hook(
        lambda module, args, output: steps.append(args[0].shape[0])
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


class Joining(Listener):
    """A row that arrives while the batch decodes: the inbox hands it over with its job."""

    def __init__(self, job: CaptionJob) -> None:
        super().__init__()
        self.payload = job


class Inbox:
    """Makes ``arrivals[step]`` wait from decode step number ``step`` on; hands
    over what waits when the decode loop takes it."""

    def __init__(self, arrivals: dict[int, list[Joining]]) -> None:
        self.arrivals = arrivals
        self.step = 0
        self.pending: list[Joining] = []
        self.joined_at: list[int] = []

    def joinable(self, active: int) -> int:
        self.pending += self.arrivals.get(self.step, [])
        self.step += 1
        return len(self.pending)

    def take(self, active: int) -> list[Joining]:
        self.joined_at.append(self.step - 1)
        joining, self.pending = self.pending, []
        return joining


@pytest.mark.parametrize(
    "options",
    [
        DecodeOptions(max_new_tokens=12),
        DecodeOptions(max_new_tokens=12, min_new_tokens=9, repetition_penalty=1.3),
        DecodeOptions(strategy=Strategy.SAMPLING, max_new_tokens=12, top_k=20, temperature=0.8),
    ],
    ids=["greedy", "min-tokens-and-penalty", "sampling"],
)
def test_rows_that_join_a_running_decode_caption_as_they_would_alone(
    engine: CaptionEngine, options: DecodeOptions
) -> None:
    everything = [CaptionJob(render(sample_scene(seed)), seed) for seed in range(7)]
    alone = [engine.caption(options, [job], [Listener()])[0] for job in everything]
    late = {
        2: [Joining(everything[3]), Joining(everything[4])],
        5: [Joining(everything[5])],
        6: [Joining(everything[6])],
    }
    finished: list[tuple[Any, CaptionResult]] = []
    first = [Listener() for _ in range(3)]
    results = engine.caption(
        options, everything[:3], first, Inbox(late), lambda row, result: finished.append((row, result))
    )
    joined = [row for rows in late.values() for row in rows]
    by_row = {id(row): result for row, result in finished}
    assert len(finished) == 7, "every row, joined ones included, is answered as it ends"
    assert results == [by_row[id(row)] for row in first]
    for row, expected in zip([*first, *joined], alone, strict=True):
        got = by_row[id(row)]
        assert isinstance(got, CaptionResult) and isinstance(expected, CaptionResult)
        assert (got.text, got.token_ids, got.finish) == (expected.text, expected.token_ids, expected.finish)
        assert got.mean_log_probability == pytest.approx(expected.mean_log_probability, abs=1e-4)
        # The streamed pieces add up to the caption, for joined rows too.
        assert "".join(event.text for event in row.events) == got.text


def test_a_joined_row_leaves_when_its_caller_cancels(engine: CaptionEngine) -> None:
    options = DecodeOptions(max_new_tokens=15, min_new_tokens=15)
    leaver = Joining(jobs(2)[1])
    leaver.cancel_after = 3
    inbox = Inbox({1: [leaver]})
    rows_per_pass: list[int] = []
    handle = engine.captioner.text_decoder.cls.register_forward_hook(
        lambda module, args, output: rows_per_pass.append(args[0].shape[0])
    )
    try:
        results = engine.caption(options, jobs(1), [Listener()], inbox)
    finally:
        handle.remove()
    assert len(leaver.events) == 3
    assert isinstance(results[0], CaptionResult) and len(results[0].token_ids) == 15
    # Prefill and a step alone; the joiner's prefill; two steps of two rows (the joiner's
    # tokens 2 and 3); then one row again for the rest.
    assert rows_per_pass == [1, 1, 1, 2, 2] + [1] * 11, rows_per_pass


def test_calls_join_when_as_many_wait_as_decode_or_after_join_after_steps_tokens(
    tiny_blip: dict[str, Path],
) -> None:
    engine = CaptionEngine(EngineConfig(caption_model=str(tiny_blip["captioner"]), join_after_steps=5))
    engine.load()
    options = DecodeOptions(max_new_tokens=12, min_new_tokens=12)
    late = Joining(jobs(5)[4])
    inbox = Inbox({1: [late]})
    encodes: list[float] = []
    engine.caption(options, jobs(3), [Listener() for _ in range(3)], inbox, on_encode=encodes.append)
    # One waits while three decode: it joins only after join_after_steps (5) tokens.
    assert inbox.joined_at == [5], inbox.joined_at
    assert len(encodes) == 2, "the batch's encoding and the joining group's are both reported"
    crowd = [Joining(job) for job in jobs(4)[1:]]
    inbox = Inbox({1: crowd})
    engine.caption(options, jobs(1), [Listener()], inbox)
    assert inbox.joined_at == [1]  # three wait while one decodes: they join at once


def test_images_encoded_elsewhere_caption_alike_and_report_the_towers_time(engine: CaptionEngine) -> None:
    """Embeddings made by an encoder process: the caption is the one the model's
    own tower gives, and the encode_image time is the tower's there, not the
    hand-over's (which alone takes microseconds)."""
    options = DecodeOptions(max_new_tokens=12)
    normalizer = engine.caption_normalizer
    assert normalizer is not None
    image = render(sample_scene(3), normalizer.size_px)
    pixels = normalizer(image)
    with torch.inference_mode():
        embeds = engine.captioner.vision_model(pixel_values=torch.from_numpy(pixels[None]))[0][0]
    job = CaptionJob(image, 3, pixels)
    elsewhere = CaptionJob(image, 3, pixels, embeds=embeds.numpy(), encode_s=0.25)
    (here,) = engine.caption(options, [job], [Listener()])
    (there,) = engine.caption(options, [elsewhere], [Listener()])
    assert here is not None and there is not None
    assert (there.text, there.token_ids) == (here.text, here.token_ids)
    assert there.encode_s >= 0.25


def test_the_off_thread_normaliser_matches_blips_processor(engine: CaptionEngine) -> None:
    normalizer = engine.caption_normalizer
    assert normalizer is not None
    for seed in range(5):
        image = render(sample_scene(seed), normalizer.size_px)
        ours = torch.from_numpy(normalizer(image))
        theirs = engine.pixel_values(engine.caption_processor, [image])[0]
        assert torch.allclose(ours, theirs, atol=1e-5)


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
