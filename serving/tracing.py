"""OpenTelemetry traces, off unless an OTLP endpoint is configured.

``setup(name)`` runs once at a server's start: with ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set it installs the SDK's tracer
provider, named by ``OTEL_SERVICE_NAME`` (default ``name``) and exporting over
OTLP/gRPC in batches; otherwise it installs nothing, the API's tracer stays the
no-op one, and no interceptor is added, so an untraced server pays nothing per call.

The spans of one call: the gRPC instrumentation's server span (W3C trace
context extracted from the metadata) and, in the gateway, its client span to
the backend (the context injected); in a model server ``queue_wait`` (from
enqueue to the start of the batch) and ``batch`` (parented by the batch's first
call, linked to every call in it), and one span per model stage, children of
the batch, made from the times the engines already measure for metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextvars import Token
from typing import Any, Protocol

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and reflection would only bury the calls' traces.
_NOT_TRACED = ("/grpc.health.v1.", "/grpc.reflection.")
# Codes that make a server span an error (OpenTelemetry's gRPC conventions).
_SERVER_ERRORS = {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
# The tracer of the batch running on the worker thread, beside its span: what
# ``record_stages`` finds in the current context.
_BATCH_TRACER = otel_context.create_key("imaging-batch-tracer")


def setup(default_service_name: str) -> trace.TracerProvider | None:
    """Installs the process's tracer provider when an OTLP endpoint is set, and
    returns it; None (nothing installed) otherwise."""
    if not any(os.environ.get(name) for name in ENDPOINT_ENVS):
        return None
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    # Imported here: a process that does not trace never loads the SDK.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    # The exporter reads the endpoint, headers, TLS and timeout from the standard variables.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def installed_provider() -> trace.TracerProvider | None:
    """The process's tracer provider when one was installed (``setup``), else None."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def get_tracer(provider: trace.TracerProvider | None, name: str) -> trace.Tracer | None:
    return None if provider is None else provider.get_tracer(name)


def _traced(details: Any) -> bool:
    method = details.method
    if isinstance(method, bytes):  # grpc.aio's client call details carry bytes
        method = method.decode()
    return not method.startswith(_NOT_TRACED)


def server_interceptors(provider: trace.TracerProvider | None) -> list[grpc.aio.ServerInterceptor]:
    """The instrumentation's server interceptor (none when not traced): install it first."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(
        tracer_provider=provider, filter_=_traced
    )
    return [interceptor]


def client_interceptors(provider: trace.TracerProvider | None) -> list[grpc.aio.ClientInterceptor]:
    """The instrumentation's client interceptors for a channel (none when not traced)."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(
        tracer_provider=provider, filter_=_traced
    )
    return interceptors


def record_status(span: trace.Span, code: str) -> None:
    """Puts a call's final status code (its name) on its server span."""
    if not span.is_recording():
        return
    status = getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)
    span.set_attribute("rpc.grpc.status_code", status.value[0])
    if code in _SERVER_ERRORS:
        span.set_status(trace.StatusCode.ERROR, code)


class Queued(Protocol):
    """What the batch spans read of a queued item (``serving.batcher.WorkItem``)."""

    enqueued_at: float  # time.monotonic()
    trace_context: Context


def _wall_ns(monotonic_s: float) -> int:
    """A ``time.monotonic()`` reading as a span timestamp (ns since the epoch)."""
    return time.time_ns() - int((time.monotonic() - monotonic_s) * 1e9)


class BatchSpan:
    """A running batch's span; current (with its tracer) from ``start_batch`` to
    ``end``, so that compute started in between sees it (``ModelWorker`` runs
    compute in a copy of the caller's context)."""

    def __init__(self, span: trace.Span, token: Token[Context]) -> None:
        self._span = span
        self._token = token

    def end(self) -> None:
        otel_context.detach(self._token)
        self._span.end()


def start_batch(
    tracer: trace.Tracer | None, batcher: str, operation: str, items: Sequence[Queued], started: float
) -> BatchSpan | None:
    """Records each item's ``queue_wait`` (enqueue to ``started``, monotonic) and
    starts the ``batch`` span; None when not traced."""
    if tracer is None or not items:
        return None
    start_ns = _wall_ns(started)
    calls = [trace.get_current_span(item.trace_context).get_span_context() for item in items]
    span = tracer.start_span(
        "batch",
        context=items[0].trace_context,
        links=[trace.Link(call) for call in calls if call.is_valid],
        start_time=start_ns,
        attributes={
            "imaging.batcher": batcher,
            "imaging.operation": operation,
            "imaging.batch.size": len(items),
        },
    )
    _queue_waits(tracer, span, batcher, operation, items, start_ns)
    current = trace.set_span_in_context(span, otel_context.set_value(_BATCH_TRACER, tracer))
    return BatchSpan(span, otel_context.attach(current))


def record_joins(
    tracer: trace.Tracer | None,
    batch: BatchSpan | None,
    batcher: str,
    operation: str,
    items: Sequence[Queued],
    joined: float,
) -> None:
    """``queue_wait`` of items that joined a running batch at ``joined`` (monotonic;
    continuous batching), linked to that batch; nothing when not traced."""
    if tracer is not None and batch is not None and items:
        _queue_waits(tracer, batch._span, batcher, operation, items, _wall_ns(joined))


def _queue_waits(
    tracer: trace.Tracer,
    batch: trace.Span,
    batcher: str,
    operation: str,
    items: Sequence[Queued],
    end_ns: int,
) -> None:
    to_batch = [trace.Link(batch.get_span_context())]
    for item in items:
        wait = tracer.start_span(
            "queue_wait",
            context=item.trace_context,
            links=to_batch,
            start_time=_wall_ns(item.enqueued_at),
            attributes={"imaging.batcher": batcher, "imaging.operation": operation},
        )
        wait.end(end_time=end_ns)


def end_batch(batch: BatchSpan | None) -> None:
    if batch is not None:
        batch.end()


def record_stages(stages: Sequence[tuple[str, float]], ended_ns: int | None = None) -> None:
    """Spans of consecutive model stages ``(name, seconds)``, the last ending at
    ``ended_ns`` (default now), as children of the running batch's span; nothing
    outside a traced batch. For stages timed by the engine, not wrapped here."""
    tracer = otel_context.get_value(_BATCH_TRACER)
    if not isinstance(tracer, trace.Tracer):
        return
    end = time.time_ns() if ended_ns is None else ended_ns
    for name, seconds in reversed(stages):
        start = end - int(seconds * 1e9)
        tracer.start_span(name, start_time=start).end(end_time=end)
        end = start
