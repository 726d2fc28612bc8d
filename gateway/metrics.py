"""The gateway's own metrics, beside the shared RPC metrics. No label holds a
key id or a client address: per-key usage lives in the ledger."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving.metrics import LATENCY_BUCKETS_S

_WRITE_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.auth_failures = Counter(
            "imaging_gateway_auth_failures",
            "Calls refused for their credential, by reason (missing, malformed, unknown, revoked, expired, "
            "scope, variant, admin).",
            ("reason",),
            registry=registry,
        )
        self.rate_limited = Counter(
            "imaging_gateway_rate_limited",
            "Calls refused by a key's rate limit (RESOURCE_EXHAUSTED with RetryInfo).",
            ("grpc_service", "grpc_method"),
            registry=registry,
        )
        self.quota_refused = Counter(
            "imaging_gateway_quota_refused",
            "Calls refused because a monthly quota was spent (RESOURCE_EXHAUSTED with QuotaFailure).",
            ("grpc_service", "grpc_method"),
            registry=registry,
        )
        self.billed_images = Counter(
            "imaging_gateway_billed_images",
            "Images billed (one ledger record each), by method and variant or model.",
            ("grpc_method", "model"),
            registry=registry,
        )
        self.billed_cost = Counter(
            "imaging_gateway_billed_cost_micros",
            "Cost billed, in millionths of the currency unit, by method and variant or model.",
            ("grpc_method", "model"),
            registry=registry,
        )
        self.ledger_write_seconds = Histogram(
            "imaging_gateway_ledger_write_seconds",
            "Time of one ledger transaction (a group commit of one or more writes), in seconds.",
            buckets=_WRITE_BUCKETS_S,
            registry=registry,
        )
        self.ledger_group_writes = Histogram(
            "imaging_gateway_ledger_group_writes",
            "Writes (reservations, settlements) committed together in one ledger transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.ledger_failures = Counter(
            "imaging_gateway_ledger_failures",
            "Ledger writes that failed (store unreachable); the call got UNAVAILABLE and was not billed.",
            registry=registry,
        )
        self.backend_seconds = Histogram(
            "imaging_gateway_backend_seconds",
            "Time from forwarding a call to the backend's last message, in seconds.",
            ("backend", "grpc_method"),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.backend_errors = Counter(
            "imaging_gateway_backend_errors",
            "Calls the backend answered with an error status, by backend and code.",
            ("backend", "grpc_code"),
            registry=registry,
        )
        self.backend_up = Gauge(
            "imaging_gateway_backend_up",
            "1 while the backend's grpc.health.v1 says SERVING, else 0.",
            ("backend",),
            registry=registry,
        )
        self.store_up = Gauge(
            "imaging_gateway_store_up", "1 while the key store and ledger answer, else 0.", registry=registry
        )

    def observe_commit(self, seconds: float, writes: int) -> None:
        self.ledger_write_seconds.observe(seconds)
        self.ledger_group_writes.observe(writes)
