"""A tiny deterministic model behind the real captioner contract, for runtime tests.

Its "caption" of an image is the image's byte count; its compute can be held
on a gate, so tests can fill the queue or keep a call in flight at will. It
runs on the real ``ServingApp``, interceptor and ``MicroBatcher``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Sequence
from typing import Any

import grpc

from imaging.captioner.v1 import captioner_pb2 as pb
from imaging.captioner.v1 import captioner_pb2_grpc
from serving import errors
from serving.batcher import MicroBatcher, WorkItem
from serving.runtime import ModelRuntime
from serving.server import ServingApp
from serving.settings import ModelServerSettings

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CaptionerService"].full_name


class ByteCountModel:
    """Records every payload it computes; ``gate`` holds compute while cleared.

    A batch takes ``compute_s``, or ``compute_s_by_key[key]`` for the keys it
    names (the fake servicer's key is the decoding strategy)."""

    def __init__(self, compute_s: float = 0.0, compute_s_by_key: dict[Hashable, float] | None = None) -> None:
        self.compute_s = compute_s
        self.compute_s_by_key = dict(compute_s_by_key or {})
        self.gate = threading.Event()
        self.gate.set()
        # Holds loading while cleared (a server whose model is still loading).
        self.load_gate = threading.Event()
        self.load_gate.set()
        self.started = threading.Event()
        self.seen: list[bytes] = []
        self.batch_sizes: list[int] = []

    def load(self) -> None:
        self.load_gate.wait(timeout=30)

    def close(self) -> None:
        return None

    def process(self, key: Hashable, items: Sequence[WorkItem[bytes]]) -> list[str]:
        self.started.set()
        self.gate.wait(timeout=30)
        time.sleep(self.compute_s_by_key.get(key, self.compute_s))
        self.batch_sizes.append(len(items))
        self.seen.extend(item.payload for item in items)
        return [f"{len(item.payload)} bytes" for item in items]


class FakeCaptionerServicer(captioner_pb2_grpc.CaptionerServiceServicer):
    def __init__(self, batcher: MicroBatcher[bytes, str]) -> None:
        self.batcher = batcher

    async def Caption(self, request: pb.CaptionRequest, context: Any) -> pb.CaptionResponse:
        if not request.images:
            raise errors.InvalidArgument.of("images", "at least one image is required")
        for index, image in enumerate(request.images):
            if not image.data:
                raise errors.InvalidArgument.of(f"images[{index}].data", "the image is empty")
        timeout = context.time_remaining()
        texts = [
            await self.batcher.submit(image.data, key=request.decoding.strategy, timeout_s=timeout)
            for image in request.images
        ]
        return pb.CaptionResponse(captions=[pb.Caption(text=t) for t in texts])


class FakeCaptioner(ModelRuntime):
    """A ``ServedService`` wrapping ``ByteCountModel`` in the real model runtime."""

    service_names: tuple[str, ...] = (SERVICE_NAME,)

    def __init__(self, app: ServingApp, settings: ModelServerSettings, model: ByteCountModel) -> None:
        self.model = model
        super().__init__("fake", model, app, settings)

    def _process(self, key: Hashable, items: Sequence[WorkItem[Any]]) -> Sequence[Any]:
        return self.model.process(key, items)

    def register(self, server: grpc.aio.Server) -> None:
        # Only Caption is faked; the other methods stay abstract (UNIMPLEMENTED).
        servicer = FakeCaptionerServicer(self.batcher)  # type: ignore[abstract]
        captioner_pb2_grpc.add_CaptionerServiceServicer_to_server(servicer, server)


def build_fake_app(settings: ModelServerSettings, model: ByteCountModel) -> ServingApp:
    app = ServingApp("fake", settings)
    app.add(FakeCaptioner(app, settings, model))
    return app
