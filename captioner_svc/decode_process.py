"""Caption decoding in a process of its own (CPU serving).

On a CPU the decode loop, gRPC and image preparation share one interpreter
lock: a saturated server used 1.1-1.2 of 2 cores while its decode loop
waited for the lock. With ``CAPTIONER_DECODE_PROCESS=true`` greedy, sampled
and beam captions (streams included) decode in a child process holding its
own copy of the caption model, as a text-generation server's router hands
batches to its model shard: this process keeps gRPC, preparation, the
batcher and the other RPCs.

``DecodeProcess.caption`` has ``CaptionEngine.caption``'s signature and runs
on the model's worker thread. It sends the batch over a pipe, then relays
what comes back (tokens, finished rows, encode seconds) to the batch's rows,
and forwards to the child the calls that join the running decode, and the
rows whose callers left. The child runs ``CaptionEngine.caption`` with rows
and an inbox that stand in for these (``_ChildBatch``).

The two processes split the model as a pipeline: this one runs the vision
tower (``CaptionEngine.encode_jobs``) on each batch and each group that
joins, and sends embeddings, which the child prefills and decodes while the
next images are encoded here (beam search encodes in the child). With the
tower in the child, 64x64 PNGs at c=16 kept the child 95-96% busy and this
process 38-39%; with it here, the load split 89-90% / 79-82% and throughput
rose 9-13% (interleaved pairs, ``bench/results/cpu-pipeline.md``).

Messages, front to child: ``("batch", options, jobs, streaming, joins)``,
``("join", jobs, streaming)``, ``("cancel", indexes)``, ``("end",)``,
``("close",)``. Child to front: ``("ready",)`` or ``("failed", text)`` once
loaded, then ``("emit", index, event)``, ``("finish", index, result)``,
``("encode", seconds)``, ``("results", indexes, results)``, ``("idle",
joins_received)``, ``("error", text)``.
A batch ends with a handshake: the child, out of rows, says ``idle`` with the
number of joins it received; the front answers ``end`` only when that is
every join it sent, else the join on its way starts a new decode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.options import CaptionJob, CaptionResult, DecodeOptions, Strategy
from serving import errors
from serving.compute import Inbox, Row

_LOGGER = logging.getLogger(__name__)

# (adapter, jobs) -> the same jobs with their images' embeddings (``CaptionEngine.encode_jobs``).
EncodeFn = Callable[[str, Sequence[CaptionJob]], list[CaptionJob]]

# How often the relay looks for calls that join, and for callers that left,
# while the child is quiet: well under one decode step.
_POLL_S = 0.002
# How long a new child may take to load its model.
_LOAD_TIMEOUT_S = 600.0


class DecodeProcess:
    """A child process that decodes captions with its own ``CaptionEngine``."""

    def __init__(self, config: EngineConfig, encode: EncodeFn | None = None) -> None:
        # The child's engine: the caption model (and its adapters) only.
        self.config = dataclasses.replace(config, retrieval_model="")
        # This process's vision tower (``CaptionEngine.encode_jobs``): with it, images are
        # encoded here, on the worker thread, while the child decodes (None: in the child).
        self._encode = encode
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Starts the child and returns once its model has loaded (errors raised here)."""
        # spawn: a forked child would inherit the server's threads and gRPC state.
        context = multiprocessing.get_context("spawn")
        front, child = context.Pipe()
        process = context.Process(target=_child_main, args=(child, self.config), daemon=True)
        process.start()
        child.close()
        if not front.poll(_LOAD_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the decode process did not load its model in time")
        try:
            message = front.recv()
        except EOFError:
            raise RuntimeError("the decode process died while loading its model") from None
        if message[0] != "ready":
            process.kill()
            raise RuntimeError(f"the decode process failed to load: {message[1]}")
        self._process, self._conn = process, front

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (for operators and tests)."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def caption(
        self,
        options: DecodeOptions,
        jobs: Sequence[CaptionJob],
        rows: Sequence[Row],
        inbox: Inbox | None = None,
        on_finish: Callable[[Row, CaptionResult], None] | None = None,
        on_encode: Callable[[float], None] | None = None,
    ) -> list[CaptionResult | None]:
        """As ``CaptionEngine.caption``, decoded in the child (worker thread)."""
        if self._conn is None or not self._process.is_alive():
            self._stop()
            self.start()  # the first batch after the child died starts a new one
        assert self._conn is not None
        # Beam search encodes its own batch, once, in the child.
        encode = (
            None
            if self._encode is None or options.strategy is Strategy.BEAM_SEARCH
            else functools.partial(self._encode, options.adapter)
        )
        relay = _Relay(self._conn, rows, inbox, on_finish, on_encode, encode)
        try:
            return relay.run(options, jobs)
        except (EOFError, OSError) as exc:
            # The child died (killed, out of memory): these calls may retry.
            _LOGGER.warning(
                "the decode process died; the next batch starts a new one", extra={"error": repr(exc)}
            )
            self._stop()
            raise errors.Unavailable("the caption decode process stopped; retry") from None
        except _ChildFailed:
            self._stop()
            raise

    def kill(self) -> None:
        """Ends the child at once (any thread): a batch it still decodes fails UNAVAILABLE."""
        process = self._process
        if process is not None:
            process.kill()

    def close(self) -> None:
        """Ends the child, letting it exit cleanly; call it once no batch runs
        (after the worker thread stopped)."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("close",))
        if self._process is not None:
            self._process.join(timeout=5)
        self._stop()  # kills it only if it did not exit

    def _stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        if self._process is not None:
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


class _ChildFailed(RuntimeError):
    """The child's engine raised; the child exits and the next batch starts a new one."""


