"""The captioner server over gRPC, on tiny random BLIP checkpoints of the
served architectures: behaviour a client sees (content is asserted on the
shipped checkpoints in test_captioner_content.py)."""

from __future__ import annotations

import asyncio
import gc
import io
import re
import struct
import time
import urllib.request
import zlib
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

import imaging.errors
from captioner_svc.server import CaptionerRuntime, build_app
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from serving.server import ServingApp
from tests.conftest import decoder_held, png_bytes, running, tiny_captioner_settings
from toyworld.world import render, sample_scene

Stub = captioner_pb2_grpc.CaptionerServiceStub


def scene_image(seed: int) -> common_pb2.Image:
    return common_pb2.Image(data=png_bytes(render(sample_scene(seed))), media_type="image/png")


def greedy(**fields: object) -> pb.DecodingOptions:
    return pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_GREEDY, **fields)  # type: ignore[arg-type]


async def caption_text(stub: Stub, image: common_pb2.Image, **fields: object) -> str:
    response = await stub.Caption(pb.CaptionRequest(images=[image], **fields))  # type: ignore[arg-type]
    return response.captions[0].text


async def stream_caption(
    stub: Stub, request: pb.StreamCaptionRequest
) -> tuple[list[pb.CaptionToken], pb.StreamCaptionResponse]:
    tokens, final = [], None
    async for message in stub.StreamCaption(request):
        if message.HasField("token"):
            assert final is None, "a token arrived after the final caption"
            tokens.append(message.token)
        else:
            final = message
    assert final is not None and final.HasField("caption")
    return tokens, final


async def test_model_info_describes_what_is_loaded(captioner_stub: Stub) -> None:
    info = await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())
    assert set(info.capabilities) == {
        pb.CAPABILITY_CAPTION,
        pb.CAPABILITY_CROSS_ATTENTION,
        pb.CAPABILITY_EMBED,
        pb.CAPABILITY_MATCH,
    }
    assert (info.image_size_px, info.patch_size_px, info.grid_height, info.grid_width) == (64, 8, 8, 8)
    assert [a.name for a in info.adapters] == ["lora"]
    assert info.embedding_dimension == 16
    assert info.default_max_new_tokens == 12 and info.max_images_per_request == 4


async def test_model_info_names_checkpoints_without_server_paths(
    captioner_stub: Stub, tiny_blip: dict[str, Path]
) -> None:
    info = await captioner_stub.GetModelInfo(pb.GetModelInfoRequest())
    # Named by their directories, as tiny_blip saved them.
    assert (info.caption_model, info.retrieval_model) == ("captioner", "retrieval")
    server_disk = str(tiny_blip["captioner"].parent)
    assert server_disk not in str(info)
    assert [a.name for a in info.adapters] == ["lora"]
    assert all("/" not in a.description for a in info.adapters)


