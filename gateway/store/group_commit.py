"""Group commit: writer threads that fold every queued write into one
transaction, so that under load many calls share one disk sync.

A write is a function of a connection. It returns its result, or raises
``Refused`` to hand the caller a client error *without* undoing the rest of
its group (each write is shaped so that a refusal leaves nothing behind).
Any other exception rolls the group back and its writes run again one by one,
so one bad write never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from serving import errors

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")
# Most writes folded into one transaction; bounds how long a commit holds locks.
MAX_GROUP = 256


class Refused(Exception):
    """Raised by a write to answer its caller with ``error``; its group commits."""

    def __init__(self, error: errors.ServingError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Write:
    run: Callable[[Connection], Any]
    done: Callable[[Any, BaseException | None], None]
    # Sorts a group so that concurrent groups lock counter rows in one order.
    order_key: str = ""
    # Whether the caller relies on the write surviving a power cut (SQLite:
    # synchronous FULL); reservations are released on restart anyway.
    durable: bool = True


class GroupCommitter:
    """``threads`` writer threads on ``engine``, each with its own connection."""

    def __init__(
        self,
        engine: Engine,
        threads: int,
        sqlite_synchronous: str = "FULL",
        observe_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._synchronous = sqlite_synchronous
        self._observe_commit = observe_commit or (lambda seconds, writes: None)
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"ledger-writer-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, run: Callable[[Connection], _T], order_key: str = "", durable: bool = True
    ) -> asyncio.Future[_T]:
        """Queues ``run``; the future resolves on the caller's loop once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_resolve, future, result, error)

        self._queue.put(Write(run, done, order_key, durable))
        return future

    def submit_nowait(self, run: Callable[[Connection], Any], order_key: str = "") -> None:
        """Queues ``run`` with nobody waiting (a cancelled call's release)."""
        self._queue.put(Write(run, _ignore, order_key, durable=False))

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

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
                    self._queue.put(None)  # this thread's stop signal: finish the group first
                    break
                group.append(nxt)
            group.sort(key=lambda write: write.order_key)
            try:
                if connection is None:
                    connection = self._engine.connect()
                    sync_level = ""
                if self._sqlite:
                    wanted = self._synchronous if any(w.durable for w in group) else "NORMAL"
                    if wanted != sync_level:
                        connection.connection.dbapi_connection.execute(f"PRAGMA synchronous={wanted}")  # type: ignore[union-attr]
                        sync_level = wanted
                self._run_group(connection, group)
            except Exception:
                _LOGGER.warning("group commit failed; retrying its writes one by one", exc_info=True)
                if connection is not None:
                    connection.invalidate()
                    connection.close()
                    connection = None
                for write in group:
                    self._run_alone(write)
        if connection is not None:
            connection.close()

    def _run_group(self, connection: Connection, group: list[Write]) -> None:
        start = time.perf_counter()
        with connection.begin():
            results = [_attempt(write, connection) for write in group]
        self._observe_commit(time.perf_counter() - start, len(group))
        for write, (result, error) in zip(group, results, strict=True):
            write.done(result, error)

    def _run_alone(self, write: Write) -> None:
        start = time.perf_counter()
        try:
            with self._engine.connect() as connection, connection.begin():
                result, error = _attempt(write, connection)
        except Exception:
            _LOGGER.warning("ledger write failed", exc_info=True)
            write.done(
                None,
                errors.Unavailable(
                    "the usage ledger is unavailable; retry shortly",
                    reason="LEDGER_UNAVAILABLE",
                    retry_after_s=1.0,
                ),
            )
            return
        self._observe_commit(time.perf_counter() - start, 1)
        write.done(result, error)


def _attempt(write: Write, connection: Connection) -> tuple[Any, BaseException | None]:
    try:
        return write.run(connection), None
    except Refused as refused:
        return None, refused.error


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the caller left; the write happened (or not) all the same
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _ignore(result: Any, error: BaseException | None) -> None:
    return None
