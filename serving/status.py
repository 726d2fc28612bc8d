"""The one mapping from ``serving.errors`` to gRPC statuses with details.

Details follow AIP-193: one ``ErrorInfo`` (reason, domain, metadata), plus
``BadRequest`` for field violations, ``RetryInfo`` on overload and
``QuotaFailure`` on exhausted quota, packed with grpcio-status.
"""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from serving import errors


def to_status_proto(error: errors.ServingError) -> status_pb2.Status:
    """Returns the ``google.rpc.Status`` for ``error``, details packed."""
    details: list[object] = [
        error_details_pb2.ErrorInfo(
            reason=error.reason, domain=errors.ERROR_DOMAIN, metadata=dict(error.metadata)
        )
    ]
    if isinstance(error, errors.InvalidArgument) and error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, errors.NotFound) and error.field:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
                ]
            )
        )
    if isinstance(error, errors.ResourceExhausted | errors.Unavailable):
        details.append(error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after_s)))
    if isinstance(error, errors.QuotaExceeded):
        details.append(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(subject=v.subject, description=v.description)
                    for v in error.violations
                ]
            )
        )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    return status_pb2.Status(code=getattr(code_pb2, error.code), message=error.message, details=packed)


def to_grpc_status(error: errors.ServingError) -> grpc.Status:
    """Returns the status to pass to ``context.abort_with_status``."""
    return rpc_status.to_status(to_status_proto(error))


def internal_status(message: str = "internal error; see the server log for this request id") -> grpc.Status:
    """Returns a generic INTERNAL status that leaks nothing of the failure."""
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message))


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