async def test_greedy_caption_is_the_same_batched_or_alone(
    captioner_app: ServingApp, captioner_stub: Stub
) -> None:
    images = [scene_image(seed) for seed in range(6)]
    alone = [await caption_text(captioner_stub, image, decoding=greedy()) for image in images]
    (runtime,) = captioner_app._services
    assert isinstance(runtime, CaptionerRuntime)
    # The first call's decode is held until the other five wait: they then join it.
    with decoder_held(runtime.engine.captioner.text_decoder.cls) as entered:
        first = asyncio.ensure_future(caption_text(captioner_stub, images[0], decoding=greedy()))
        await asyncio.to_thread(entered.wait, 30)
        others = [
            asyncio.ensure_future(caption_text(captioner_stub, image, decoding=greedy()))
            for image in images[1:]
        ]
        while runtime.batcher.queue_depth < len(others):
            await asyncio.sleep(0.01)
    batched = await asyncio.gather(first, *others)
    assert list(batched) == alone
    # Callers are answered as their rows end; the batch's size is recorded when it ends.
    while runtime.batcher._running is not None:
        await asyncio.sleep(0.01)
    assert all(alone)
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{captioner_app.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    sizes = [
        line
        for line in body.splitlines()
        if line.startswith('imaging_batch_size_bucket{le="1.0",model="captioner",operation="caption"}')
    ]
    count = [
        line
        for line in body.splitlines()
        if line.startswith('imaging_batch_size_count{model="captioner",operation="caption"}')
    ]
    assert float(sizes[0].split()[-1]) < float(count[0].split()[-1]), "no batch held more than one image"
    assert "imaging_captioner_tokens_total" in body
    assert 'imaging_captioner_stage_seconds_count{stage="decode"}' in body


async def test_one_request_with_several_images_answers_in_order(captioner_stub: Stub) -> None:
    images = [scene_image(seed) for seed in (3, 4, 5)]
    response = await captioner_stub.Caption(pb.CaptionRequest(images=images, decoding=greedy()))
    singles = [await caption_text(captioner_stub, image, decoding=greedy()) for image in images]
    assert [c.text for c in response.captions] == singles
    assert response.usage.image_count == 3
    assert response.usage.megapixels == pytest.approx(3 * 64 * 64 / 1e6)
    assert response.usage.token_count == sum(c.token_count for c in response.captions)


@pytest.mark.parametrize(
    "decoding",
    [
        greedy(),
        pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_SAMPLING, seed=5, temperature=1.5),
        pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_BEAM_SEARCH, beam_count=3),
    ],
    ids=["greedy", "sampling", "beam"],
)
async def test_stream_adds_up_to_the_unary_caption(
    captioner_stub: Stub, decoding: pb.DecodingOptions
) -> None:
    image = scene_image(11)
    unary = await captioner_stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding))
    tokens, final = await stream_caption(
        captioner_stub, pb.StreamCaptionRequest(image=image, decoding=decoding)
    )
    assert "".join(t.text for t in tokens) == final.caption.text == unary.captions[0].text
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert final.caption.token_count == unary.captions[0].token_count
    assert final.usage.image_count == 1 and final.usage.token_count == final.caption.token_count
    assert all(t.log_probability <= 0 for t in tokens)


async def test_sampling_is_reproducible_with_a_seed_and_echoes_a_random_one(captioner_stub: Stub) -> None:
    image = scene_image(2)
    decoding = pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_SAMPLING, seed=1234, temperature=2.0)
    first = await captioner_stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding))
    again = await captioner_stub.Caption(pb.CaptionRequest(images=[image], decoding=decoding))
    assert first.captions[0].text == again.captions[0].text and first.seed == 1234
    unseeded = await captioner_stub.Caption(
        pb.CaptionRequest(images=[image], decoding=pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_SAMPLING))
    )
    replay = pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_SAMPLING, seed=unseeded.seed)
    assert (await caption_text(captioner_stub, image, decoding=replay)) == unseeded.captions[0].text


async def test_length_limits_prefix_and_stop_sequences(captioner_stub: Stub) -> None:
    image = scene_image(7)
    short = await captioner_stub.Caption(pb.CaptionRequest(images=[image], decoding=greedy(max_new_tokens=3)))
    assert short.captions[0].token_count <= 3
    if short.captions[0].token_count == 3:
        assert short.captions[0].finish_reason == pb.FINISH_REASON_LENGTH

    prefixed = await caption_text(captioner_stub, image, decoding=greedy(), prefix="a big red")
    assert prefixed.startswith("a big red ")

    full = await caption_text(captioner_stub, image, decoding=greedy())
    words = full.split()
    stop = words[min(2, len(words) - 1)]
    cut = await captioner_stub.Caption(
        pb.CaptionRequest(images=[image], decoding=greedy(stop_sequences=[stop]))
    )
    assert cut.captions[0].finish_reason == pb.FINISH_REASON_STOP_SEQUENCE
    assert stop not in cut.captions[0].text
    assert full.startswith(cut.captions[0].text)
    tokens, final = await stream_caption(
        captioner_stub, pb.StreamCaptionRequest(image=image, decoding=greedy(stop_sequences=[stop]))
    )
    assert "".join(t.text for t in tokens) == final.caption.text == cut.captions[0].text


async def test_adapter_changes_captions_and_base_calls_are_unaffected(captioner_stub: Stub) -> None:
    images = [scene_image(seed) for seed in range(4)]
    base = [await caption_text(captioner_stub, image, decoding=greedy()) for image in images]
    adapted = await asyncio.gather(
        *(caption_text(captioner_stub, image, decoding=greedy(), adapter="lora") for image in images)
    )
    assert list(adapted) != base
    assert [await caption_text(captioner_stub, image, decoding=greedy()) for image in images] == base


async def test_embeddings_are_normalised_and_match_agrees_with_them(captioner_stub: Stub) -> None:
    image = scene_image(1)
    texts = ["a big red circle on the left", "a small blue square in the middle"]
    images = await captioner_stub.EmbedImages(pb.EmbedImagesRequest(images=[image, scene_image(2)]))
    assert images.dimension == 16 and len(images.embeddings) == 2
    text_vectors = await captioner_stub.EmbedTexts(pb.EmbedTextsRequest(texts=texts))
    for vector in [*images.embeddings, *text_vectors.embeddings]:
        assert np.linalg.norm(vector.values) == pytest.approx(1.0, abs=1e-4)
    match = await captioner_stub.MatchImageText(pb.MatchImageTextRequest(image=image, texts=texts))
    assert [m.text for m in match.matches] == texts
    for m, t in zip(match.matches, text_vectors.embeddings, strict=True):
        assert 0 <= m.match_probability <= 1
        assert m.similarity == pytest.approx(float(np.dot(images.embeddings[0].values, t.values)), abs=1e-4)


async def test_cross_attention_maps_cover_the_patch_grid(captioner_stub: Stub) -> None:
    image = scene_image(4)
    caption = await caption_text(captioner_stub, image, decoding=greedy())
    mean = await captioner_stub.GetCrossAttention(
        pb.GetCrossAttentionRequest(image=image, render_heatmaps=True)
    )
    assert mean.caption == caption
    assert (mean.grid_height, mean.grid_width, mean.layer_count, mean.head_count) == (8, 8, 2, 2)
    assert len(mean.tokens) == len(caption.split())  # one token per word in the toy vocabulary
    for token in mean.tokens:
        assert [m.layer for m in token.maps] == [0, 1]
        for attention_map in token.maps:
            assert not attention_map.HasField("head")
            assert len(attention_map.weights) == 64
            assert 0 < sum(attention_map.weights) <= 1.0 + 1e-5
        heatmap = Image.open(io.BytesIO(token.heatmap.data))
        assert heatmap.size == (64, 64) and token.heatmap.media_type == "image/png"
        # Viridis, not a red wash: where the word looked, the picture turns towards yellow-green,
        # so "red" over a red object still stands out from the object.
        source = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"), dtype=np.int16)
        painted = np.asarray(heatmap.convert("RGB"), dtype=np.int16)
        assert (painted[..., 1] - source[..., 1]).max() > 40
    per_head = await captioner_stub.GetCrossAttention(
        pb.GetCrossAttentionRequest(
            image=image, caption="a red circle", layers=[1], head_reduction=pb.HEAD_REDUCTION_NONE
        )
    )
    assert [t.text for t in per_head.tokens] == ["a", "red", "circle"]
    assert [(m.layer, m.head) for m in per_head.tokens[0].maps] == [(1, 0), (1, 1)]
    head_mean = np.mean([m.weights for m in per_head.tokens[1].maps], axis=0)
    layer_one = await captioner_stub.GetCrossAttention(
        pb.GetCrossAttentionRequest(image=image, caption="a red circle", layers=[1])
    )
    assert np.allclose(head_mean, layer_one.tokens[1].maps[0].weights, atol=1e-5)


def _violation(exc: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, list[str]]:
    info = imaging.errors.details(exc)
    return info.code, [v.field for v in info.field_violations]


