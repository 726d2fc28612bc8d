"""A bounded, cancellation-aware micro-batcher in front of one model.

Callers ``submit`` an item (or ``stream`` one) under a compatibility key;
one collector task takes the oldest waiting item's key, waits up to
``max_batch_delay_ms`` for more items of that key (up to ``max_batch_size``),
drops items whose caller cancelled or whose deadline passed, and runs the
batch on the model's worker thread. Each caller awaits its own future, as in
Ray Serve's ``_BatchQueue``; unlike it, the queue is bounded (full:
``ResourceExhausted`` with a retry delay) and compatibility is keyed.

Compute sees ``WorkItem``s: it checks ``item.cancelled`` at every token or
denoising step (a cancelled call stops costing compute while the rest of its
batch goes on) and calls ``item.emit(event)`` to stream partial results.

Continuous batching: for a key that ``joinable(key)`` accepts, compute gets a
``JoinInbox`` beside its items. Items of that key that arrive while the batch
runs join it at its next step (``inbox.take``) up to ``max_batch_size`` rows,
as text-generation servers do for LLMs, and each row's caller is answered as
soon as its row ends (``item.finish``), not when the whole batch does.

A full queue answers at once, before a server spends anything on the call:
``reserve(n)`` holds room for a call's ``n`` items while the server decodes
its inputs, and the ``RetryInfo`` delay is the time the queued work takes,
estimated per batch key from that key's own past batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from serving import errors, tracing
from serving.metrics import BatchMetrics
from serving.worker import ModelWorker

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Weight of the newest batch in a key's running average of batch time.
_NEW_BATCH_WEIGHT = 0.2
# Keys whose batch time is remembered (least recently run forgotten first): keys may
# carry client-chosen values (a caption prefix), so the table must stay bounded.
_MAX_ESTIMATED_KEYS = 256
# Shortest RetryInfo delay: below it clients would only retry into the same full queue.
_MIN_RETRY_AFTER_S = 0.1
# How long a decode step waits for the event loop to hand it joining items.
_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BatcherSettings:
    """Knobs of one batcher (validated here, so every server reports the same words)."""

    max_batch_size: int = 8
    max_batch_delay_ms: float = 5.0
    max_queue_size: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError("max_batch_size must be an integer >= 1")
        if self.max_batch_delay_ms < 0:
            raise ValueError("max_batch_delay_ms must be >= 0")
        if not isinstance(self.max_queue_size, int) or self.max_queue_size < 1:
            raise ValueError("max_queue_size must be an integer >= 1")


@dataclass(eq=False)
class WorkItem(Generic[T]):
    """One caller's item as compute sees it (on the worker thread)."""

    payload: T
    key: Hashable
    enqueued_at: float
    deadline: float | None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _emit: Callable[[Any], None] | None = None
    _finish: Callable[[Any], None] | None = None
    # The caller's trace context, taken where the item is made (the call's task):
    # the parent of its queue_wait span and of the batch span it heads.
    trace_context: otel_context.Context = field(default_factory=otel_context.get_current)

    @property
    def cancelled(self) -> bool:
        """True once the caller cancelled or its deadline passed: stop computing for it."""
        if self._cancel.is_set():
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self._cancel.set()
            return True
        return False

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def abandoned(self) -> bool:
        """True once nobody will read this item's outcome: its caller left, or
        compute already saw its deadline pass (gRPC then cuts the call)."""
        return self._cancel.is_set()

    @property
    def streaming(self) -> bool:
        """True when a caller reads partial results (``emit``); a unary caller reads only the result."""
        return self._emit is not None

    def emit(self, event: Any) -> None:
        """Sends a partial result to a streaming caller (thread-safe; no-op for unary)."""
        if self._emit is not None and not self._cancel.is_set():
            self._emit(event)

    def finish(self, result: Any) -> None:
        """Answers this item's caller now, before the rest of its batch ends (thread-safe)."""
        if self._finish is not None:
            self._finish(result)


_END = object()


@dataclass(eq=False)
class _Waiting(Generic[T, R]):
    item: WorkItem[T]
    future: asyncio.Future[R]


# ``process(key, items)``; for a joinable key ``process(key, items, inbox)``.
ProcessFn = Callable[..., Sequence[R]]


