"""The lifecycle every model server shares: an engine loaded on its own worker
thread, behind one bounded micro-batcher.

A server subclasses ``ModelRuntime`` with its batch function (``_process``,
run on the worker thread) and its ``register``; loading, starting the batcher
and releasing everything in order happen here once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol

import grpc

from serving import tracing
from serving.batcher import MicroBatcher, WorkItem
from serving.server import ServingApp
from serving.settings import ModelServerSettings
from serving.worker import ModelWorker


class Engine(Protocol):
    """Pure compute: ``load`` and ``close`` run once, ``load`` on the worker thread."""

    def load(self) -> None: ...

    def close(self) -> None: ...


class ModelRuntime:
    """An ``Engine`` on a ``ModelWorker`` behind a ``MicroBatcher`` named ``name``;
    a ``ServedService`` for ``ServingApp``."""

    service_names: tuple[str, ...] = ()

    def __init__(self, name: str, engine: Engine, app: ServingApp, settings: ModelServerSettings) -> None:
        self._engine = engine
        self.worker = ModelWorker(name)
        self.batcher: MicroBatcher[Any, Any] = MicroBatcher(
            name,
            self._process,
            self.worker,
            settings.batcher(),
            app.batch_metrics,
            self._cost_key,
            self._operation,
            self._joinable,
            tracer=tracing.get_tracer(app.tracer_provider, "serving.batcher"),
        )

    def _process(self, key: Hashable, items: Sequence[WorkItem[Any]]) -> Sequence[Any]:
        """Computes one batch on the worker thread: one result (or exception) per item."""
        raise NotImplementedError

    def _cost_key(self, key: Hashable) -> Hashable:
        """The key whose past batch times estimate ``key``'s (RetryInfo delays);
        a server whose keys are unique per call maps them to a shared one."""
        return key

    def _joinable(self, key: Hashable) -> bool:
        """True for keys whose running batch takes new items at each step
        (continuous batching); ``_process`` then gets a ``JoinInbox`` too."""
        return False

    def _operation(self, key: Hashable) -> str:
        """The ``operation`` label of ``key``'s queue and batch metrics (``key``
        None: a reservation that named none); a server with one operation
        names it for every key, "" by default."""
        return ""

    def register(self, server: grpc.aio.Server) -> None:
        raise NotImplementedError

    async def load(self) -> None:
        await self.worker.run(self._engine.load)
        self.batcher.start()

    async def close(self) -> None:
        await self.batcher.close()
        self.worker.close()
        self._engine.close()
