"""``AdminService``: key lifecycle, limits, usage export and the audit log,
guarded by the admin token. Every change is audited with the admin's identity."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import grpc

from gateway import convert
from gateway.auth import check_admin, client_address, text_metadata
from gateway.metrics import GatewayMetrics
from gateway.plans import plan_limits
from gateway.store.keystore import KeyStore
from gateway.store.ledger import Ledger
from imaging.captioner.v1 import captioner_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2
from serving import errors

_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
MAX_GRACE_S = 30 * 24 * 3600.0
ADMIN_IDENTITY = "x-admin-identity"


def known_scopes() -> set[str]:
    """Scopes a key may be given: a whole service or one of its methods."""
    services = [
        captioner_pb2.DESCRIPTOR.services_by_name["CaptionerService"],
        generator_pb2.DESCRIPTOR.services_by_name["GeneratorService"],
        gateway_pb2.DESCRIPTOR.services_by_name["UsageService"],
    ]
    return {s.full_name for s in services} | {f"{s.full_name}/{m.name}" for s in services for m in s.methods}


class AdminServicer(gateway_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: KeyStore,
        ledger: Ledger,
        admin_token: str,
        default_plan: str,
        metrics: GatewayMetrics,
        on_change: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._token = admin_token
        self._default_plan = default_plan
        self._metrics = metrics
        self._on_change = on_change
        self._clock = clock
        self._scopes = known_scopes()

    def _actor(self, context: _Context) -> str:
        metadata = text_metadata(context)
        check_admin(self._token, metadata, self._metrics)
        identity = metadata.get(ADMIN_IDENTITY, "")[:64]
        return f"admin{'/' + identity if identity else ''}@{client_address(context.peer())}"

    async def CreateApiKey(
        self, request: gateway_pb2.CreateApiKeyRequest, context: _Context
    ) -> gateway_pb2.CreateApiKeyResponse:
        actor = self._actor(context)
        if not 1 <= len(request.display_name) <= 128:
            raise errors.InvalidArgument.of("display_name", "required, 1 to 128 characters")
        unknown = [s for s in request.scopes if s not in self._scopes]
        if unknown:
            raise errors.InvalidArgument.of(
                "scopes", f"unknown scope {unknown[0]!r}: use a service's full name or 'Service/Method'"
            )
        expire = None
        if request.HasField("expire_time"):
            expire = request.expire_time.ToNanoseconds() / 1e9
            if expire <= self._clock():
                raise errors.InvalidArgument.of("expire_time", "must be in the future")
        limits = (
            convert.limits_from(request.quota, "quota", self._default_plan)
            if request.HasField("quota")
            else plan_limits(self._default_plan)
        )
        record, secret = await asyncio.to_thread(
            self._store.create, request.display_name, limits, list(request.scopes), expire, actor
        )
        return gateway_pb2.CreateApiKeyResponse(key=convert.api_key(record, self._clock()), secret=secret)

    async def ListApiKeys(
        self, request: gateway_pb2.ListApiKeysRequest, context: _Context
    ) -> gateway_pb2.ListApiKeysResponse:
        self._actor(context)
        size = _page_size(request.page_size)
        after = _decode_token(request.page_token)
        records = await asyncio.to_thread(self._store.page, size + 1, after, request.show_revoked)
        now = self._clock()
        page = records[:size]
        token = _encode_token(page[-1].key_id) if len(records) > size else ""
        return gateway_pb2.ListApiKeysResponse(
            keys=[convert.api_key(r, now) for r in page], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: gateway_pb2.RevokeApiKeyRequest, context: _Context
    ) -> gateway_pb2.RevokeApiKeyResponse:
        actor = self._actor(context)
        _require_key_id(request.key_id)
        record = await asyncio.to_thread(self._store.revoke, request.key_id, actor)
        self._on_change()
        return gateway_pb2.RevokeApiKeyResponse(key=convert.api_key(record, self._clock()))

    async def RotateApiKey(
        self, request: gateway_pb2.RotateApiKeyRequest, context: _Context
    ) -> gateway_pb2.RotateApiKeyResponse:
        actor = self._actor(context)
        _require_key_id(request.key_id)
        grace = request.grace_period.ToNanoseconds() / 1e9
        if not 0 <= grace <= MAX_GRACE_S:
            raise errors.InvalidArgument.of("grace_period", "must be 0 to 30 days")
        record, secret, old_expire = await asyncio.to_thread(self._store.rotate, request.key_id, grace, actor)
        self._on_change()
        return gateway_pb2.RotateApiKeyResponse(
            key=convert.api_key(record, self._clock()),
            secret=secret,
            old_secret_expire_time=convert.timestamp(old_expire),
        )

    async def SetQuota(
        self, request: gateway_pb2.SetQuotaRequest, context: _Context
    ) -> gateway_pb2.SetQuotaResponse:
        actor = self._actor(context)
        _require_key_id(request.key_id)
        if not request.HasField("quota"):
            raise errors.InvalidArgument.of("quota", "required: the new limits, replacing the old ones whole")
        limits = convert.limits_from(request.quota, "quota", self._default_plan)
        record = await asyncio.to_thread(self._store.set_limits, request.key_id, limits, actor)
        self._on_change()
        return gateway_pb2.SetQuotaResponse(key=convert.api_key(record, self._clock()))

    async def ExportUsage(
        self, request: gateway_pb2.ExportUsageRequest, context: _Context
    ) -> AsyncIterator[gateway_pb2.ExportUsageResponse]:
        self._actor(context)
        start = request.start_time.ToNanoseconds() / 1e9 if request.HasField("start_time") else None
        end = request.end_time.ToNanoseconds() / 1e9 if request.HasField("end_time") else None
        if start is not None and end is not None and end <= start:
            raise errors.InvalidArgument.of("end_time", "must be after start_time")
        rows = self._ledger.export(start, end, request.key_id)
        while True:
            chunk = await asyncio.to_thread(_take, rows, 500)
            for row in chunk:
                yield gateway_pb2.ExportUsageResponse(record=convert.usage_record(row))
            if len(chunk) < 500:
                return

    async def ListAuditEvents(
        self, request: gateway_pb2.ListAuditEventsRequest, context: _Context
    ) -> gateway_pb2.ListAuditEventsResponse:
        self._actor(context)
        size = _page_size(request.page_size)
        token = _decode_token(request.page_token)
        if token and not token.isdigit():
            raise errors.InvalidArgument.of("page_token", "not a page token of ListAuditEvents")
        events = await asyncio.to_thread(self._store.audit, size + 1, int(token or 0), request.key_id)
        page = events[:size]
        next_token = _encode_token(str(page[-1].event_id)) if len(events) > size else ""
        return gateway_pb2.ListAuditEventsResponse(
            events=[convert.audit_event(e) for e in page], next_page_token=next_token
        )


def _take(rows: Any, count: int) -> list[Any]:
    taken = []
    for row in rows:
        taken.append(row)
        if len(taken) == count:
            break
    return taken


def _require_key_id(key_id: str) -> None:
    if not key_id:
        raise errors.InvalidArgument.of("key_id", "required")


def _page_size(requested: int) -> int:
    if requested == 0:
        return 100
    if not 1 <= requested <= 1000:
        raise errors.InvalidArgument.of("page_size", "must be 1 to 1000 (0: 100)")
    return requested


def _encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode_token(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument.of("page_token", "not a page token from this service") from None
