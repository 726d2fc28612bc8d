"""Unpacks the ``google.rpc`` details that the imaging servers attach to errors.

try:
    stub.Caption(request)
except grpc.RpcError as exc:
    info = imaging.errors.details(exc)
    for violation in info.field_violations:
        print(violation.field, violation.description)
    if info.retry_after_s is not None:
        time.sleep(info.retry_after_s)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2


@dataclass
class ErrorDetails:
    """What a failed call's status carried, unpacked."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: list[error_details_pb2.BadRequest.FieldViolation] = field(default_factory=list)
    quota_violations: list[error_details_pb2.QuotaFailure.Violation] = field(default_factory=list)
    retry_after_s: float | None = None


def details(error: grpc.RpcError) -> ErrorDetails:
    """Returns the unpacked details of ``error`` (a sync or aio ``RpcError``)."""
    # Sync errors are grpc.Call objects; aio errors (AioRpcError) only look like one.
    if not all(hasattr(error, attr) for attr in ("code", "details", "trailing_metadata")):
        return ErrorDetails(code=grpc.StatusCode.UNKNOWN, message=str(error))
    call: Any = error
    result = ErrorDetails(code=call.code(), message=call.details() or "")
    status = _status_of(call)
    if status is None:
        return result
    for packed in status.details:
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            packed.Unpack(info)
            result.reason, result.metadata = info.reason, dict(info.metadata)
        elif packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            result.field_violations.extend(bad.field_violations)
        elif packed.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            packed.Unpack(quota)
            result.quota_violations.extend(quota.violations)
        elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            packed.Unpack(retry)
            result.retry_after_s = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return result


def _status_of(call: Any) -> status_pb2.Status | None:
    """Parses the ``grpc-status-details-bin`` trailer, when the server sent one."""
    for key, value in call.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None
