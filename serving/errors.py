"""Transport-neutral errors raised by servicers, engines and the batcher.

Each names the gRPC status it stands for by name only (no grpc import), so
engines can raise them without knowing the wire; ``serving.status`` is the one
place that turns them into gRPC statuses with ``google.rpc`` details (AIP-193).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_DOMAIN = "imaging.serving"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: ``field`` is a path such as ``images[2].data``."""

    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    """One exhausted quota: ``subject`` such as ``api_key:key_12ab``."""

    subject: str
    description: str


@dataclass
class ServingError(Exception):
    """Base class: a status ``code`` name, a message that says how to fix the
    call, an UPPER_SNAKE ``reason`` and string ``metadata`` for ErrorInfo."""

    message: str
    reason: str = "ERROR"
    metadata: dict[str, str] = field(default_factory=dict)
    code = "UNKNOWN"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass
class InvalidArgument(ServingError):
    """The request is malformed; ``violations`` name the fields."""

    violations: list[FieldViolation] = field(default_factory=list)
    reason: str = "INVALID_ARGUMENT"
    code = "INVALID_ARGUMENT"

    @classmethod
    def of(cls, field_path: str, description: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgument:
        """Returns the error for a single bad field, with its description as message."""
        return cls(
            message=f"{field_path}: {description}",
            reason=reason,
            violations=[FieldViolation(field_path, description)],
        )


@dataclass
class NotFound(ServingError):
    """A named thing (variant, adapter, key) does not exist; ``field`` names
    the request field that named it, if any."""

    field: str = ""
    reason: str = "NOT_FOUND"
    code = "NOT_FOUND"


@dataclass
class FailedPrecondition(ServingError):
    """The server is not configured for the call (say which setting enables it)."""

    reason: str = "NOT_CONFIGURED"
    code = "FAILED_PRECONDITION"


@dataclass
class ResourceExhausted(ServingError):
    """Overload or rate limit: retry after ``retry_after_s`` seconds."""

    retry_after_s: float = 1.0
    reason: str = "OVERLOADED"
    code = "RESOURCE_EXHAUSTED"


@dataclass
class QuotaExceeded(ServingError):
    """A quota is used up; no retry helps before the period resets."""

    violations: list[QuotaViolation] = field(default_factory=list)
    reason: str = "QUOTA_EXCEEDED"
    code = "RESOURCE_EXHAUSTED"


@dataclass
class Unauthenticated(ServingError):
    """No valid credential was sent."""

    reason: str = "UNAUTHENTICATED"
    code = "UNAUTHENTICATED"


@dataclass
class PermissionDenied(ServingError):
    """The credential is valid but may not make this call."""

    reason: str = "PERMISSION_DENIED"
    code = "PERMISSION_DENIED"


@dataclass
class Unavailable(ServingError):
    """The server cannot take the call now (loading, draining); retry later."""

    retry_after_s: float = 1.0
    reason: str = "UNAVAILABLE"
    code = "UNAVAILABLE"


@dataclass
class DeadlineExceeded(ServingError):
    """The call's deadline passed before its result was ready."""

    reason: str = "DEADLINE_EXCEEDED"
    code = "DEADLINE_EXCEEDED"


@dataclass
class Cancelled(ServingError):
    """The caller cancelled the call."""

    reason: str = "CANCELLED"
    code = "CANCELLED"


@dataclass
class Unimplemented(ServingError):
    """The method exists in the contract but this server does not serve it yet."""

    reason: str = "UNIMPLEMENTED"
    code = "UNIMPLEMENTED"