def _truncated_png() -> bytes:
    data = png_bytes(Image.new("RGB", (64, 64), (200, 10, 10)))
    return data[: len(data) // 2]


BAD_REQUESTS = {
    "corrupt bytes": (
        pb.CaptionRequest(images=[scene_image(0), common_pb2.Image(data=b"\x89PNG\r\n\x1a\nnot really")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images[1].data"],
    ),
    "truncated": (
        pb.CaptionRequest(images=[common_pb2.Image(data=_truncated_png())]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images[0].data"],
    ),
    "empty": (
        pb.CaptionRequest(images=[common_pb2.Image()]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images[0].data"],
    ),
    "wrong type": (
        pb.CaptionRequest(images=[common_pb2.Image(data=b"%PDF-1.4 hello", media_type="image/png")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images[0].data"],
    ),
    "media type disagrees": (
        pb.CaptionRequest(images=[common_pb2.Image(data=scene_image(0).data, media_type="image/jpeg")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images[0].media_type"],
    ),
    "no images": (pb.CaptionRequest(), grpc.StatusCode.INVALID_ARGUMENT, ["images"]),
    "too many images": (
        pb.CaptionRequest(images=[scene_image(i) for i in range(5)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["images"],
    ),
    "beams out of range": (
        pb.CaptionRequest(
            images=[scene_image(0)],
            decoding=pb.DecodingOptions(strategy=pb.DECODING_STRATEGY_BEAM_SEARCH, beam_count=11),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["decoding.beam_count"],
    ),
    "top_p out of range": (
        pb.CaptionRequest(images=[scene_image(0)], decoding=pb.DecodingOptions(top_p=1.5)),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["decoding.top_p"],
    ),
    "too many tokens": (
        pb.CaptionRequest(images=[scene_image(0)], decoding=pb.DecodingOptions(max_new_tokens=1000)),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["decoding.max_new_tokens"],
    ),
    "unknown adapter": (
        pb.CaptionRequest(images=[scene_image(0)], adapter="klingon"),
        grpc.StatusCode.NOT_FOUND,
        ["adapter"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
async def test_bad_input_names_the_field_and_the_server_keeps_serving(
    captioner_stub: Stub, name: str
) -> None:
    request, code, fields = BAD_REQUESTS[name]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.Caption(request)
    assert _violation(caught.value) == (code, fields)
    assert await caption_text(captioner_stub, scene_image(0), decoding=greedy())


async def test_bad_stream_and_attention_input(captioner_stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream_caption(captioner_stub, pb.StreamCaptionRequest(image=common_pb2.Image(data=b"nope")))
    assert _violation(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, ["image.data"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.GetCrossAttention(
            pb.GetCrossAttentionRequest(image=scene_image(0), layers=[0, 5])
        )
    assert _violation(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, ["layers[1]"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.EmbedTexts(pb.EmbedTextsRequest(texts=["ok", "  "]))
    assert _violation(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, ["texts[1]"])


async def test_expired_deadline_and_the_server_keeps_serving(captioner_stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.Caption(pb.CaptionRequest(images=[scene_image(0)] * 4), timeout=0.001)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await caption_text(captioner_stub, scene_image(0), decoding=greedy())


async def test_unconfigured_capability_says_which_setting_enables_it(tiny_blip: dict[str, Path]) -> None:
    settings = tiny_captioner_settings(tiny_blip, retrieval_model="")
    async with (
        running(build_app(settings), grace_period_s=0) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = Stub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.EmbedTexts(pb.EmbedTextsRequest(texts=["a red circle"]))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "CAPTIONER_RETRIEVAL_MODEL" in (caught.value.details() or "")
        info = await stub.GetModelInfo(pb.GetModelInfoRequest())
        assert pb.CAPABILITY_EMBED not in info.capabilities and pb.CAPABILITY_CAPTION in info.capabilities


async def test_concurrent_streams_are_batched_and_each_gets_its_own_tokens(
    captioner_app: ServingApp, captioner_stub: Stub
) -> None:
    images = [scene_image(seed) for seed in (21, 22, 23, 24)]
    unary = [await caption_text(captioner_stub, image, decoding=greedy()) for image in images]
    (runtime,) = captioner_app._services
    assert isinstance(runtime, CaptionerRuntime)
    while runtime.batcher._running is not None:  # a batch's size is recorded as it ends
        await asyncio.sleep(0.01)
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{captioner_app.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    batches_before = _metric(body, 'imaging_batch_size_count{model="captioner",operation="caption"}')

    def stream(
        image: common_pb2.Image,
    ) -> asyncio.Future[tuple[list[pb.CaptionToken], pb.StreamCaptionResponse]]:
        return asyncio.ensure_future(
            stream_caption(captioner_stub, pb.StreamCaptionRequest(image=image, decoding=greedy()))
        )

    # The first stream's decode is held until the other three wait, so the test does not
    # depend on how close together a busy machine delivers four concurrent calls.
    with decoder_held(runtime.engine.captioner.text_decoder.cls) as entered:
        first = stream(images[0])
        await asyncio.to_thread(entered.wait, 30)
        others = [stream(image) for image in images[1:]]
        while runtime.batcher.queue_depth < len(others):
            await asyncio.sleep(0.01)
    streams = await asyncio.gather(first, *others)
    assert ["".join(t.text for t in tokens) for tokens, _ in streams] == unary
    while runtime.batcher._running is not None:
        await asyncio.sleep(0.01)
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{captioner_app.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    # One admission for the held stream and one for the three that joined it together.
    assert (
        _metric(body, 'imaging_batch_size_count{model="captioner",operation="caption"}') - batches_before == 2
    ), "streams never batched"


@pytest.mark.parametrize(
    ("continuous", "decode_process"),
    [(True, False), (False, False), (True, True)],
    ids=["continuous", "fixed-batches", "continuous-in-a-decode-process"],
)
async def test_a_stream_that_arrives_mid_decode_joins_it_and_ends_first(
    tiny_blip: dict[str, Path], continuous: bool, decode_process: bool
) -> None:
    settings = tiny_captioner_settings(
        tiny_blip, continuous_batching=continuous, max_batch_delay_ms=0, decode_process=decode_process
    )
    encodes = {"stage": "encode_image"}
    async with (
        running(build_app(settings), grace_period_s=0) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        limit = (await stub.GetModelInfo(pb.GetModelInfoRequest())).max_new_tokens_limit
        events: list[str] = []
        long_started = asyncio.Event()

        async def follow(name: str, request: pb.StreamCaptionRequest) -> None:
            async for message in stub.StreamCaption(request):
                events.append(f"{name} {'token' if message.HasField('token') else 'caption'}")
                long_started.set()

        long = asyncio.create_task(
            follow(
                "long",
                pb.StreamCaptionRequest(
                    image=scene_image(1), decoding=greedy(max_new_tokens=limit, min_new_tokens=limit)
                ),
            )
        )
        await long_started.wait()
        await follow(
            "short", pb.StreamCaptionRequest(image=scene_image(2), decoding=greedy(max_new_tokens=2))
        )
        await long
        encoded = app.registry.get_sample_value("imaging_captioner_stage_seconds_count", encodes)
    assert events.count("long token") == limit and events.count("short caption") == 1
    # Each call's image encoding is in /metrics, the one of a call that joined a decode too.
    assert encoded == 2
    if continuous:
        # The short call joined the running decode: answered while the long one still decodes.
        assert events.index("short caption") < events.index("long caption"), events
    else:
        # Fixed batches: the short call starts once the long decode has ended. The long
        # call's last messages may still be on their way (another HTTP/2 stream) when the
        # short one's first token is sent; a short call that joined would come within a
        # few tokens of its arrival, not after nearly all of the long call's.
        long_before_short = events[: events.index("short token")].count("long token")
        assert long_before_short >= limit - 4, events


async def test_a_cancelled_stream_ends_and_the_server_keeps_serving(captioner_stub: Stub) -> None:
    call = captioner_stub.StreamCaption(
        pb.StreamCaptionRequest(image=scene_image(5), decoding=greedy(max_new_tokens=31, min_new_tokens=31))
    )
    first = await call.read()
    assert first.HasField("token")
    call.cancel()
    assert call.cancelled()
    assert await caption_text(captioner_stub, scene_image(5), decoding=greedy())


async def test_stage_metrics_name_each_stage(captioner_app: ServingApp, captioner_stub: Stub) -> None:
    image = scene_image(6)
    await captioner_stub.Caption(pb.CaptionRequest(images=[image], decoding=greedy()))
    await captioner_stub.EmbedImages(pb.EmbedImagesRequest(images=[image]))
    await captioner_stub.EmbedTexts(pb.EmbedTextsRequest(texts=["a red circle"]))
    await captioner_stub.MatchImageText(pb.MatchImageTextRequest(image=image, texts=["a red circle"]))
    await captioner_stub.GetCrossAttention(pb.GetCrossAttentionRequest(image=image))
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{captioner_app.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    stages = set(re.findall(r'imaging_captioner_stage_seconds_count\{stage="(\w+)"\}', body))
    assert stages == {
        "preprocess",
        "encode_image",
        "decode",
        "embed_image",
        "embed_text",
        "match",
        "cross_attention",
    }


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# Pillow's own wording ("exceeds limit of 178956970 pixels, could be decompression
# bomb DOS attack") and Python reprs ("<_io.BytesIO object at 0x7f...>").
_LEAKS = ("0x", "BytesIO", "PIL", "pillow", "Pillow", "DOS attack", "178956970", "89478485", "_io")


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        (b"\x00\x01garbage, not an image at all", None),
        (b"\x89PNG\r\n\x1a\nnot really", None),
        (_truncated_png(), None),
        (_png_claiming(30_000, 30_000), "40000000 pixels"),
        (_png_claiming(20_000, 5_000), "40000000 pixels"),
        (_png_claiming(10_000, 5_000), "40000000 pixels"),
    ],
    ids=["garbage", "bad png", "truncated", "bomb header", "bomb warning", "over the limit"],
)
async def test_image_errors_speak_the_service_words(
    captioner_stub: Stub, data: bytes, limit: str | None
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await captioner_stub.Caption(pb.CaptionRequest(images=[scene_image(0), common_pb2.Image(data=data)]))
    info = imaging.errors.details(caught.value)
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.field_violations] == ["images[1].data"]
    for text in (info.message, info.field_violations[0].description):
        assert not [leak for leak in _LEAKS if leak in text], text
        if limit is not None:
            assert limit in text


def _metric(body: str, prefix: str) -> float:
    return float(next(line for line in body.splitlines() if line.startswith(prefix)).split()[-1])


# A 36-megapixel PNG (under the default pixel limit): small on the wire, slow to decode.
BIG_SIDE_PX = 6000
FLOOD_CALLS = 16
# As in test_captioner_attention: room for a loaded 2-core CI machine.
HEALTH_BUDGET_S = 0.1
# Longest wait for a held model before the test gives up (never reached when it passes).
HOLD_TIMEOUT_S = 30


async def test_a_full_queue_refuses_before_decoding_and_health_stays_fast(tiny_blip: dict[str, Path]) -> None:
    settings = tiny_captioner_settings(tiny_blip, max_queue_size=2, max_batch_size=1, max_batch_delay_ms=0)
    app = ServingApp("captioner", settings)
    runtime = CaptionerRuntime(app, settings)
    app.add(runtime)
    buffer = io.BytesIO()
    Image.new("RGB", (BIG_SIDE_PX, BIG_SIDE_PX), "red").save(buffer, format="PNG")
    big = common_pb2.Image(data=buffer.getvalue(), media_type="image/png")
    async with (
        running(app, grace_period_s=0),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub, health = Stub(channel), health_pb2_grpc.HealthStub(channel)
        with decoder_held(runtime.engine.captioner.text_decoder.cls, HOLD_TIMEOUT_S) as entered:
            in_compute = asyncio.ensure_future(caption_text(stub, scene_image(1), decoding=greedy()))
            await asyncio.to_thread(entered.wait, HOLD_TIMEOUT_S)
            queued = asyncio.ensure_future(
                stub.Caption(pb.CaptionRequest(images=[scene_image(2), scene_image(3)], decoding=greedy()))
            )
            while runtime.batcher.queue_depth < settings.max_queue_size:
                await asyncio.sleep(0.01)

            def preprocessed() -> float | None:
                return app.registry.get_sample_value(
                    "imaging_captioner_stage_seconds_count", {"stage": "preprocess"}
                )

            before = preprocessed()

            async def refused() -> imaging.errors.ErrorDetails:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.Caption(pb.CaptionRequest(images=[big] * settings.max_images_per_request))
                return imaging.errors.details(caught.value)

            flood = asyncio.gather(*(refused() for _ in range(FLOOD_CALLS)))
            latencies: list[float] = []
            while not flood.done():
                started = time.perf_counter()
                response = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert response.status == health_pb2.HealthCheckResponse.SERVING
                latencies.append(time.perf_counter() - started)
            infos = await flood
            assert {info.code for info in infos} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
            assert all(info.retry_after_s for info in infos)
            # Refused before their images were decoded: no preprocessing ran for them.
            assert preprocessed() == before
            slow = [latency for latency in latencies if latency >= HEALTH_BUDGET_S]
            assert not slow, f"{len(slow)} of {len(latencies)} checks took {HEALTH_BUDGET_S} s or more"
        assert await in_compute
        assert len((await queued).captions) == 2


async def test_the_loaded_models_are_kept_out_of_the_cyclic_collectors_passes(
    captioner_app: ServingApp,
) -> None:
    """A full collection that walked the models stalled the server for about 200 ms under
    load; once serving, what loading built is frozen, so no collection walks it again."""
    (runtime,) = captioner_app._services
    assert isinstance(runtime, CaptionerRuntime)
    model = runtime.engine.captioner
    tracked = gc.get_objects()  # the collector's generations, the frozen objects left out
    assert not any(o is model for o in tracked)
    assert gc.get_freeze_count() > 0
