"""The server interceptor every server installs: request ids, structured
access logs, RPC metrics and the mapping of exceptions to statuses.

Streams are wrapped as iterators, so a streaming call is counted and timed
when its last message is sent and an error raised mid-stream still becomes
the right status.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError
from grpc.aio import ServicerContext
from opentelemetry import trace

from serving import errors, tracing
from serving.logs import request_id_var
from serving.metrics import RpcMetrics
from serving.status import internal_status, to_grpc_status

_LOGGER = logging.getLogger(__name__)
REQUEST_ID_KEY = "x-request-id"
# How close to its deadline a cancelled call counts as expired rather than
# cancelled by its client.
_DEADLINE_SLACK_S = 0.05
# What a call refused or cut by a draining server is told to wait before retrying.
_DRAIN_RETRY_AFTER_S = 1.0
# Health is answered to the end, and never waited for.
_ALWAYS_ANSWERED = "/grpc.health.v1."
# The cancel message of calls cut when the grace period ends.
_CUT = "grace period over"

_Context: TypeAlias = ServicerContext[Any, Any]
_Parse: TypeAlias = Callable[[bytes], Any] | None


def parse_request(parse: _Parse, request: Any) -> Any:
    """The request message; a body that does not parse is the client's error."""
    if parse is None:
        return request
    try:
        return parse(request)
    except DecodeError:
        raise errors.InvalidArgument(
            "the request body is not a valid protobuf message of this method", reason="MALFORMED_REQUEST"
        ) from None


def split_method(full_method: str) -> tuple[str, str]:
    """Splits "/pkg.Service/Method" into ("pkg.Service", "Method")."""
    _, service, method = full_method.split("/", 2)
    return service, method


class ServingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers (the shapes our contracts
    use); other shapes pass through unchanged."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics
        self._calls: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    def refuse_new_calls(self) -> None:
        """From now on a new call is UNAVAILABLE with RetryInfo (a client retries
        it on another replica), never cut by the transport as CANCELLED."""
        self.draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Waits until no call is in flight; False when ``timeout_s`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def cut_calls(self) -> int:
        """Cancels the calls still in flight; each ends UNAVAILABLE with RetryInfo."""
        for task in self._calls:
            task.cancel(_CUT)
        return len(self._calls)

    def _enter(self, call: _CallRecord) -> None:
        if call.full_method.startswith(_ALWAYS_ANSWERED):
            return  # health says NOT_SERVING while draining, and a Watch may stay open
        if self.draining:
            raise errors.Unavailable(
                "the server is shutting down; retry (another replica will take the call)",
                reason="SHUTTING_DOWN",
                retry_after_s=_DRAIN_RETRY_AFTER_S,
            )
        task = asyncio.current_task()
        if task is not None:
            call.task = task
            self._calls.add(task)
            self._idle.clear()

    def _leave(self, call: _CallRecord) -> None:
        if call.task is not None:
            self._calls.discard(call.task)
            if not self._calls:
                self._idle.set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full_method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        incoming_id = metadata.get(REQUEST_ID_KEY)
        # The request is parsed inside the call, not by gRPC before it: a body that
        # is not a valid message is then INVALID_ARGUMENT with details, and counted.
        parse = handler.request_deserializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, full_method, incoming_id, parse),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, full_method, incoming_id, parse),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_bidi(handler.stream_stream, full_method, incoming_id),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(
        self, behavior: Callable[..., Any], full_method: str, incoming_id: str | bytes | None, parse: _Parse
    ) -> Callable[[Any, _Context], Awaitable[Any]]:
        async def unary(request: Any, context: _Context) -> Any:
            call = _CallRecord(self._metrics, full_method, "unary", incoming_id)
            try:
                self._enter(call)
                await call.begin(context)
                response = await behavior(parse_request(parse, request), context)
                call.messages += 1
                return response
            except BaseException as exc:
                await call.fail(exc, context)
                raise
            finally:
                self._leave(call)
                call.end()

        return unary

    def _wrap_stream(
        self, behavior: Callable[..., Any], full_method: str, incoming_id: str | bytes | None, parse: _Parse
    ) -> Callable[[Any, _Context], AsyncIterator[Any]]:
        async def stream(request: Any, context: _Context) -> AsyncIterator[Any]:
            call = _CallRecord(self._metrics, full_method, "server_stream", incoming_id)
            try:
                self._enter(call)
                await call.begin(context)
                responses = behavior(parse_request(parse, request), context)
                if inspect.isawaitable(responses):
                    # A handler that writes with context.write (or raises) instead of yielding.
                    await responses
                    return
                async for response in responses:
                    call.messages += 1
                    self._metrics.messages_sent.labels(*call.labels).inc()
                    yield response
            except BaseException as exc:
                await call.fail(exc, context)
                raise
            finally:
                self._leave(call)
                call.end()

        return stream

    def _wrap_bidi(
        self, behavior: Callable[..., Any], full_method: str, incoming_id: str | bytes | None
    ) -> Callable[[Any, _Context], AsyncIterator[Any]]:
        """Counts a bidirectional stream (server reflection) like the others;
        it is never refused or waited for on drain."""

        async def bidi(requests: Any, context: _Context) -> AsyncIterator[Any]:
            call = _CallRecord(self._metrics, full_method, "bidi_stream", incoming_id, counts_request=False)

            async def counted() -> AsyncIterator[Any]:
                async for request in requests:
                    self._metrics.messages_received.labels(*call.labels).inc()
                    yield request

            try:
                await call.begin(context)
                async for response in behavior(counted(), context):
                    call.messages += 1
                    self._metrics.messages_sent.labels(*call.labels).inc()
                    yield response
            except BaseException as exc:
                await call.fail(exc, context)
                raise
            finally:
                call.end()

        return bidi


class _CallRecord:
    """The bookkeeping of one RPC from its start to its last message."""

    def __init__(
        self,
        metrics: RpcMetrics,
        full_method: str,
        rpc_type: str,
        incoming_id: str | bytes | None,
        counts_request: bool = True,
    ) -> None:
        self.metrics = metrics
        self.full_method = full_method
        service, method = split_method(full_method)
        self.labels = (service, method, rpc_type)
        self.request_id = _clean_request_id(incoming_id)
        self.code = "OK"
        self.messages = 0
        self.start = time.perf_counter()
        self.deadline: float | None = None
        self.task: asyncio.Task[Any] | None = None
        # The call's server span (a non-recording one when not traced): end() may
        # run in another context, when a stream its client left is finalized.
        self.span = trace.get_current_span()
        # Counted as started here, so that end() always balances it, whatever
        # happens from the first await on (a client may cancel at once).
        self.metrics.started.labels(*self.labels).inc()
        self.metrics.in_flight.labels(*self.labels[:2]).inc()
        if counts_request:  # a unary request; a stream's are counted as they arrive
            self.metrics.messages_received.labels(*self.labels).inc()

    async def begin(self, context: _Context) -> None:
        # Each RPC runs in its own task, so the value never leaks to another call;
        # no reset at the end (a stream may be closed from another context).
        request_id_var.set(self.request_id)
        remaining = context.time_remaining()
        if remaining is not None:
            self.deadline = time.monotonic() + remaining
        # Initial metadata, so that error statuses (which replace trailers) keep it too.
        await context.send_initial_metadata(((REQUEST_ID_KEY, self.request_id),))

    async def fail(self, exc: BaseException, context: _Context) -> None:
        """Records the code of ``exc``; turns it into a status where it is ours
        (the abort raises, and the caller re-raises the original otherwise)."""
        if isinstance(exc, errors.ServingError):
            self.code = exc.code
            await context.abort_with_status(to_grpc_status(exc))
        elif isinstance(exc, asyncio.CancelledError) and exc.args == (_CUT,):
            # The grace period ran out: say so in a status a client retries.
            error = errors.Unavailable(
                "the server shut down before the call finished; retry",
                reason="SHUTTING_DOWN",
                retry_after_s=_DRAIN_RETRY_AFTER_S,
            )
            self.code = error.code
            await context.abort_with_status(to_grpc_status(error))
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            # A stream closed by its client at a yield ends in GeneratorExit, not
            # CancelledError: both mean the caller left. Expired or not is told
            # from the deadline taken at the start: time_remaining() read now may
            # still be a hair above zero when gRPC cancels an expired call.
            expired = self.deadline is not None and time.monotonic() >= self.deadline - _DEADLINE_SLACK_S
            self.code = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
        elif isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            self.code = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        elif isinstance(exc, Exception):
            self.code = "INTERNAL"
            _LOGGER.exception("unhandled error in %s", self.full_method)
            await context.abort_with_status(internal_status())

    def end(self) -> None:
        elapsed = time.perf_counter() - self.start
        self.metrics.handled.labels(*self.labels, self.code).inc()
        self.metrics.handling_seconds.labels(*self.labels).observe(elapsed)
        self.metrics.in_flight.labels(*self.labels[:2]).dec()
        tracing.record_status(self.span, self.code)
        _LOGGER.info(
            "rpc finished",
            extra={"method": self.full_method, "code": self.code, "duration_s": round(elapsed, 6)},
        )


def _clean_request_id(incoming: str | bytes | None) -> str:
    """Keeps a caller's request id when it is short and printable, else mints one."""
    if isinstance(incoming, bytes):
        incoming = incoming.decode("ascii", "replace")
    if incoming and len(incoming) <= 128 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex
