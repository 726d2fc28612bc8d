"""The captioner on its default configuration (the shipped toy-world
checkpoints), asserting content a user would notice."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from captioner_svc.settings import MODELS_DIR, CaptionerSettings
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from tests.conftest import png_bytes
from toyworld.world import Scene, Shape, caption_en, caption_fr, render, sample_scene, split_seeds

pytestmark = pytest.mark.slow

Stub = captioner_pb2_grpc.CaptionerServiceStub


def image_of(scene: Scene) -> common_pb2.Image:
    return common_pb2.Image(data=png_bytes(render(scene)), media_type="image/png")


def single(colour: str, shape: str, size: str, position: str) -> Scene:
    return Scene(
        seed=0, objects=(Shape(colour, shape, size, position),), background=240, jitter=(0.5, 0.5, 0.5)
    )


def test_defaults_point_at_the_shipped_checkpoints() -> None:
    settings = CaptionerSettings()
    assert settings.caption_model == str(MODELS_DIR / "blip-captioner")
    assert (MODELS_DIR / "blip-captioner" / "config.json").exists()
    assert (MODELS_DIR / "blip-matcher" / "config.json").exists()
    assert (MODELS_DIR / "blip-captioner-lora-fr" / "adapter_config.json").exists()


async def test_a_red_circle_on_the_left_is_captioned_so(shipped_captioner: Stub) -> None:
    response = await shipped_captioner.Caption(
        pb.CaptionRequest(images=[image_of(single("red", "circle", "big", "left"))])
    )
    assert response.captions[0].text == "a big red circle on the left"
    assert response.captions[0].finish_reason == pb.FINISH_REASON_END_OF_SEQUENCE


def _photo_of_one_shape(colour: tuple[int, int, int], shape: str, left: bool) -> bytes:
    """A shape drawn the way another program would: a 640x480 JPEG on black, no toy-world renderer."""
    image = Image.new("RGB", (640, 480), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    cx, cy, r = (160 if left else 480), 240, 100
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "square":
        draw.rectangle((cx - 0.9 * r, cy - 0.9 * r, cx + 0.9 * r, cy + 0.9 * r), fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r)], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


async def test_photos_of_shapes_on_black_are_captioned_and_end_on_their_own(shipped_captioner: Stub) -> None:
    cases = [
        ((230, 20, 20), "red", "circle", True),
        ((20, 40, 230), "blue", "square", False),
        ((250, 220, 0), "yellow", "triangle", True),
        ((30, 180, 60), "green", "circle", False),
        ((150, 40, 190), "purple", "triangle", False),
        ((255, 140, 0), "orange", "square", True),
    ]
    images = [common_pb2.Image(data=_photo_of_one_shape(rgb, shape, left)) for rgb, _, shape, left in cases]
    response = await shipped_captioner.Caption(pb.CaptionRequest(images=images))
    for caption, (_, colour, shape, left) in zip(response.captions, cases, strict=True):
        side = "on the left" if left else "on the right"
        assert caption.text == f"a big {colour} {shape} {side}"
        assert caption.finish_reason == pb.FINISH_REASON_END_OF_SEQUENCE


async def test_held_out_scenes_are_captioned_exactly(shipped_captioner: Stub) -> None:
    scenes = [sample_scene(seed) for seed in split_seeds("test", 24)]
    response = await shipped_captioner.Caption(pb.CaptionRequest(images=[image_of(s) for s in scenes[:12]]))
    response_2 = await shipped_captioner.Caption(pb.CaptionRequest(images=[image_of(s) for s in scenes[12:]]))
    captions = [c.text for c in [*response.captions, *response_2.captions]]
    exact = sum(c == caption_en(s) for c, s in zip(captions, scenes, strict=True))
    assert exact >= 20, list(zip(captions, map(caption_en, scenes), strict=True))


async def test_french_adapter_and_unchanged_base(shipped_captioner: Stub) -> None:
    scene = single("blue", "square", "small", "right")
    image = image_of(scene)
    french = await shipped_captioner.Caption(pb.CaptionRequest(images=[image], adapter="fr"))
    english = await shipped_captioner.Caption(pb.CaptionRequest(images=[image]))
    assert french.captions[0].text == caption_fr(scene) == "un petit carré bleu à droite"
    assert english.captions[0].text == caption_en(scene)


async def test_matching_prefers_the_true_caption(shipped_captioner: Stub) -> None:
    scene = sample_scene(split_seeds("test", 1)[0])
    truth = caption_en(scene)
    wrong_colour = truth.replace(
        scene.objects[0].colour, "green" if scene.objects[0].colour != "green" else "red", 1
    )
    response = await shipped_captioner.MatchImageText(
        pb.MatchImageTextRequest(image=image_of(scene), texts=[truth, wrong_colour])
    )
    best, other = response.matches
    assert best.match_probability > 0.5 > other.match_probability
    assert best.similarity > other.similarity
    images = await shipped_captioner.EmbedImages(pb.EmbedImagesRequest(images=[image_of(scene)]))
    texts = await shipped_captioner.EmbedTexts(pb.EmbedTextsRequest(texts=[truth, wrong_colour]))
    similarities = [float(np.dot(images.embeddings[0].values, t.values)) for t in texts.embeddings]
    assert similarities[0] > similarities[1]


async def test_attention_for_a_colour_word_falls_on_its_object(shipped_captioner: Stub) -> None:
    scene = Scene(
        seed=0,
        objects=(Shape("red", "circle", "big", "left"), Shape("blue", "square", "big", "right")),
        background=240,
        jitter=(0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
    )
    response = await shipped_captioner.GetCrossAttention(pb.GetCrossAttentionRequest(image=image_of(scene)))
    assert response.caption == caption_en(scene)
    grid = response.grid_width

    def left_share(word: str) -> float:
        token = next(t for t in response.tokens if t.text == word)
        mean = np.mean([m.weights for m in token.maps], axis=0).reshape(response.grid_height, grid)
        return float(mean[:, : grid // 2].sum() / mean.sum())

    assert left_share("red") > left_share("blue")
