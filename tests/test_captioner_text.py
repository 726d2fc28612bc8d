"""Caption text as a user reads it, on the shipped toy-world captioner: a
prefix joined to its continuation by one space, stop sequences cutting the
caption exactly before them, and streams adding up to the unary caption."""

from __future__ import annotations

import pytest

from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from tests.conftest import png_bytes
from tests.test_captioner import stream_caption
from toyworld.world import Scene, Shape, render, vocabulary

Stub = captioner_pb2_grpc.CaptionerServiceStub

RED_CIRCLE = Scene(
    seed=0, objects=(Shape("red", "circle", "big", "left"),), background=240, jitter=(0.5, 0.5, 0.5)
)
RED_CIRCLE_CAPTION = "a big red circle on the left"
STRATEGIES = {
    "greedy": pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_GREEDY),
    "beam": pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_BEAM_SEARCH, beam_count=3),
}


def red_circle() -> common_pb2.Image:
    return common_pb2.Image(data=png_bytes(render(RED_CIRCLE)), media_type="image/png")


async def unary_and_stream(
    stub: Stub, decoding: pb.DecodingOptions, prefix: str = ""
) -> tuple[pb.Caption, list[str]]:
    """The unary caption and the streamed token texts, checked to agree."""
    unary = await stub.Caption(pb.CaptionRequest(images=[red_circle()], decoding=decoding, prefix=prefix))
    tokens, final = await stream_caption(
        stub, pb.StreamCaptionRequest(image=red_circle(), decoding=decoding, prefix=prefix)
    )
    pieces = [t.text for t in tokens]
    assert "".join(pieces) == final.caption.text == unary.captions[0].text
    return unary.captions[0], pieces


async def test_the_shipped_model_captions_the_scene(shipped_captioner: Stub) -> None:
    caption, _ = await unary_and_stream(shipped_captioner, STRATEGIES["greedy"])
    assert caption.text == RED_CIRCLE_CAPTION


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("prefix", ["zebra", "a zebra", "zebra crossing"])
async def test_an_unknown_prefix_word_is_followed_by_one_space(
    shipped_captioner: Stub, strategy: str, prefix: str
) -> None:
    caption, pieces = await unary_and_stream(shipped_captioner, STRATEGIES[strategy], prefix)
    assert caption.text.startswith(prefix + " ")
    continuation = caption.text[len(prefix) + 1 :]
    assert continuation.split(" ")[0] in vocabulary()  # a whole word, no space lost or doubled
    assert pieces[0].startswith(prefix + " ")


async def test_a_known_prefix_keeps_its_spelling(shipped_captioner: Stub) -> None:
    caption, _ = await unary_and_stream(shipped_captioner, STRATEGIES["greedy"], "A Big")
    assert caption.text == "A Big red circle on the left"


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("circle", "a big red "),  # starts a word: the space before it stays
        ("red ci", "a big "),  # ends inside a word
        ("ed ci", "a big r"),  # starts and ends inside words
        (" circle", "a big red"),  # takes the space with it
    ],
)
async def test_a_stop_sequence_ends_the_caption_exactly_before_it(
    shipped_captioner: Stub, strategy: str, stop: str, expected: str
) -> None:
    decoding = pb.DecodingOptions()
    decoding.CopyFrom(STRATEGIES[strategy])
    decoding.stop_sequences.append(stop)
    caption, _ = await unary_and_stream(shipped_captioner, decoding)
    assert caption.text == expected
    assert caption.finish_reason == pb.FINISH_REASON_STOP_SEQUENCE


async def test_a_stream_holds_back_text_that_may_become_a_stop_sequence(shipped_captioner: Stub) -> None:
    # " circle on the" spans three tokens: " circle" and " circle on" may still
    # become it, so neither is sent; once it is complete nothing of it is sent.
    decoding = pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_GREEDY, stop_sequences=[" circle on the"])
    caption, pieces = await unary_and_stream(shipped_captioner, decoding)
    assert caption.text == "a big red"
    assert not any("circle" in piece or "on" in piece.split() for piece in pieces), pieces
    assert caption.token_count == 6  # "a big red circle on the": the stop sequence's tokens count


async def test_a_stop_sequence_that_never_completes_is_sent_in_the_end(shipped_captioner: Stub) -> None:
    decoding = pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_GREEDY, stop_sequences=[" left and"])
    caption, pieces = await unary_and_stream(shipped_captioner, decoding)
    assert caption.text == RED_CIRCLE_CAPTION
    assert caption.finish_reason == pb.FINISH_REASON_END_OF_SEQUENCE
    assert pieces[-1].endswith("left")
