"""API keys: create, list, revoke, rotate, set limits, look up by secret hash,
and the append-only audit log of every change (blocking; callers use a thread)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway import keys
from gateway.plans import Limits
from gateway.store.errors import reports_unavailable
from gateway.store.schema import api_keys, audit_events, key_secrets
from serving import errors


@dataclass(frozen=True)
class KeyRecord:
    """A key without its secret."""

    key_id: str
    display_name: str
    secret_prefix: str
    limits: Limits
    scopes: tuple[str, ...]
    create_time: float
    expire_time: float | None
    revoke_time: float | None


@dataclass(frozen=True)
class AuditEvent:
    event_id: int
    create_time: float
    actor: str
    action: str
    key_id: str
    details: dict[str, str]


class KeyStore:
    def __init__(self, writer: Engine, reader: Engine, pepper: bytes, clock: Callable[[], float] = time.time):
        self._writer = writer
        self._reader = reader
        self._pepper = pepper
        self._clock = clock

    def hash(self, secret: str) -> str:
        return keys.hash_secret(self._pepper, secret)

    def create(
        self,
        display_name: str,
        limits: Limits,
        scopes: Sequence[str],
        expire_time: float | None,
        actor: str,
    ) -> tuple[KeyRecord, str]:
        """Returns the new key and its secret (the only time it exists in clear)."""
        secret = keys.new_secret()
        key_id = keys.new_key_id()
        now = self._clock()
        with self._writer.begin() as conn:
            conn.execute(
                sa.insert(api_keys).values(
                    key_id=key_id,
                    display_name=display_name,
                    secret_prefix=keys.display_prefix(secret),
                    create_time=now,
                    expire_time=expire_time,
                    scopes=list(scopes),
                    **_limit_columns(limits),
                )
            )
            conn.execute(sa.insert(key_secrets).values(secret_hash=self.hash(secret), key_id=key_id))
            _audit(conn, now, actor, "create", key_id, {"display_name": display_name, **_describe(limits)})
        return self._get(key_id), secret

    @reports_unavailable
    def revoke(self, key_id: str, actor: str) -> KeyRecord:
        now = self._clock()
        with self._writer.begin() as conn:
            self._require(conn, key_id)
            conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoke_time.is_(None))
                .values(revoke_time=now)
            )
            _audit(conn, now, actor, "revoke", key_id, {})
        return self._get(key_id)

    @reports_unavailable
    def rotate(self, key_id: str, grace_s: float, actor: str) -> tuple[KeyRecord, str, float | None]:
        """Issues a new secret; the old ones work ``grace_s`` longer (0: not at all)."""
        secret = keys.new_secret()
        now = self._clock()
        old_expire = now + grace_s if grace_s > 0 else None
        with self._writer.begin() as conn:
            record = self._require(conn, key_id)
            if record.revoke_time is not None:
                raise errors.FailedPrecondition(
                    f"key {key_id} is revoked; create a new key", reason="KEY_REVOKED"
                )
            old = key_secrets.c
            if old_expire is None:
                conn.execute(sa.delete(key_secrets).where(old.key_id == key_id))
            else:
                conn.execute(
                    sa.update(key_secrets)
                    .where(old.key_id == key_id, (old.expire_time.is_(None)) | (old.expire_time > old_expire))
                    .values(expire_time=old_expire)
                )
            conn.execute(sa.insert(key_secrets).values(secret_hash=self.hash(secret), key_id=key_id))
            conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.key_id == key_id)
                .values(secret_prefix=keys.display_prefix(secret))
            )
            _audit(conn, now, actor, "rotate", key_id, {"grace_period_s": f"{grace_s:g}"})
        return self._get(key_id), secret, old_expire

    @reports_unavailable
    def set_limits(self, key_id: str, limits: Limits, actor: str) -> KeyRecord:
        now = self._clock()
        with self._writer.begin() as conn:
            self._require(conn, key_id)
            conn.execute(
                sa.update(api_keys).where(api_keys.c.key_id == key_id).values(**_limit_columns(limits))
            )
            _audit(conn, now, actor, "set_quota", key_id, _describe(limits))
        return self._get(key_id)

    @reports_unavailable
    def lookup(self, secret_hash: str) -> tuple[KeyRecord, float | None] | None:
        """The key a secret belongs to and when that secret stops working (a
        rotated-out one), if it still works. Revoked and expired keys are
        returned too: the caller says which it is."""
        now = self._clock()
        s = key_secrets.c
        with self._reader.connect() as conn:
            row = conn.execute(
                sa.select(api_keys, s.expire_time.label("secret_expire_time"))
                .join(key_secrets, s.key_id == api_keys.c.key_id)
                .where(s.secret_hash == secret_hash, s.expire_time.is_(None) | (s.expire_time > now))
            ).first()
        return (_record(row), row.secret_expire_time) if row is not None else None

    @reports_unavailable
    def get(self, key_id: str) -> KeyRecord:
        return self._get(key_id)

    @reports_unavailable
    def page(self, page_size: int, after_key: str, show_revoked: bool) -> list[KeyRecord]:
        """Keys newest first, ``page_size`` of them after the key id ``after_key``."""
        k = api_keys.c
        query = sa.select(api_keys).order_by(k.create_time.desc(), k.key_id.desc()).limit(page_size)
        if not show_revoked:
            query = query.where(k.revoke_time.is_(None))
        with self._reader.connect() as conn:
            if after_key:
                anchor = conn.execute(sa.select(k.create_time).where(k.key_id == after_key)).scalar()
                if anchor is None:
                    raise errors.InvalidArgument.of("page_token", "not a page token of ListApiKeys")
                query = query.where(sa.tuple_(k.create_time, k.key_id) < sa.tuple_(anchor, after_key))
            return [_record(row) for row in conn.execute(query)]

    @reports_unavailable
    def count(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

    @reports_unavailable
    def audit(self, page_size: int, before_id: int, key_id: str) -> list[AuditEvent]:
        a = audit_events.c
        query = sa.select(audit_events).order_by(a.event_id.desc()).limit(page_size)
        if before_id:
            query = query.where(a.event_id < before_id)
        if key_id:
            query = query.where(a.key_id == key_id)
        with self._reader.connect() as conn:
            return [
                AuditEvent(r.event_id, r.create_time, r.actor, r.action, r.key_id, json.loads(r.details))
                for r in conn.execute(query)
            ]

    def ping(self) -> None:
        with self._reader.connect() as conn:
            conn.execute(sa.select(1))

    def _get(self, key_id: str) -> KeyRecord:
        with self._reader.connect() as conn:
            return self._require(conn, key_id)

    @staticmethod
    def _require(conn: Connection, key_id: str) -> KeyRecord:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise errors.NotFound(f"no API key with id {key_id!r}", field="key_id", reason="KEY_NOT_FOUND")
        return _record(row)


def _limit_columns(limits: Limits) -> dict[str, Any]:
    return {
        "plan": limits.plan,
        "requests_per_minute": limits.requests_per_minute,
        "images_per_month": limits.images_per_month,
        "spend_per_month_micros": limits.spend_per_month_micros,
        "currency_code": limits.currency_code,
        "allowed_variants": list(limits.allowed_variants),
    }


def _describe(limits: Limits) -> dict[str, str]:
    return {
        key: json.dumps(value) if isinstance(value, list) else str(value)
        for key, value in _limit_columns(limits).items()
    }


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        display_name=row.display_name,
        secret_prefix=row.secret_prefix,
        limits=Limits(
            plan=row.plan,
            requests_per_minute=row.requests_per_minute,
            images_per_month=row.images_per_month,
            spend_per_month_micros=row.spend_per_month_micros,
            currency_code=row.currency_code,
            allowed_variants=tuple(row.allowed_variants),
        ),
        scopes=tuple(row.scopes),
        create_time=row.create_time,
        expire_time=row.expire_time,
        revoke_time=row.revoke_time,
    )


def _audit(
    conn: Connection, now: float, actor: str, action: str, key_id: str, details: dict[str, str]
) -> None:
    conn.execute(
        sa.insert(audit_events).values(
            create_time=now,
            actor=actor,
            action=action,
            key_id=key_id,
            details=json.dumps(details, sort_keys=True),
        )
    )
