"""The ledger's writes as plain SQL, each run inside a group-commit transaction.

They are hand-written statements sent straight to the driver because they
run for every call: building SQLAlchemy expressions per call cost more than
the database did. The same text serves SQLite and PostgreSQL (named
parameters are rewritten once for psycopg).

Refusals leave nothing behind, so that a refused write never rolls back its
group: a refused reservation changes no row, and a settle that may not bill
deletes the records it just inserted and gives its reservation back.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

from gateway.plans import Limits
from gateway.store.group_commit import Refused
from serving import errors

SWEEP_BATCH = 500


@dataclass(frozen=True)
class BilledImage:
    """One image to bill, as the backend reported it."""

    image_index: int
    model: str
    megapixels: float
    input_megapixels: float
    token_count: int
    cost_micros: int
    currency_code: str


@dataclass(frozen=True)
class Reservation:
    """Images and spend held for one call until it settles or expires."""

    reservation_id: str
    subject: str
    period: str
    images: int
    spend_micros: int


_RESERVE = """
UPDATE quota_counters
SET images_reserved = images_reserved + :images, spend_reserved_micros = spend_reserved_micros + :spend
WHERE subject = :subject AND period = :period
  AND (:image_limit = 0 OR images_used + images_reserved + :images <= :image_limit)
  AND (:spend_limit = 0 OR spend_used_micros + spend_reserved_micros + :spend <= :spend_limit)
"""
_NEW_COUNTER = """
INSERT INTO quota_counters
  (subject, period, images_used, spend_used_micros, images_reserved, spend_reserved_micros)
VALUES (:subject, :period, 0, 0, 0, 0) ON CONFLICT DO NOTHING
"""
_NEW_RESERVATION = """
INSERT INTO reservations (reservation_id, subject, period, images, spend_micros, expire_time)
VALUES (:reservation_id, :subject, :period, :images, :spend, :expire_time)
"""
_DELETE_RESERVATION = "DELETE FROM reservations WHERE reservation_id = :reservation_id"
_TAKE_RESERVATION = """
DELETE FROM reservations WHERE reservation_id = :reservation_id
RETURNING subject, period, images, spend_micros
"""
_UNRESERVE = """
UPDATE quota_counters
SET images_reserved = images_reserved - :images, spend_reserved_micros = spend_reserved_micros - :spend
WHERE subject = :subject AND period = :period
"""
# Moves what was held into what is used; what is billed beyond what was held
# (a reservation already expired, a cost above its estimate) must still fit.
_SETTLE = """
UPDATE quota_counters
SET images_used = images_used + :billed, spend_used_micros = spend_used_micros + :billed_spend,
    images_reserved = images_reserved - :held, spend_reserved_micros = spend_reserved_micros - :held_spend
WHERE subject = :subject AND period = :period
  AND (:billed <= :held OR :image_limit = 0
       OR images_used + images_reserved - :held + :billed <= :image_limit)
  AND (:billed_spend <= :held_spend OR :spend_limit = 0
       OR spend_used_micros + spend_reserved_micros - :held_spend + :billed_spend <= :spend_limit)
"""
_RECORD_COLUMNS = (
    "record_id",
    "subject",
    "period",
    "method",
    "model",
    "image_index",
    "megapixels",
    "input_megapixels",
    "token_count",
    "cost_micros",
    "currency_code",
    "request_id",
    "create_time",
)
_CLAIM_IDEMPOTENCY_KEY = """
INSERT INTO idempotency_keys (subject, idempotency_key, fingerprint, create_time)
VALUES (:subject, :idempotency_key, :fingerprint, :now) ON CONFLICT DO NOTHING
"""
_STORED_FINGERPRINT = """
SELECT fingerprint FROM idempotency_keys WHERE subject = :subject AND idempotency_key = :idempotency_key
"""
_EXPIRED = (
    "SELECT reservation_id FROM reservations WHERE expire_time < :now ORDER BY expire_time LIMIT :limit"
)
_COUNTER = """
SELECT images_used, images_reserved, spend_used_micros, spend_reserved_micros
FROM quota_counters WHERE subject = :subject AND period = :period
"""


def reserve(
    conn: Connection,
    subject: str,
    period: str,
    limits: Limits,
    images: int,
    spend: int,
    expire_time: float,
) -> Reservation:
    """Holds ``images`` and ``spend`` against the key's quota, or refuses."""
    params = {
        "subject": subject,
        "period": period,
        "images": images,
        "spend": spend,
        "image_limit": limits.images_per_month,
        "spend_limit": limits.spend_per_month_micros,
    }
    if not _update_counter(conn, _RESERVE, params):
        raise Refused(_quota_error(conn, subject, period, limits, images, spend))
    reservation = Reservation(secrets.token_hex(16), subject, period, images, spend)
    _execute(
        conn,
        _NEW_RESERVATION,
        {**params, "reservation_id": reservation.reservation_id, "expire_time": expire_time},
    )
    return reservation


def claim_idempotency_key(
    conn: Connection, subject: str, idempotency_key: str, fingerprint: str, now: float, record_ids: list[str]
) -> int:
    """Records the key's request fingerprint; returns how many of the call's
    images are not billed yet (all of them the first time)."""
    params = {"subject": subject, "idempotency_key": idempotency_key, "fingerprint": fingerprint, "now": now}
    if _execute(conn, _CLAIM_IDEMPOTENCY_KEY, params).rowcount == 1:
        return len(record_ids)
    if _execute(conn, _STORED_FINGERPRINT, params).scalar_one() != fingerprint:
        raise Refused(
            errors.FailedPrecondition(
                "x-idempotency-key was already used with a different request; "
                "use a new key for a new request",
                reason="IDEMPOTENCY_KEY_REUSED",
            )
        )
    if not record_ids:
        return 0
    billed = _execute(conn, _count_records_sql(len(record_ids)), _numbered("id", record_ids)).scalar_one()
    return len(record_ids) - int(billed)


def settle(
    conn: Connection,
    reservation: Reservation | None,
    subject: str,
    period: str,
    limits: Limits,
    rows: Sequence[dict[str, Any]],
) -> list[str]:
    """Writes the records not written before and moves the reservation into
    what is used; returns the ids of the records it wrote."""
    held = held_spend = 0
    if reservation is not None:
        taken = _execute(conn, _DELETE_RESERVATION, {"reservation_id": reservation.reservation_id})
        if taken.rowcount == 1:  # else it expired and was swept: nothing is held any more
            held, held_spend = reservation.images, reservation.spend_micros
    new: list[str] = []
    if rows:
        params = {f"{column}_{i}": row[column] for i, row in enumerate(rows) for column in _RECORD_COLUMNS}
        new = list(_execute(conn, _insert_records_sql(len(rows)), params).scalars())
    cost_of = {row["record_id"]: row["cost_micros"] for row in rows}
    params = {
        "subject": subject,
        "period": period,
        "billed": len(new),
        "billed_spend": sum(cost_of[record_id] for record_id in new),
        "held": held,
        "held_spend": held_spend,
        "image_limit": limits.images_per_month,
        "spend_limit": limits.spend_per_month_micros,
    }
    if _update_counter(conn, _SETTLE, params):
        return new
    # Refused: undo this write alone, so that its group still commits.
    if new:
        _execute(conn, _delete_records_sql(len(new)), _numbered("id", new))
    _execute(conn, _UNRESERVE, {"subject": subject, "period": period, "images": held, "spend": held_spend})
    raise Refused(_quota_error(conn, subject, period, limits, len(new), int(params["billed_spend"])))


def _update_counter(conn: Connection, update: str, params: dict[str, Any]) -> bool:
    """Runs a conditional counter update; the month's first call makes the row
    (or finds that a concurrent call just made it) and tries once more."""
    if _execute(conn, update, params).rowcount == 1:
        return True
    _execute(conn, _NEW_COUNTER, params)
    return bool(_execute(conn, update, params).rowcount == 1)


def release(conn: Connection, reservation_id: str) -> bool:
    """Gives a reservation back; False when it was already settled or swept."""
    row = _execute(conn, _TAKE_RESERVATION, {"reservation_id": reservation_id}).first()
    if row is None:
        return False
    _execute(
        conn,
        _UNRESERVE,
        {"subject": row.subject, "period": row.period, "images": row.images, "spend": row.spend_micros},
    )
    return True


def sweep(conn: Connection, now: float) -> int:
    """Releases reservations past their expiry; returns how many."""
    expired = list(_execute(conn, _EXPIRED, {"now": now, "limit": SWEEP_BATCH}).scalars())
    return sum(release(conn, reservation_id) for reservation_id in expired)


def _quota_error(
    conn: Connection, subject: str, period: str, limits: Limits, images: int, spend: int
) -> errors.QuotaExceeded:
    """Says which quota refused the call and what is left of it."""
    row = _execute(conn, _COUNTER, {"subject": subject, "period": period}).first()
    used_images = (row.images_used + row.images_reserved) if row else 0
    used_spend = (row.spend_used_micros + row.spend_reserved_micros) if row else 0
    violations = []
    if limits.images_per_month and used_images + images > limits.images_per_month:
        left = max(limits.images_per_month - used_images, 0)
        violations.append(
            errors.QuotaViolation(
                subject=f"api_key:{subject}",
                description=f"images per month: {limits.images_per_month}; this call needs {images}, "
                f"{left} left in {period} (in-flight calls included)",
            )
        )
    if limits.spend_per_month_micros and used_spend + spend > limits.spend_per_month_micros:
        left = max(limits.spend_per_month_micros - used_spend, 0)
        violations.append(
            errors.QuotaViolation(
                subject=f"api_key:{subject}",
                description=f"spend per month: {limits.spend_per_month_micros} micros "
                f"{limits.currency_code}; this call needs {spend}, {left} left in {period}",
            )
        )
    return errors.QuotaExceeded(
        message=f"quota exhausted for {period}: " + "; ".join(v.description for v in violations),
        metadata={"period": period},
        violations=violations,
    )


def _execute(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    if conn.dialect.name == "postgresql":
        sql = _pyformat(sql)
    return conn.exec_driver_sql(sql, params)


@cache
def _pyformat(sql: str) -> str:
    """``:name`` (sqlite3's style) to ``%(name)s`` (psycopg's)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


@cache
def _insert_records_sql(count: int) -> str:
    values = ", ".join(
        "(" + ", ".join(f":{column}_{i}" for column in _RECORD_COLUMNS) + ")" for i in range(count)
    )
    return (
        f"INSERT INTO usage_records ({', '.join(_RECORD_COLUMNS)}) VALUES {values} "
        "ON CONFLICT DO NOTHING RETURNING record_id"
    )


@cache
def _count_records_sql(count: int) -> str:
    return f"SELECT count(*) FROM usage_records WHERE record_id IN ({_placeholders('id', count)})"


@cache
def _delete_records_sql(count: int) -> str:
    return f"DELETE FROM usage_records WHERE record_id IN ({_placeholders('id', count)})"


def _placeholders(name: str, count: int) -> str:
    return ", ".join(f":{name}_{i}" for i in range(count))


def _numbered(name: str, values: Sequence[str]) -> dict[str, Any]:
    return {f"{name}_{i}": value for i, value in enumerate(values)}
