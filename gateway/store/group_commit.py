"""Group commit: one writer thread applies every queued ledger write in one
transaction, so that under load many calls share one commit and one disk sync.
(One thread with large groups beat several threads with small ones on
PostgreSQL too: `python -m bench.gateway_bench`.)

Each group is handed to ``ledger_writes.run_group``, which answers every op
with a result or a client error (a refusal never rolls its group back). Any
exception rolls the group back and its ops run again one by one, so one bad
op never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from gateway.store.ledger_writes import Op, Result, SettleOp, Sql, run_group
from serving import errors

_LOGGER = logging.getLogger(__name__)
# Most ops folded into one transaction; bounds how long a commit holds locks.
MAX_GROUP = 256


@dataclass
class _Queued:
    op: Op
    # Where the caller waits; None for an op nobody waits for.
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None

    @property
    def durable(self) -> bool:
        """Whether the op must survive a power cut (SQLite: synchronous FULL):
        settlements write what was billed; reservations and releases need not,
        as a restart releases them anyway."""
        return isinstance(self.op, SettleOp)


class GroupCommitter:
    """The writer thread on ``engine``, with a connection of its own."""

    def __init__(
        self,
        engine: Engine,
        sqlite_synchronous: str = "FULL",
        observe_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._synchronous = sqlite_synchronous
        self._observe_commit = observe_commit or (lambda seconds, ops: None)
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, op: Op) -> asyncio.Future[Any]:
        """Queues ``op``; the future resolves on the caller's loop once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Queued(op, loop, future))
        return future

    def submit_nowait(self, op: Op) -> None:
        """Queues ``op`` with nobody waiting (a cancelled call's release)."""
        self._queue.put(_Queued(op, None, None))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        connection: Connection | None = None
        sync_level = ""
        while True:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # the stop signal: finish this group first
                    break
                group.append(nxt)
            try:
                if connection is None:
                    connection = self._engine.connect()
                    sync_level = ""
                if self._sqlite:
                    wanted = self._synchronous if any(q.durable for q in group) else "NORMAL"
                    if wanted != sync_level:
                        _dbapi(connection).execute(f"PRAGMA synchronous={wanted}")
                        sync_level = wanted
                self._commit(connection, group)
            except Exception:
                _LOGGER.warning("group commit failed; retrying its ops one by one", exc_info=True)
                if connection is not None:
                    connection.invalidate()
                    connection.close()
                    connection = None
                for queued in group:
                    self._commit_alone(queued)
        if connection is not None:
            connection.close()

    def _commit(self, connection: Connection, group: list[_Queued]) -> None:
        start = time.perf_counter()
        with connection.begin():
            results = run_group(
                Sql(_dbapi(connection).cursor(), connection.dialect.name), [q.op for q in group]
            )
        self._observe_commit(time.perf_counter() - start, len(group))
        _deliver(group, results)

    def _commit_alone(self, queued: _Queued) -> None:
        try:
            with self._engine.connect() as connection:
                self._commit(connection, [queued])
        except Exception:
            _LOGGER.warning("ledger write failed", exc_info=True)
            unavailable = errors.Unavailable(
                "the usage ledger is unavailable; retry shortly",
                reason="LEDGER_UNAVAILABLE",
                retry_after_s=1.0,
            )
            _deliver([queued], [(None, unavailable)])


def _dbapi(connection: Connection) -> Any:
    return connection.connection.dbapi_connection


def _deliver(group: list[_Queued], results: list[Result]) -> None:
    """Hands the results to the callers' loops: one wake-up per loop, not per
    op (each wake-up makes this thread wait for the loop's thread to let go
    of the GIL, milliseconds when the loop is busy)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Result]]] = {}
    for queued, result in zip(group, results, strict=True):
        if queued.loop is not None and queued.future is not None:
            by_loop.setdefault(queued.loop, []).append((queued.future, result))
    for loop, items in by_loop.items():
        loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[Any], Result]]) -> None:
    for future, (result, error) in items:
        if future.cancelled():
            continue  # the caller left; the write happened (or not) all the same
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
