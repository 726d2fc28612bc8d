"""Who is calling: API key (or the anonymous tier) to a ``Principal``, and what
that principal may call. Lookups are cached for ``key_cache_s``, which bounds
how long a revocation takes to reach every replica."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway import keys
from gateway.metrics import GatewayMetrics
from gateway.plans import Limits
from gateway.store.keystore import KeyRecord, KeyStore
from serving import errors

_CACHE_MAX = 100_000


@dataclass(frozen=True)
class Principal:
    """The caller: ``subject`` is what limits and the ledger are keyed by (a key
    id, or ``anon:<address>``); never a secret."""

    subject: str
    limits: Limits
    scopes: tuple[str, ...] = ()
    key: KeyRecord | None = None

    def may_call(self, full_method: str) -> bool:
        """Whether the scopes allow "/pkg.Service/Method"; no scopes: everything."""
        if not self.scopes:
            return True
        service_method = full_method.lstrip("/")
        service = service_method.split("/", 1)[0]
        return service in self.scopes or service_method in self.scopes

    def may_use_variant(self, variant: str) -> bool:
        allowed = self.limits.allowed_variants
        return not allowed or not variant or variant in allowed


class Authenticator:
    def __init__(
        self,
        store: KeyStore,
        metrics: GatewayMetrics,
        cache_s: float,
        anonymous: Limits | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._cache_s = cache_s
        self._anonymous = anonymous
        self._clock = clock
        # secret hash -> (monotonic time the entry expires, the key or None)
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}

    async def authenticate(self, metadata: dict[str, str], peer: str) -> Principal:
        try:
            return await self._authenticate(metadata, peer)
        except errors.Unauthenticated as exc:
            self._metrics.auth_failures.labels(exc.reason.removeprefix("API_KEY_").lower()).inc()
            raise

    async def _authenticate(self, metadata: dict[str, str], peer: str) -> Principal:
        credential = keys.credential_from_metadata(metadata)
        if credential is None:
            if self._anonymous is not None:
                return Principal(subject=f"anon:{client_address(peer)}", limits=self._anonymous)
            raise errors.Unauthenticated(
                "missing API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'",
                reason="API_KEY_MISSING",
            )
        record = await self._lookup(self._store.hash(keys.parse_secret(credential)))
        now = self._clock()
        if record is None:
            raise errors.Unauthenticated("unknown API key", reason="API_KEY_UNKNOWN")
        if record.revoke_time is not None:
            raise errors.Unauthenticated(
                f"API key {record.key_id} was revoked",
                reason="API_KEY_REVOKED",
                metadata={"key_id": record.key_id},
            )
        if record.expire_time is not None and record.expire_time <= now:
            raise errors.Unauthenticated(
                f"API key {record.key_id} has expired",
                reason="API_KEY_EXPIRED",
                metadata={"key_id": record.key_id},
            )
        return Principal(subject=record.key_id, limits=record.limits, scopes=record.scopes, key=record)

    async def _lookup(self, secret_hash: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(secret_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await asyncio.to_thread(self._store.lookup, secret_hash)
        record, secret_expires = found if found is not None else (None, None)
        ttl = self._cache_s
        if secret_expires is not None:  # a rotated-out secret: never trusted past its grace
            ttl = min(ttl, secret_expires - self._clock())
        if len(self._cache) >= _CACHE_MAX:
            self._cache = {h: v for h, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
        self._cache[secret_hash] = (now + ttl, record)
        return record

    def forget(self) -> None:
        """Drops every cached lookup: a key changed on this replica takes effect at once."""
        self._cache.clear()

    def check_scope(self, principal: Principal, full_method: str) -> None:
        """Raises PermissionDenied when the principal's scopes leave this method out."""
        if not principal.may_call(full_method):
            self._metrics.auth_failures.labels("scope").inc()
            raise errors.PermissionDenied(
                f"API key {principal.subject} may not call {full_method}; "
                f"its scopes: {', '.join(principal.scopes)}",
                reason="SCOPE_DENIED",
                metadata={"method": full_method},
            )

    def check_variant(self, principal: Principal, variant: str) -> None:
        """Raises PermissionDenied when the principal's plan leaves this variant out."""
        if not principal.may_use_variant(variant):
            self._metrics.auth_failures.labels("variant").inc()
            raise errors.PermissionDenied(
                f"variant {variant!r} is not allowed for this key (plan {principal.limits.plan!r}); allowed: "
                + ", ".join(principal.limits.allowed_variants),
                reason="VARIANT_NOT_ALLOWED",
                metadata={"variant": variant, "plan": principal.limits.plan},
            )


def text_metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    """The call's text metadata as a dict (binary ``-bin`` entries left out)."""
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def check_admin(token: str, metadata: dict[str, str], metrics: GatewayMetrics) -> None:
    """Raises unless the call carries the admin token (compared in constant time)."""
    if not token:
        metrics.auth_failures.labels("admin").inc()
        raise errors.PermissionDenied(
            "AdminService is disabled: start the gateway with GATEWAY_ADMIN_TOKEN set",
            reason="ADMIN_DISABLED",
        )
    try:
        credential = keys.credential_from_metadata(metadata)
    except errors.Unauthenticated:
        credential = None
    if credential is None or not hmac.compare_digest(credential.encode(), token.encode()):
        metrics.auth_failures.labels("admin").inc()
        raise errors.Unauthenticated(
            "AdminService needs 'authorization: Bearer <admin token>' (GATEWAY_ADMIN_TOKEN)",
            reason="ADMIN_TOKEN_INVALID",
        )


def client_address(peer: str) -> str:
    """The host part of a gRPC peer string ("ipv4:127.0.0.1:5555" -> "127.0.0.1")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer or "unknown"
