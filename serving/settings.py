"""Settings every server shares, read from flags and environment variables.

Each server subclasses ``ServerSettings`` with its own ``env_prefix`` (for
example ``CAPTIONER_PORT``) and builds one frozen instance in ``__main__``
(``load_settings``), which it passes down; nothing reads configuration at
import time. Flags win over the environment, which wins over the defaults.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.batcher import BatcherSettings


class ServerSettings(BaseSettings):
    """Transport, health and observability settings of one gRPC server."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", cli_kebab_case=True)

    host: str = Field("127.0.0.1", description="Address to bind gRPC to; 0.0.0.0 in containers.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus /metrics endpoint.")
    metrics_port: int = Field(9101, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    grace_period_s: float = Field(
        20.0,
        ge=0,
        description="On SIGTERM, after the drain delay, how long calls in flight may take to finish; then "
        "they are cut with UNAVAILABLE + RetryInfo. Keep drain_delay_s + grace_period_s below the pod's "
        "terminationGracePeriodSeconds (30 s by default on Kubernetes).",
    )
    drain_delay_s: float = Field(
        5.0,
        ge=0,
        description="On SIGTERM, how long to keep serving while health says NOT_SERVING, so that load "
        "balancers and Kubernetes endpoints stop routing here first (they take a few seconds); new calls "
        "after it are refused with UNAVAILABLE + RetryInfo. 0 for a laptop (make run sets it).",
    )
    max_message_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest request or response message, in bytes."
    )
    keepalive_time_s: float = Field(30.0, gt=0, description="Interval of server keepalive pings.")
    keepalive_timeout_s: float = Field(10.0, gt=0, description="How long a keepalive ping may go unanswered.")
    max_connection_age_s: float = Field(
        0.0,
        ge=0,
        description="Closes connections older than this so clients rebalance across replicas; 0: never.",
    )
    max_connection_age_grace_s: float = Field(
        30.0, ge=0, description="How long calls on a connection closed for age may still run."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_json: bool = Field(True, description="Logs as JSON lines (false: plain text).")


class ModelServerSettings(ServerSettings):
    """A server with a model behind a micro-batcher."""

    max_batch_size: int = Field(8, ge=1, description="Most compatible requests run as one batch.")
    max_batch_delay_ms: float = Field(
        5.0, ge=0, description="How long the oldest request waits for others to join its batch."
    )
    max_queue_size: int = Field(
        64, ge=1, description="Requests that may wait per model; beyond, RESOURCE_EXHAUSTED + RetryInfo."
    )

    @model_validator(mode="after")
    def _queue_holds_a_batch(self) -> ModelServerSettings:
        if self.max_queue_size < self.max_batch_size:
            raise ValueError("max_queue_size must be >= max_batch_size, or batches can never fill")
        return self

    def batcher(self) -> BatcherSettings:
        return BatcherSettings(self.max_batch_size, self.max_batch_delay_ms, self.max_queue_size)


S = TypeVar("S", bound=ServerSettings)


def load_settings(cls: type[S], argv: list[str] | None) -> S:
    """Builds ``cls`` from the environment and, when given, command-line flags."""
    if argv is None:
        return cls()
    return cls(_cli_parse_args=argv)
