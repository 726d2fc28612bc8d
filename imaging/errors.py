"""Unpacks the ``google.rpc`` details that the imaging services attach to errors.

try:
    stub.Caption(request)
except grpc.RpcError as exc:
    info = imaging.errors.details(exc)
    for violation in info.field_violations:
        print(violation.field, violation.description)
    if info.retry_after_s is not None:
        time.sleep(info.retry_after_s)

The typed clients in ``imaging.client`` raise ``imaging.client.ImagingError``,
built from the same unpacking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

REQUEST_ID_KEY = "x-request-id"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


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
    # The server's x-request-id for the call (initial or trailing metadata); "" when none came.
    request_id: str = ""


def details(error: grpc.RpcError) -> ErrorDetails:
    """Returns the unpacked details of ``error`` (a sync or aio ``RpcError``)."""
    # Sync errors are grpc.Call objects; aio errors (AioRpcError) only look like one,
    # with the same methods answering synchronously.
    if not all(hasattr(error, attr) for attr in ("code", "details", "trailing_metadata")):
        return ErrorDetails(code=grpc.StatusCode.UNKNOWN, message=str(error))
    call: Any = error
    result = ErrorDetails(code=call.code(), message=call.details() or "", request_id=_request_id(call))
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
    """The ``google.rpc.Status`` of the ``grpc-status-details-bin`` trailer, when
    the server sent one. ``rpc_status`` checks that it agrees with the call's own
    code and message; a status that does not (a proxy rewrote the message) still
    counts, since its details are the server's."""
    try:
        status: status_pb2.Status | None = rpc_status.from_call(call)
        return status
    except ValueError:
        for key, value in call.trailing_metadata() or ():
            if key == _STATUS_DETAILS_KEY:
                return status_pb2.Status.FromString(value)
        return None


def _request_id(call: Any) -> str:
    """The x-request-id the server sent: in the initial metadata (which error
    statuses keep), else in the trailers."""
    for getter in ("initial_metadata", "trailing_metadata"):
        method = getattr(call, getter, None)
        if method is None:
            continue
        try:
            entries = method() or ()
        except Exception:  # a call that never reached a server may have no metadata to give
            entries = ()
        for key, value in entries:
            if key == REQUEST_ID_KEY:
                return value if isinstance(value, str) else value.decode("ascii", "replace")
    return ""