class _Relay:
    """One batch, front side: relays the child's messages to the rows, and
    joining calls and callers that left to the child (worker thread)."""

    def __init__(
        self,
        conn: Connection,
        rows: Sequence[Row],
        inbox: Inbox | None,
        on_finish: Callable[[Row, CaptionResult], None] | None,
        on_encode: Callable[[float], None] | None,
        encode: Callable[[Sequence[CaptionJob]], list[CaptionJob]] | None = None,
    ) -> None:
        self.conn = conn
        self.encode = encode
        self.rows: dict[int, Row] = dict(enumerate(rows))
        self.originals = len(rows)
        self.inbox = inbox
        self.on_finish = on_finish
        self.on_encode = on_encode
        self.live = set(self.rows)  # rows the child still decodes (or will)
        self.cancel_sent: set[int] = set()
        self.results: dict[int, CaptionResult | None] = {}
        self.joins_sent = 0

    def run(self, options: DecodeOptions, jobs: Sequence[CaptionJob]) -> list[CaptionResult | None]:
        streaming = [row.streaming for row in self.rows.values()]
        if self.encode is not None:
            jobs = self.encode(jobs)
        self.conn.send(("batch", options, list(jobs), streaming, self.inbox is not None))
        while True:
            if self.conn.poll(_POLL_S) and self._receive():
                break
            self._send_cancels()
            self._send_joiners()
        return [self.results.get(index) for index in range(self.originals)]

    def _receive(self) -> bool:
        """Handles what the child sent; True once the batch is over."""
        while True:
            message = self.conn.recv()
            kind = message[0]
            if kind == "emit":
                self.rows[message[1]].emit(message[2])
            elif kind == "finish":
                index, result = message[1], message[2]
                self.results[index] = result
                self.live.discard(index)
                if self.on_finish is not None:
                    self.on_finish(self.rows[index], result)
            elif kind == "encode":
                if self.on_encode is not None:
                    self.on_encode(message[1])
            elif kind == "results":
                for index, result in zip(message[1], message[2], strict=True):
                    self.results[index] = result
                    self.live.discard(index)
            elif kind == "idle":
                if message[1] == self.joins_sent:
                    self.conn.send(("end",))
                    return True
                # A join is on its way: the child decodes it next.
            elif kind == "error":
                raise _ChildFailed(message[1])
            if not self.conn.poll():
                return False

    def _send_cancels(self) -> None:
        left = [i for i in self.live if i not in self.cancel_sent and self.rows[i].cancelled]
        if left:
            self.conn.send(("cancel", left))
            self.cancel_sent.update(left)

    def _send_joiners(self) -> None:
        if self.inbox is None:
            return
        active = len(self.live - self.cancel_sent)
        if not self.inbox.joinable(active):
            return
        taken = self.inbox.take(active)
        if not taken:
            return
        first = len(self.rows)
        for offset, item in enumerate(taken):
            self.rows[first + offset] = item
            self.live.add(first + offset)
        jobs = [item.payload for item in taken]
        if self.encode is not None:
            jobs = self.encode(jobs)
        self.conn.send(("join", jobs, [item.streaming for item in taken]))
        self.joins_sent += 1


