"""When the clients retry a failed call, and how long they wait first.

Only where a retry is safe and can help:

- ``UNAVAILABLE`` (server unreachable, restarting, a backend down behind the
  gateway): after the server's ``RetryInfo`` delay when it sent one, else an
  exponential backoff with jitter;
- ``RESOURCE_EXHAUSTED`` *with* ``RetryInfo`` (rate limit, full queue): after
  that delay, never sooner;
- never ``RESOURCE_EXHAUSTED`` with ``QuotaFailure`` or without ``RetryInfo``
  (a monthly quota: no retry helps), nor any other code.

Every logical call carries one ``x-idempotency-key``, reused by its retries,
so a retry of a call the gateway already billed is not billed again. A stream
is retried only before its first message: after that, events would repeat.
The call's deadline (``timeout_s``) covers all of its attempts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from imaging.client.errors import ImagingError


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a call gets and how the waits between them grow.

    ``max_attempts`` counts the first try (1: never retry). Without
    ``RetryInfo`` the n-th wait is ``initial_backoff_s * multiplier**(n-1)``,
    capped at ``max_backoff_s``, then shortened by a random fraction of up to
    ``jitter`` (0-1) so that many clients do not retry in step. With
    ``RetryInfo`` the wait is the server's delay, lengthened by up to
    ``jitter`` of itself; a server delay above ``max_retry_delay_s`` (or
    beyond the call's deadline) is not waited for: the error is raised.
    """

    max_attempts: int = 4
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_retry_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (1: no retries)")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.max_retry_delay_s < 0:
            raise ValueError("backoff and delay limits must be >= 0 seconds")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be in [0, 1]")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt per call: every error is raised at once."""
        return cls(max_attempts=1)

    def delay_s(self, error: ImagingError, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retrying after ``error`` ended try number
        ``attempt`` (1-based), or None when the call must not be retried."""
        if attempt >= self.max_attempts or not retryable(error):
            return None
        draw = (rng or random).random()
        if error.retry_delay_s is not None:
            if error.retry_delay_s > self.max_retry_delay_s:
                return None
            return error.retry_delay_s * (1.0 + self.jitter * draw)
        backoff = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return backoff * (1.0 - self.jitter * draw)


def retryable(error: ImagingError) -> bool:
    """Whether a retry of the same call can succeed (see the module docstring)."""
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return True
    return (
        error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        and error.retry_delay_s is not None
        and not error.quota_violations
    )


@dataclass(frozen=True)
class RetryEvent:
    """Passed to a client's ``on_retry`` hook before each wait: the ``error``
    that ended try number ``attempt`` of ``method`` and the wait before the next."""

    method: str
    attempt: int
    delay_s: float
    error: ImagingError


RetryHook = Callable[[RetryEvent], None]
