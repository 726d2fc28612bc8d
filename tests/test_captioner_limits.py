"""What the captioner accepts: token limits taken from the loaded checkpoint
(advertised by GetModelInfo and exactly what the three decoding RPCs accept)
and the range of sampling seeds, on tiny random BLIP checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from tests.test_captioner import greedy, scene_image, stream_caption

Stub = captioner_pb2_grpc.CaptionerServiceStub

RPCS = ["Caption", "StreamCaption", "GetCrossAttention"]
MAX_SEED = 2**63 - 1  # seeds are int64 on the wire, and image i uses seed + i


async def generated_tokens(stub: Stub, rpc: str, decoding: pb.DecodingOptions, prefix: str = "") -> int:
    """How many tokens ``rpc`` decoded for one image with ``decoding``."""
    image = scene_image(3)
    if rpc == "Caption":
        response = await stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding, prefix=prefix))
        return response.captions[0].token_count
    if rpc == "StreamCaption":
        _, final = await stream_caption(
            stub, pb.StreamCaptionRequest(image=image, decoding=decoding, prefix=prefix)
        )
        return final.caption.token_count
    assert not prefix, "GetCrossAttention has no prefix"
    attention = await stub.GetCrossAttention(pb.GetCrossAttentionRequest(image=image, decoding=decoding))
    return len(attention.tokens)


async def refusal(stub: Stub, rpc: str, decoding: pb.DecodingOptions, prefix: str = "") -> list[str]:
    """The fields an INVALID_ARGUMENT refusal of ``rpc`` names (fails if the call succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generated_tokens(stub, rpc, decoding, prefix)
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT, info.message
    return [v.field for v in info.field_violations]


def exactly(count: int, **fields: object) -> pb.DecodingOptions:
    """Decoding that must produce ``count`` tokens (end of sequence suppressed until then)."""
    return greedy(max_new_tokens=count, min_new_tokens=count, **fields)


def positions(tiny_blip: dict[str, Path]) -> int:
    config = json.loads((tiny_blip["captioner"] / "config.json").read_text())
    return int(config["text_config"]["max_position_embeddings"])


async def test_model_info_advertises_the_checkpoint_token_limit(
    captioner_stub: Stub, tiny_blip: dict[str, Path]
) -> None:
    info = await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())
    # Every position of the text decoder but the one BOS takes.
    assert info.max_new_tokens_limit == positions(tiny_blip) - 1
    assert 1 <= info.default_max_new_tokens <= info.max_new_tokens_limit


@pytest.mark.parametrize("rpc", RPCS)
async def test_the_advertised_token_limit_is_exactly_what_is_accepted(captioner_stub: Stub, rpc: str) -> None:
    limit = (await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
    assert await generated_tokens(captioner_stub, rpc, exactly(limit)) == limit
    assert await refusal(captioner_stub, rpc, greedy(max_new_tokens=limit + 1)) == ["decoding.max_new_tokens"]


@pytest.mark.parametrize(("prefix", "prefix_tokens"), [("", 0), ("a big red", 3)])
async def test_beam_search_reaches_the_limit(captioner_stub: Stub, prefix: str, prefix_tokens: int) -> None:
    limit = (await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
    room = limit - prefix_tokens
    beams = pb.DecodingOptions(
        strategy=pb.DECODING_STRATEGY_BEAM_SEARCH, beam_count=2, max_new_tokens=room, min_new_tokens=room
    )
    assert await generated_tokens(captioner_stub, "Caption", beams, prefix) == room
    beams.max_new_tokens, beams.min_new_tokens = room + 1, 0
    assert await refusal(captioner_stub, "Caption", beams, prefix) == ["decoding.max_new_tokens"]


@pytest.mark.parametrize("rpc", ["Caption", "StreamCaption"])
async def test_a_prefix_takes_its_tokens_from_the_limit(captioner_stub: Stub, rpc: str) -> None:
    limit = (await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
    prefix = "a big red"  # three tokens of the toy vocabulary
    room = limit - 3
    assert await generated_tokens(captioner_stub, rpc, exactly(room), prefix) == room
    assert await refusal(captioner_stub, rpc, greedy(max_new_tokens=room + 1), prefix) == [
        "decoding.max_new_tokens"
    ]
    # Unset, max_new_tokens is the default cut to the room the prefix leaves.
    long_prefix = " ".join(["red"] * (limit - 2))
    assert 1 <= await generated_tokens(captioner_stub, rpc, greedy(), long_prefix) <= 2


@pytest.mark.parametrize("rpc", ["Caption", "StreamCaption"])
async def test_a_prefix_that_leaves_no_room_is_refused_by_name(captioner_stub: Stub, rpc: str) -> None:
    limit = (await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
    assert await refusal(captioner_stub, rpc, greedy(), " ".join(["red"] * limit)) == ["prefix"]
    assert await generated_tokens(captioner_stub, rpc, exactly(1), " ".join(["red"] * (limit - 1))) == 1


async def test_a_given_caption_must_fit_the_decoder(captioner_stub: Stub) -> None:
    limit = (await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
    image = scene_image(3)
    fits = await captioner_stub.GetCrossAttention(
        pb.GetCrossAttentionRequest(image=image, caption=" ".join(["red"] * limit))
    )
    assert len(fits.tokens) == limit
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.GetCrossAttention(
            pb.GetCrossAttentionRequest(image=image, caption=" ".join(["red"] * (limit + 1)))
        )
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.field_violations] == ["caption"]


# -- seeds ------------------------------------------------------------------------------


def sampling(seed: int, temperature: float = 1.0) -> pb.DecodingOptions:
    return pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_SAMPLING, seed=seed, temperature=temperature)


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("seed", [-1, -(2**63)], ids=["minus-one", "int64-min"])
async def test_a_negative_seed_is_refused_by_name(captioner_stub: Stub, rpc: str, seed: int) -> None:
    assert await refusal(captioner_stub, rpc, sampling(seed)) == ["decoding.seed"]


async def test_seeds_of_every_image_must_fit_int64(captioner_stub: Stub) -> None:
    images = [scene_image(1), scene_image(2)]
    at_limit = await captioner_stub.Caption(pb.CaptionRequest(images=images, decoding=sampling(MAX_SEED - 1)))
    assert at_limit.seed == MAX_SEED - 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        # Image 1 would use MAX_SEED + 1.
        await captioner_stub.Caption(pb.CaptionRequest(images=images, decoding=sampling(MAX_SEED)))
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.field_violations] == ["decoding.seed"]
    alone = await captioner_stub.Caption(pb.CaptionRequest(images=images[:1], decoding=sampling(MAX_SEED)))
    assert alone.seed == MAX_SEED and alone.captions[0].text


async def test_image_i_of_a_seeded_sampling_call_uses_seed_plus_i(captioner_stub: Stub) -> None:
    images = [scene_image(seed) for seed in (31, 32, 33)]
    seed, hot = 4242, 3.0  # a high temperature, so that the seed decides the caption

    async def alone(image_index: int, image_seed: int) -> str:
        response = await captioner_stub.Caption(
            pb.CaptionRequest(images=[images[image_index]], decoding=sampling(image_seed, hot))
        )
        return response.captions[0].text

    together = await captioner_stub.Caption(pb.CaptionRequest(images=images, decoding=sampling(seed, hot)))
    assert together.seed == seed
    each_own_seed = [await alone(i, seed + i) for i in range(len(images))]
    assert [c.text for c in together.captions] == each_own_seed
    # The seed matters for these images: all of them on ``seed`` would caption differently.
    assert [await alone(i, seed) for i in range(len(images))] != each_own_seed