# -- the child --------------------------------------------------------------------------


def _child_main(conn: Connection, config: EngineConfig) -> None:
    """(decode process) Loads the engine, then decodes batches until told to close."""
    # Ctrl-C reaches the whole process group: the server decides when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = CaptionEngine(config)
        engine.load()
    except Exception as exc:
        conn.send(("failed", repr(exc)))
        return
    gc.freeze()  # what loading built is never garbage: collections need not walk it
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the server went away
            return
        if message[0] == "close":
            return
        if message[0] != "batch":
            continue  # a cancel for a batch that already ended
        _, options, jobs, streaming, joins = message
        try:
            _ChildBatch(conn, engine, options).run(jobs, streaming, joins)
        except Exception as exc:
            conn.send(("error", f"the caption decoder failed: {exc!r}"))
            os._exit(1)


class _ChildRow:
    """A row of the child's decode, standing in for the front's ``WorkItem``."""

    def __init__(self, batch: _ChildBatch, index: int, job: CaptionJob, streaming: bool) -> None:
        self.batch = batch
        self.index = index
        self.payload = job
        self.streaming = streaming
        self.left = False

    @property
    def cancelled(self) -> bool:
        # The engine asks at every step: the child reads what the front sent (callers
        # that left, calls that join) here, between steps, without waiting.
        self.batch.drain()
        return self.left

    def emit(self, event: Any) -> None:
        self.batch.conn.send(("emit", self.index, event))


class _ChildBatch:
    """One batch, child side; also the decode's ``Inbox`` of calls the front sent to join."""

    def __init__(self, conn: Connection, engine: CaptionEngine, options: DecodeOptions) -> None:
        self.conn = conn
        self.engine = engine
        self.options = options
        self.rows: list[_ChildRow] = []
        self.pending: list[_ChildRow] = []
        self.joins_received = 0
        self.ended = False

    def run(self, jobs: Sequence[CaptionJob], streaming: Sequence[bool], joins: bool) -> None:
        rows = self._add(jobs, streaming)
        while True:
            results = self.engine.caption(
                self.options,
                [row.payload for row in rows],
                rows,
                self if joins else None,
                self._finished,
                self._encoded,
            )
            self.conn.send(("results", [row.index for row in rows], results))
            if not self.pending:
                self.conn.send(("idle", self.joins_received))
                while not self.ended and not self.pending:
                    self._handle(self.conn.recv())
                if self.ended:
                    return
            rows, self.pending = self.pending, []  # joined after the last row ended

    def _add(self, jobs: Sequence[CaptionJob], streaming: Sequence[bool]) -> list[_ChildRow]:
        first = len(self.rows)
        added = [
            _ChildRow(self, first + k, job, flag)
            for k, (job, flag) in enumerate(zip(jobs, streaming, strict=True))
        ]
        self.rows.extend(added)
        return added

    def drain(self) -> None:
        """Handles what the front sent, without waiting."""
        while self.conn.poll():
            self._handle(self.conn.recv())

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "cancel":
            for index in message[1]:
                self.rows[index].left = True
        elif kind == "join":
            self.joins_received += 1
            self.pending.extend(self._add(message[1], message[2]))
        elif kind == "end":
            self.ended = True

    def _finished(self, row: Row, result: CaptionResult) -> None:
        assert isinstance(row, _ChildRow)
        self.conn.send(("finish", row.index, result))

    def _encoded(self, seconds: float) -> None:
        self.conn.send(("encode", seconds))

    # -- Inbox: the front hands over waiting calls as soon as there is room, and the
    # engine admits them by its own rule (``engine._time_to_join``), as in one process.

    def joinable(self, active: int) -> int:
        self.drain()
        return len(self.pending)

    def take(self, active: int) -> list[_ChildRow]:
        taken, self.pending = self.pending, []
        return taken
