"""Content checks of the shipped BLIP checkpoints on held-out toy-world scenes.

A reduced version of ``python -m toyworld.evaluate --only blip``: every model is
loaded through plain ``from_pretrained`` from ``models/`` and asked about
test-split scenes it never saw during training.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor

from toyworld import eval_blip
from toyworld.blip_common import assert_round_trip, images_of, scenes_of
from toyworld.variety import World
from toyworld.world import COLOURS_FR, SHAPES_FR, Scene, Shape, caption_en, caption_fr, render

MODELS = Path(__file__).resolve().parents[2] / "models"
CAPTIONER = MODELS / eval_blip.CAPTIONER_DIR
MATCHER = MODELS / eval_blip.MATCHER_DIR
ADAPTER = MODELS / eval_blip.ADAPTER_DIR
SCENES = 40


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def processor() -> BlipProcessor:
    return BlipProcessor.from_pretrained(CAPTIONER)


@pytest.fixture(scope="module")
def captioner() -> BlipForConditionalGeneration:
    return BlipForConditionalGeneration.from_pretrained(CAPTIONER).eval()


@pytest.fixture(scope="module")
def test_scenes() -> list[Scene]:
    return scenes_of("test", SCENES)


def _caption(model: object, processor: BlipProcessor, scene: Scene) -> str:
    inputs = processor(images=render(scene), return_tensors="pt")
    out = model.generate(**inputs)  # type: ignore[attr-defined]
    return str(processor.decode(out[0], skip_special_tokens=True))


def test_saved_tokenizer_round_trips_both_languages(
    processor: BlipProcessor, test_scenes: list[Scene]
) -> None:
    captions = [caption_en(s) for s in test_scenes] + [caption_fr(s) for s in test_scenes]
    assert_round_trip(processor.tokenizer, [*captions, "un petit carré vert à gauche"])


def test_single_red_circle_on_the_left_is_captioned(
    captioner: BlipForConditionalGeneration, processor: BlipProcessor
) -> None:
    scene = Scene(
        seed=-1,
        objects=(Shape(colour="red", shape="circle", size="big", position="left"),),
        background=240,
        jitter=(0.5, 0.5, 0.5),
    )
    caption = _caption(captioner, processor, scene)
    assert "red circle" in caption
    assert "left" in caption


@pytest.mark.parametrize("world", ["v2", "v1"])
def test_captioner_describes_held_out_scenes(
    captioner: BlipForConditionalGeneration, processor: BlipProcessor, test_scenes: list[Scene], world: World
) -> None:
    captions, ended = eval_blip.captions_and_endings(captioner, processor, images_of(test_scenes, world))
    scores = eval_blip.score_captions(test_scenes, captions)
    assert scores.colour >= 0.9
    assert scores.size >= 0.9
    assert scores.position >= 0.9
    assert scores.shape >= 0.85
    assert scores.exact >= 0.8
    assert all(ended), [c for c, e in zip(captions, ended, strict=True) if not e]


def test_captioner_reads_another_programs_drawings_and_stops(
    captioner: BlipForConditionalGeneration, processor: BlipProcessor, test_scenes: list[Scene]
) -> None:
    """Pure colours on black or white, drawn by a renderer the model never trained on."""
    captions, ended = eval_blip.captions_and_endings(captioner, processor, images_of(test_scenes, "other"))
    scores = eval_blip.score_captions(test_scenes, captions)
    assert all(ended), [c for c, e in zip(captions, ended, strict=True) if not e]
    assert scores.colour >= 0.9
    assert scores.position >= 0.9


def test_matcher_ranks_the_true_caption_first(test_scenes: list[Scene]) -> None:
    processor = BlipProcessor.from_pretrained(MATCHER)
    matcher = BlipForImageTextRetrieval.from_pretrained(MATCHER).eval()
    scores = eval_blip.match_scores(matcher, processor, test_scenes[:30])
    assert scores.itm_rank1 >= 0.8
    assert scores.itc_rank1 >= 0.7
    plain = eval_blip.match_scores(matcher, processor, test_scenes[:30], "v1")
    assert plain.itm_rank1 >= 0.8


def test_matcher_public_forward_prefers_the_true_caption() -> None:
    processor = BlipProcessor.from_pretrained(MATCHER)
    matcher = BlipForImageTextRetrieval.from_pretrained(MATCHER).eval()
    scene = Scene(
        seed=-2,
        objects=(
            Shape(colour="blue", shape="square", size="big", position="left"),
            Shape(colour="yellow", shape="triangle", size="small", position="right"),
        ),
        background=235,
        jitter=(0.5,) * 6,
    )
    texts = [
        "a big blue square on the left and a small yellow triangle on the right",
        "a big yellow square on the left and a small yellow triangle on the right",
        "a small yellow triangle on the left and a big blue square on the right",
        "a big blue circle on the left and a small yellow triangle on the right",
    ]
    probabilities, cosines = [], []
    for text in texts:
        inputs = processor(images=render(scene), text=text, return_tensors="pt")
        with torch.no_grad():
            probabilities.append(float(matcher(**inputs, use_itm_head=True).itm_score.softmax(-1)[0, 1]))
            cosines.append(float(matcher(**inputs, use_itm_head=False).itm_score[0, 0]))
    assert probabilities[0] > 0.5
    assert probabilities[0] == max(probabilities)
    assert all(-1.0 <= c <= 1.0 for c in cosines)


def test_french_adapter_speaks_french_and_leaves_english_alone(
    processor: BlipProcessor, test_scenes: list[Scene]
) -> None:
    scenes = test_scenes[:20]
    base = BlipForConditionalGeneration.from_pretrained(CAPTIONER).eval()
    english = eval_blip.generate_captions(base, processor, images_of(scenes))
    model = PeftModel.from_pretrained(base, ADAPTER).eval()
    french = eval_blip.generate_captions(model, processor, images_of(scenes))
    french_words = {"un", "à", "au", *COLOURS_FR.values(), *SHAPES_FR.values()}
    assert all(set(c.split()) & french_words for c in french)
    assert eval_blip.french_exact(scenes, french) >= 0.8
    red_circle = Scene(
        seed=-1,
        objects=(Shape(colour="red", shape="circle", size="big", position="left"),),
        background=240,
        jitter=(0.5, 0.5, 0.5),
    )
    assert "cercle rouge à gauche" in _caption(model, processor, red_circle)
    with model.disable_adapter():
        disabled = eval_blip.generate_captions(model, processor, images_of(scenes))
    assert disabled == english
