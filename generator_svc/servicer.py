"""``imaging.generator.v1.GeneratorService``: messages in, messages out. Each RPC
converts its request (``convert``), awaits ``Generation`` and converts back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from generator_svc import convert
from generator_svc.calls import Progress
from generator_svc.generation import Generation
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc

_Context = Any  # grpc.aio.ServicerContext; only time_remaining() is used


class GeneratorServicer(generator_pb2_grpc.GeneratorServiceServicer):
    def __init__(self, generation: Generation) -> None:
        self.generation = generation

    async def ListVariants(
        self, request: pb.ListVariantsRequest, context: _Context
    ) -> pb.ListVariantsResponse:
        currency = self.generation.currency_code
        return pb.ListVariantsResponse(
            variants=[convert.variant_message(v, currency) for v in self.generation.variants()]
        )

    async def Generate(self, request: pb.GenerateRequest, context: _Context) -> pb.GenerateResponse:
        generated = await self.generation.generate(convert.spec(request.spec), context.time_remaining)
        return convert.response(generated)

    async def Quote(self, request: pb.QuoteRequest, context: _Context) -> pb.QuoteResponse:
        return convert.quote_response(await self.generation.quote(convert.spec(request.spec)))

    async def StreamGenerate(
        self, request: pb.StreamGenerateRequest, context: _Context
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        events = self.generation.stream(
            convert.spec(request.spec), request.preview_every_steps, context.time_remaining
        )
        async for event in events:
            if isinstance(event, Progress):
                yield pb.StreamGenerateResponse(progress=convert.progress(event))
            else:
                yield pb.StreamGenerateResponse(result=convert.response(event))
