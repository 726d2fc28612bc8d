"""Prometheus metrics of one server, in its own registry, served over HTTP.

RPC metrics follow the go-grpc-prometheus names that existing dashboards
know (``grpc_server_handled_total`` and friends). No label ever holds an API
key or other unbounded value: billing data lives in the gateway's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Seconds: from sub-millisecond discovery calls to minute-long generations.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


class RpcMetrics:
    """Per-RPC counters and histograms; correct for streams, since a call is
    counted when its last message is sent, not when the handler returns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_service", "grpc_method", "grpc_type")
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its last response message, in seconds.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.messages_sent = Counter(
            "grpc_server_msg_sent", "Response messages sent.", labels, registry=registry
        )
        self.messages_received = Counter(
            "grpc_server_msg_received", "Request messages received.", labels, registry=registry
        )
        self.in_flight = Gauge(
            "grpc_server_in_flight",
            "RPCs being handled now.",
            ("grpc_service", "grpc_method"),
            registry=registry,
        )


# What the batchers count: one submitted item each, so the unit depends on the server.
_ITEMS = "queue items (captioner: one per input image or text to embed; generator: one per call)"
# The operation label: what the queued items ask of the model.
_OPERATION = (
    "operation is the batch key's operation (captioner: caption, embed_image, embed_text, match, "
    "attention; generator: generate)"
)


class BatchMetrics:
    """Queue and batch metrics of every micro-batcher on a server, by ``model``
    and ``operation`` (``ModelRuntime._operation`` of the batch key); counts
    are in queue items (``_ITEMS``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("model", "operation")
        self.queue_depth = Gauge(
            "imaging_queue_depth",
            f"Items waiting in the model's queue, in {_ITEMS}; {_OPERATION}.",
            labels,
            registry=registry,
        )
        self.queue_wait_seconds = Histogram(
            "imaging_queue_wait_seconds",
            f"Time an item waited in the queue before its batch started, in seconds; {_OPERATION}.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.batch_size = Histogram(
            "imaging_batch_size",
            f"Items per batch run on the model, in {_ITEMS}; with continuous batching, per group "
            f"admitted together (a batch's first items, then each group that joins it); {_OPERATION}.",
            labels,
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "imaging_batch_seconds",
            f"Compute time of one batch on the model, in seconds; with continuous batching, of each "
            f"group admitted together, until the next group joins or the batch ends; {_OPERATION}.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.rejected = Counter(
            "imaging_queue_rejected",
            f"Items refused because the model's queue was full, in {_ITEMS}; refused calls are "
            'grpc_server_handled_total{grpc_code="RESOURCE_EXHAUSTED"}. '
            f"{_OPERATION}. A call refused while reserving room, before its batch key exists, counts "
            "under the operation it named to reserve(), else the server's only operation "
            '(generator: generate) or "" (captioner).',
            labels,
            registry=registry,
        )
        self.dropped = Counter(
            "imaging_queue_dropped",
            f"Queued items that left before compute, in {_ITEMS}, by reason (cancelled, deadline); "
            f"{_OPERATION}.",
            (*labels, "reason"),
            registry=registry,
        )


@dataclass
class MetricsEndpoint:
    """A running ``/metrics`` HTTP server."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsEndpoint:
    """Serves ``registry`` at ``http://host:port/metrics`` (port 0: a free one)."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server=server, thread=thread)