def _same_key(key: Hashable) -> Hashable:
    return key


def _no_operation(key: Hashable) -> str:
    return ""


def _never(key: Hashable) -> bool:
    return False


class JoinInbox:
    """Items that join a running batch of a joinable key (worker-thread side).

    ``take(active)`` hands the decode loop up to ``max_batch_size - active``
    items of its key that arrived since it started; it asks the event loop
    only when such items wait, so a step with nothing to join costs a length read.
    """

    def __init__(
        self, batcher: MicroBatcher[Any, Any], key: Hashable, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._batcher = batcher
        self._key = key
        self._loop = loop
        self.joined: list[_Waiting[Any, Any]] = []

    def joinable(self, active: int) -> int:
        """How many waiting items of the running batch's key fit beside ``active``
        rows (a length read, no hand-off)."""
        room = self._batcher.max_batch_size - active
        return max(0, min(room, len(self._batcher._queues.get(self._key, ()))))

    def take(self, active: int) -> list[WorkItem[Any]]:
        room = self._batcher.max_batch_size - active
        if not self.joinable(active):
            return []
        future = asyncio.run_coroutine_threadsafe(self._batcher._take_joiners(self._key, room), self._loop)
        try:
            taken = future.result(timeout=_JOIN_TIMEOUT_S)
        except Exception:  # the loop is closing: the batch finishes with the rows it has
            future.cancel()
            _LOGGER.warning("joining rows to the running %s batch timed out", self._batcher.name)
            return []
        self.joined.extend(taken)
        return [waiting.item for waiting in taken]


@dataclass(eq=False)
class Reservation:
    """Queue room held for one call's items while the server prepares them
    (``MicroBatcher.reserve``); ``submit`` and ``stream`` fill it, and leaving
    the ``with`` block gives back what was not used."""

    slots: int
    _give_back: Callable[[int], None]

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._give_back(self.slots)
        self.slots = 0


class MicroBatcher(Generic[T, R]):
    """Batches items of equal key for ``process`` (run on ``worker``).

    ``process(key, items)`` runs on the worker thread and returns one result
    per item, in order; a result may be an exception instance, which fails
    only that item's call. ``cost_key(key)`` names the keys whose batches take
    about as long as ``key``'s (by default each key alone): they share one
    batch-time estimate. ``operation(key)`` names the ``operation`` label of
    the metrics of ``key``'s items (``key`` None: a reservation that named no
    operation); the queue depth is kept exactly per operation.
    """

    def __init__(
        self,
        name: str,
        process: ProcessFn[R],
        worker: ModelWorker,
        settings: BatcherSettings,
        metrics: BatchMetrics | None = None,
        cost_key: Callable[[Hashable], Hashable] = _same_key,
        operation: Callable[[Hashable], str] = _no_operation,
        joinable: Callable[[Hashable], bool] = _never,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.name = name
        self._process = process
        self._worker = worker
        self._settings = settings
        self._metrics = metrics
        self._cost_key = cost_key
        self._operation = operation
        self._joinable = joinable
        self._tracer = tracer  # None: not traced
        self._queues: dict[Hashable, deque[_Waiting[T, R]]] = {}
        self._size = 0
        # Items waiting, by operation (sums to _size): the per-operation depth gauge.
        self._depth: dict[str, int] = {}
        self._reserved = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Seconds per batch, by cost key, least recently run first.
        self._batch_seconds: dict[Hashable, float] = {}
        self._running: Hashable | None = None  # the key of the batch in compute
        # The group of items the running batch admitted last: (when, how many). A joinable
        # batch admits a group at its start and one each time calls join it; under steady
        # load it may never end, so each group is measured on its own (``_close_group``).
        self._group: tuple[float, int] = (0.0, 0)
        self._batch_span: tracing.BatchSpan | None = None  # the running batch's, when traced
        # The last batch held one item and nothing arrived while it ran (``_wait_for_batch``).
        self._light_load = False
        self._arrived_while_running = False
        self._last_batch_end = 0.0  # monotonic

    @property
    def queue_depth(self) -> int:
        return self._size

    @property
    def max_batch_size(self) -> int:
        return self._settings.max_batch_size

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect(), name=f"batcher-{self.name}")

    async def close(self) -> None:
        """Stops collecting; queued calls fail UNAVAILABLE."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for queue in self._queues.values():
            for waiting in queue:
                _fail(waiting, errors.Unavailable("the server is shutting down; retry"))
        self._queues.clear()
        self._size = 0
        for operation in self._depth:
            self._depth[operation] = 0
            self._observe_depth(operation)

    def reserve(self, count: int = 1, operation: str | None = None) -> Reservation:
        """Holds queue room for one call's ``count`` items, or refuses the call at
        once (``ResourceExhausted`` with RetryInfo): call it before decoding
        inputs, so that a full queue costs nothing more. Use it as ``with``.
        ``operation`` labels a refusal (default: ``operation(None)``)."""
        self._admit(count, self._operation(None) if operation is None else operation)
        self._reserved += count
        return Reservation(count, self._give_back)

    def _give_back(self, count: int) -> None:
        self._reserved -= count

    async def submit(
        self,
        payload: T,
        key: Hashable = None,
        timeout_s: float | None = None,
        reservation: Reservation | None = None,
    ) -> R:
        """Queues ``payload`` (in ``reservation``'s room, if given) and returns its
        result. Cancelling the awaiting task (the gRPC call) takes the item out
        of the queue or stops its compute."""
        waiting = self._enqueue(payload, key, timeout_s, reservation, emit=None)
        return await self._await(waiting)

    async def stream(
        self,
        payload: T,
        key: Hashable = None,
        timeout_s: float | None = None,
        reservation: Reservation | None = None,
    ) -> AsyncIterator[Any]:
        """Queues ``payload`` like ``submit``; yields each event compute emits, then the result."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()

        def emit(event: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        waiting = self._enqueue(payload, key, timeout_s, reservation, emit=emit)
        waiting.future.add_done_callback(lambda _: events.put_nowait(_END))
        try:
            while True:
                event = await events.get()
                if event is _END:
                    break
                yield event
            # Events emitted just before the result may still be in flight from the thread.
            await asyncio.sleep(0)
            while not events.empty():
                event = events.get_nowait()
                if event is not _END:
                    yield event
            yield await self._await(waiting)
        finally:
            waiting.item.cancel()

    def _enqueue(
        self,
        payload: T,
        key: Hashable,
        timeout_s: float | None,
        reservation: Reservation | None,
        emit: Callable[[Any], None] | None,
    ) -> _Waiting[T, R]:
        if reservation is not None and reservation.slots > 0:
            reservation.slots -= 1
            self._reserved -= 1
        else:
            self._admit(1, self._operation(key))
        now = time.monotonic()
        deadline = None if timeout_s is None else now + max(timeout_s, 0.0)
        loop = asyncio.get_running_loop()
        item: WorkItem[T] = WorkItem(payload=payload, key=key, enqueued_at=now, deadline=deadline, _emit=emit)
        waiting: _Waiting[T, R] = _Waiting(item, loop.create_future())

        def finish(result: Any) -> None:
            loop.call_soon_threadsafe(_settle, waiting, result)

        item._finish = finish
        self._queues.setdefault(key, deque()).append(waiting)
        self._size += 1
        if self._running is not None:
            self._arrived_while_running = True
        operation = self._operation(key)
        self._depth[operation] = self._depth.get(operation, 0) + 1
        self._observe_depth(operation)
        self._wakeup.set()
        return waiting

    async def _await(self, waiting: _Waiting[T, R]) -> R:
        try:
            return await asyncio.shield(waiting.future)
        except asyncio.CancelledError:
            # The caller left: a queued item is dropped by the collector, a
            # running one stops at its next step.
            waiting.item.cancel()
            raise

    def _admit(self, count: int, operation: str) -> None:
        """Raises unless ``count`` more items may join the queue. Kept cheap: under
        a flood it runs for every refused call, on the event loop."""
        if self._task is None:
            raise errors.Unavailable("the model is not serving yet; retry shortly")
        if self._size + self._reserved + count <= self._settings.max_queue_size:
            return  # room, reservations included
        if self._metrics:
            self._metrics.rejected.labels(self.name, operation).inc(count)
        limit = self._settings.max_queue_size
        raise errors.ResourceExhausted(
            f"the {self.name} queue is full ({limit} waiting); retry later",
            retry_after_s=self._retry_after_s(),
            metadata={"model": self.name, "max_queue_size": str(limit)},
        )

    def _retry_after_s(self) -> float:
        """Seconds until the work ahead is done: what is left of the batch in
        compute, then each key's queued batches at that key's own batch time."""
        known = self._batch_seconds
        # A key never run: the mean of the keys that ran (0 before any batch ran).
        fallback = sum(known.values()) / len(known) if known else 0.0

        def batch_s(key: Hashable) -> float:
            return known.get(self._cost_key(key), fallback)

        seconds = 0.0
        if self._running is not None:
            # What is left of the group in compute (a whole batch, unless calls joined it).
            seconds += max(0.0, batch_s(self._running) - (time.monotonic() - self._group[0]))
        for key, queue in self._queues.items():
            batches = -(-len(queue) // self._settings.max_batch_size)  # ceiling division
            seconds += batches * batch_s(key)
        return round(max(_MIN_RETRY_AFTER_S, seconds), 3)

    def _record_batch_s(self, key: Hashable, elapsed: float) -> None:
        cost_key = self._cost_key(key)
        previous = self._batch_seconds.pop(cost_key, None)  # re-inserted last: most recent
        if previous is not None:
            elapsed = (1 - _NEW_BATCH_WEIGHT) * previous + _NEW_BATCH_WEIGHT * elapsed
        self._batch_seconds[cost_key] = elapsed
        if len(self._batch_seconds) > _MAX_ESTIMATED_KEYS:
            del self._batch_seconds[next(iter(self._batch_seconds))]

    def _observe_depth(self, operation: str) -> None:
        if self._metrics:
            self._metrics.queue_depth.labels(self.name, operation).set(self._depth.get(operation, 0))

    async def _collect(self) -> None:
        while True:
            if self._size == 0:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key = min(self._queues, key=lambda k: self._queues[k][0].item.enqueued_at)
            await self._wait_for_batch(key)
            batch = self._take(key)
            if batch:
                await self._run(key, batch)

    async def _wait_for_batch(self, key: Hashable) -> None:
        """Waits until ``key`` has a full batch or its oldest item waited long enough.

        Not while the load is light: when the last batch held one item and
        nothing arrived while it ran, nobody is likely to come within the
        delay, so an idle server adds no latency. A burst or a busy server
        makes batches of several, and the delay applies again.

        The delay also counts from the end of the last batch: the callers it
        just answered often call again at once (a client's worker pool, a
        pipeline stage). Flushing the items that waited through the batch
        without them locks a closed loop of four callers into alternating
        batches of one and three."""
        if self._light_load:
            return
        oldest = self._queues[key][0].item.enqueued_at
        flush_at = max(oldest, self._last_batch_end) + self._settings.max_batch_delay_ms / 1000
        while len(self._queues.get(key, ())) < self._settings.max_batch_size:
            remaining = flush_at - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _take(self, key: Hashable, limit: int | None = None) -> list[_Waiting[T, R]]:
        """Pops up to ``limit`` (max_batch_size) live items of ``key``; drops the dead ones."""
        queue = self._queues.get(key)
        operation = self._operation(key)
        batch: list[_Waiting[T, R]] = []
        most = self._settings.max_batch_size if limit is None else limit
        while queue and len(batch) < most:
            waiting = queue.popleft()
            self._size -= 1
            self._depth[operation] -= 1
            reason = self._dead_reason(waiting)
            if reason is None:
                batch.append(waiting)
                continue
            if self._metrics:
                self._metrics.dropped.labels(self.name, operation, reason).inc()
            _fail(waiting, errors.DeadlineExceeded("the deadline passed while the call was queued"))
        if queue is not None and not queue:
            del self._queues[key]
        self._observe_depth(operation)
        return batch

    @staticmethod
    def _dead_reason(waiting: _Waiting[T, R]) -> str | None:
        item = waiting.item
        if item.deadline is not None and time.monotonic() >= item.deadline:
            return "deadline"
        if waiting.future.cancelled() or item.cancelled:
            return "cancelled"
        return None

    async def _take_joiners(self, key: Hashable, room: int) -> list[_Waiting[T, R]]:
        """Items of the running ``key`` for its decode loop; none while another
        key's oldest call has waited its batch delay (that batch runs next)."""
        now = time.monotonic()
        patience = self._settings.max_batch_delay_ms / 1000
        if any(k != key and now - q[0].item.enqueued_at > patience for k, q in self._queues.items() if q):
            return []
        taken = self._take(key, room)
        tracing.record_joins(
            self._tracer, self._batch_span, self.name, self._operation(key), [w.item for w in taken], now
        )
        self._observe_waits(self._operation(key), taken, now)
        if taken:
            self._close_group(key, now)
            self._group = (now, len(taken))
        return taken

    def _close_group(self, key: Hashable, now: float) -> None:
        """Measures the group the running batch admitted last, up to ``now`` (the next
        group joins, or the batch ends): the batch-time estimate behind RetryInfo,
        ``batch_size`` (items admitted together) and ``batch_seconds``."""
        started, items = self._group
        elapsed = now - started
        self._record_batch_s(key, elapsed)
        if self._metrics:
            operation = self._operation(key)
            self._metrics.batch_size.labels(self.name, operation).observe(items)
            self._metrics.batch_seconds.labels(self.name, operation).observe(elapsed)

    def _observe_waits(self, operation: str, batch: list[_Waiting[T, R]], now: float) -> None:
        """Each item's time in the queue, up to ``now`` (its batch starts or it joins one)."""
        if self._metrics and batch:
            wait_seconds = self._metrics.queue_wait_seconds.labels(self.name, operation)
            for waiting in batch:
                wait_seconds.observe(now - waiting.item.enqueued_at)

    async def _run(self, key: Hashable, batch: list[_Waiting[T, R]]) -> None:
        started = time.monotonic()
        operation = self._operation(key)
        self._observe_waits(operation, batch, started)
        items = [w.item for w in batch]
        self._arrived_while_running = False
        self._running = key
        self._group = (started, len(batch))
        batch_span = self._batch_span = tracing.start_batch(
            self._tracer, self.name, operation, items, started
        )
        inbox = JoinInbox(self, key, asyncio.get_running_loop()) if self._joinable(key) else None
        results: Sequence[R | BaseException]
        try:
            if inbox is None:
                results = await self._worker.run(self._process, key, items)
            else:
                results = await self._worker.run(self._process, key, items, inbox)
            if len(results) != len(batch):
                raise RuntimeError(
                    f"{self.name}: process returned {len(results)} results for {len(batch)} items; "
                    "it must return exactly one result per item, in order"
                )
        except Exception as exc:  # the whole batch failed: every caller gets the error
            if isinstance(exc, errors.ServingError):
                # A status the compute chose (a decode process that died: UNAVAILABLE, retry),
                # logged where it was raised: not a server fault with a traceback.
                _LOGGER.warning("batch of %d failed on %s: %s", len(batch), self.name, exc)
            else:
                _LOGGER.exception("batch of %d failed on %s", len(batch), self.name)
            results = [exc] * len(batch)
        finally:
            self._running = None
            tracing.end_batch(batch_span)
        self._last_batch_end = time.monotonic()
        self._light_load = len(batch) == 1 and not self._arrived_while_running
        self._close_group(key, self._last_batch_end)
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting, result)
        for waiting in inbox.joined if inbox else ():
            # Joined rows were answered by ``finish``; one that was not is the batch's failure.
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            _settle(waiting, failed or RuntimeError(f"{self.name}: a joined row ended without a result"))


def _settle(waiting: _Waiting[Any, Any], result: Any) -> None:
    """Answers one call with its result (or exception), unless it was answered or its caller left."""
    if isinstance(result, BaseException):
        _fail(waiting, result)
    elif waiting.future.done():
        return
    elif not waiting.item.abandoned:
        waiting.future.set_result(result)
    else:
        waiting.future.cancel()  # its caller left: nobody will read the result


def _fail(waiting: _Waiting[Any, Any], error: BaseException) -> None:
    """Fails a call's future; a call whose caller already left (cancelled, or
    cut by its deadline) is cancelled instead, so that no exception is left
    on a future nobody will await ("Future exception was never retrieved")."""
    if waiting.future.done():
        return
    if waiting.item.abandoned:
        waiting.future.cancel()
    else:
        waiting.future.set_exception(error)
