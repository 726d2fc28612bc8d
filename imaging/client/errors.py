"""The exceptions of the typed clients: one per gRPC code, carrying the decoded
``google.rpc`` details, so a caller reads ``error.field_violations`` or
``error.retry_delay_s`` instead of parsing trailers.

    try:
        client.captioner.caption("cat.png")
    except imaging.client.InvalidArgumentError as error:
        for violation in error.field_violations:
            print(violation.field, violation.description)
    except imaging.client.RateLimitError as error:
        time.sleep(error.retry_delay_s or 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import grpc

import imaging.errors


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field: ``field`` is a path such as ``images[1].data``."""

    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    """One exhausted quota: ``subject`` such as ``api_key:key_12ab``."""

    subject: str
    description: str


class ImagingError(Exception):
    """A failed call, with what the server said about it.

    ``code`` is the gRPC status code and ``code_name`` its name
    ("INVALID_ARGUMENT"); ``reason`` and ``metadata`` come from
    ``google.rpc.ErrorInfo`` ("RATE_LIMITED", {"variant": ...});
    ``field_violations`` from ``BadRequest``; ``retry_delay_s`` from
    ``RetryInfo`` (None when the server gave none); ``quota_violations`` from
    ``QuotaFailure``. ``request_id`` is the server's ``x-request-id`` for the
    call, to quote in a support request ("" when no server answered), and
    ``attempts`` counts the tries made, retries included.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        quota_violations: tuple[QuotaViolation, ...] = (),
        retry_delay_s: float | None = None,
        request_id: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata: Mapping[str, str] = MappingProxyType(dict(metadata or {}))
        self.field_violations = field_violations
        self.quota_violations = quota_violations
        self.retry_delay_s = retry_delay_s
        self.request_id = request_id
        self.attempts = attempts

    @property
    def code_name(self) -> str:
        """The status code's name, for example "INVALID_ARGUMENT"."""
        name: str = self.code.name
        return name

    def __str__(self) -> str:
        text = f"{self.code_name}: {self.message}" if self.message else self.code_name
        if self.reason and self.reason not in text:
            text += f" [{self.reason}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code_name}, message={self.message!r}, reason={self.reason!r}, "
            f"request_id={self.request_id!r})"
        )


class CancelledError(ImagingError):
    """CANCELLED: the call was cancelled, usually by the caller."""


class InvalidArgumentError(ImagingError):
    """INVALID_ARGUMENT: the request is wrong; ``field_violations`` say where."""


class DeadlineExceededError(ImagingError):
    """DEADLINE_EXCEEDED: the call did not finish within its deadline (``timeout_s``)."""


class NotFoundError(ImagingError):
    """NOT_FOUND: a named thing (key, variant, adapter) does not exist."""


class PermissionDeniedError(ImagingError):
    """PERMISSION_DENIED: the key may not call this method or use this variant."""


class ResourceExhaustedError(ImagingError):
    """RESOURCE_EXHAUSTED: rate limit, quota or a full server queue."""


class RateLimitError(ResourceExhaustedError):
    """RESOURCE_EXHAUSTED with ``RetryInfo``: retrying after ``retry_delay_s`` helps
    (the clients already did, as their ``RetryPolicy`` allows)."""


class QuotaExceededError(ResourceExhaustedError):
    """RESOURCE_EXHAUSTED with ``QuotaFailure`` and no ``RetryInfo``: no retry helps
    before the quota period ends; ``quota_violations`` say which quota."""


class FailedPreconditionError(ImagingError):
    """FAILED_PRECONDITION: the server is not set up for the call (a model not
    loaded) or an idempotency key was reused with a different request."""


class UnimplementedError(ImagingError):
    """UNIMPLEMENTED: the server does not serve this method (an older server?)."""


class InternalError(ImagingError):
    """INTERNAL or UNKNOWN: the server failed; its log has ``request_id``."""


class UnavailableError(ImagingError):
    """UNAVAILABLE: the server (or a backend behind the gateway) cannot be
    reached or is shutting down; retried by the clients' ``RetryPolicy``."""


class UnauthenticatedError(ImagingError):
    """UNAUTHENTICATED: the API key (or admin token) is missing, malformed,
    unknown, revoked or expired; ``reason`` says which."""


_BY_CODE: dict[grpc.StatusCode, type[ImagingError]] = {
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


def error_class(code: grpc.StatusCode, retry_delay_s: float | None, quota: bool) -> type[ImagingError]:
    """The exception class for a status: RESOURCE_EXHAUSTED splits by its details."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if quota:
            return QuotaExceededError
        if retry_delay_s is not None:
            return RateLimitError
    return _BY_CODE.get(code, ImagingError)


def from_rpc_error(error: grpc.RpcError, attempts: int = 1) -> ImagingError:
    """The ``ImagingError`` subclass for a failed sync or asyncio gRPC call."""
    info = imaging.errors.details(error)
    quota = tuple(QuotaViolation(v.subject, v.description) for v in info.quota_violations)
    cls = error_class(info.code, info.retry_after_s, bool(quota))
    return cls(
        info.code,
        info.message,
        reason=info.reason,
        metadata=info.metadata,
        field_violations=tuple(FieldViolation(v.field, v.description) for v in info.field_violations),
        quota_violations=quota,
        retry_delay_s=info.retry_after_s,
        request_id=info.request_id,
        attempts=attempts,
    )
