"""``imaging.captioner.v1.CaptionerService``, the gRPC edge: each method turns
its request into a typed call (``convert``), awaits ``Captioning`` and turns
the outcome back into a response. Nothing else happens here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from captioner_svc import convert
from captioner_svc.captioning import Captioning
from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc

_Context = Any  # grpc.aio.ServicerContext; only time_remaining() is used


class CaptionerServicer(captioner_pb2_grpc.CaptionerServiceServicer):
    def __init__(self, captioning: Captioning) -> None:
        self.captioning = captioning

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: _Context
    ) -> pb.GetModelInfoResponse:
        return convert.model_info_response(self.captioning.model_info())

    async def Caption(self, request: pb.CaptionRequest, context: _Context) -> pb.CaptionResponse:
        call = convert.caption_call(request)
        return convert.caption_response(await self.captioning.caption(call, context.time_remaining()))

    async def StreamCaption(
        self, request: pb.StreamCaptionRequest, context: _Context
    ) -> AsyncIterator[pb.StreamCaptionResponse]:
        call = convert.stream_caption_call(request)
        async for event in self.captioning.stream_caption(call, context.time_remaining()):
            yield convert.stream_caption_response(event)

    async def EmbedImages(self, request: pb.EmbedImagesRequest, context: _Context) -> pb.EmbedImagesResponse:
        call = convert.embed_images_call(request)
        embeddings = await self.captioning.embed_images(call, context.time_remaining())
        return convert.embed_images_response(embeddings)

    async def EmbedTexts(self, request: pb.EmbedTextsRequest, context: _Context) -> pb.EmbedTextsResponse:
        texts = convert.embed_texts_call(request)
        embeddings = await self.captioning.embed_texts(texts, context.time_remaining())
        return convert.embed_texts_response(embeddings)

    async def MatchImageText(
        self, request: pb.MatchImageTextRequest, context: _Context
    ) -> pb.MatchImageTextResponse:
        call = convert.match_call(request)
        return convert.match_response(await self.captioning.match(call, context.time_remaining()))

    async def GetCrossAttention(
        self, request: pb.GetCrossAttentionRequest, context: _Context
    ) -> pb.GetCrossAttentionResponse:
        call = convert.attention_call(request)
        attention = await self.captioning.cross_attention(call, context.time_remaining())
        # The maps are many floats: the message is built off the event loop.
        return await asyncio.to_thread(convert.attention_response, attention)
