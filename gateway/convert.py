"""Conversions between the store's records and ``imaging.gateway.v1`` messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from gateway.plans import PLANS, Limits
from gateway.store.keystore import AuditEvent, KeyRecord
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2
from serving import errors


def timestamp(epoch_s: float | None) -> timestamp_pb2.Timestamp | None:
    if epoch_s is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(epoch_s * 1e9))
    return stamp


def quota(limits: Limits) -> gateway_pb2.Quota:
    return gateway_pb2.Quota(
        plan=limits.plan,
        requests_per_minute=limits.requests_per_minute,
        images_per_month=limits.images_per_month,
        spend_per_month=common_pb2.Cost(
            currency_code=limits.currency_code, amount_micros=limits.spend_per_month_micros
        ),
        allowed_variants=list(limits.allowed_variants),
    )


def api_key(record: KeyRecord, now: float) -> gateway_pb2.ApiKey:
    if record.revoke_time is not None:
        state = gateway_pb2.API_KEY_STATE_REVOKED
    elif record.expire_time is not None and record.expire_time <= now:
        state = gateway_pb2.API_KEY_STATE_EXPIRED
    else:
        state = gateway_pb2.API_KEY_STATE_ACTIVE
    return gateway_pb2.ApiKey(
        key_id=record.key_id,
        display_name=record.display_name,
        state=state,
        quota=quota(record.limits),
        secret_prefix=record.secret_prefix,
        create_time=timestamp(record.create_time),
        revoke_time=timestamp(record.revoke_time),
        scopes=list(record.scopes),
        expire_time=timestamp(record.expire_time),
    )


def limits_from(message: gateway_pb2.Quota, field: str, default_plan: str) -> Limits:
    """The limits a request asks for: a known plan's by name when no limit is
    given, else exactly the values sent. Negative values name their field."""
    if message.requests_per_minute < 0:
        raise errors.InvalidArgument.of(f"{field}.requests_per_minute", "must be >= 0 (0: unlimited)")
    if message.images_per_month < 0:
        raise errors.InvalidArgument.of(f"{field}.images_per_month", "must be >= 0 (0: unlimited)")
    if message.spend_per_month.amount_micros < 0:
        raise errors.InvalidArgument.of(
            f"{field}.spend_per_month.amount_micros", "must be >= 0 (0: unlimited)"
        )
    plan = message.plan or default_plan
    if len(plan) > 64:
        raise errors.InvalidArgument.of(f"{field}.plan", "must be at most 64 characters")
    no_limits = not (
        message.requests_per_minute
        or message.images_per_month
        or message.spend_per_month.amount_micros
        or message.allowed_variants
    )
    if no_limits and plan in PLANS:
        return PLANS[plan]
    return Limits(
        plan=plan,
        requests_per_minute=message.requests_per_minute,
        images_per_month=message.images_per_month,
        spend_per_month_micros=message.spend_per_month.amount_micros,
        currency_code=message.spend_per_month.currency_code or "USD",
        allowed_variants=tuple(message.allowed_variants),
    )


def audit_event(event: AuditEvent) -> gateway_pb2.AuditEvent:
    return gateway_pb2.AuditEvent(
        event_id=event.event_id,
        create_time=timestamp(event.create_time),
        actor=event.actor,
        action=event.action,
        key_id=event.key_id,
        details=event.details,
    )


def usage_record(row: Any) -> gateway_pb2.UsageRecord:
    return gateway_pb2.UsageRecord(
        record_id=row.record_id,
        key_id=row.subject,
        method=row.method,
        model=row.model,
        usage=common_pb2.Usage(
            image_count=1,
            megapixels=row.megapixels,
            input_megapixels=row.input_megapixels,
            token_count=row.token_count,
            cost=common_pb2.Cost(currency_code=row.currency_code, amount_micros=row.cost_micros),
        ),
        request_id=row.request_id,
        create_time=timestamp(row.create_time),
        image_index=row.image_index,
    )
