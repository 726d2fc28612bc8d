"""The ledger's writes, applied a group at a time as a few set-based statements.

A group (everything queued while the previous commit ran) becomes a handful
of statements whatever its size: one ``DELETE`` of the reservations it
settles or releases, one ``INSERT`` of its usage records, one ``UPDATE`` of
every key's counter for what was billed, one conditional ``UPDATE`` that
holds every key's new reservations, and one ``INSERT`` of those. The
statements go straight to the driver: they run for every call, and building
SQLAlchemy expressions per call cost more than the database did. The same
text serves SQLite and PostgreSQL (named parameters are rewritten once for
psycopg).

Counter rows are locked in key order first, so groups of different replicas
cannot deadlock. Quota checks stay exact per call: a key's reservations are
held together when they all fit, and one by one only when they do not. A
refusal never rolls back its group: a refused reservation changes nothing,
and a settle that may not bill deletes the records it just wrote.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gateway.plans import Limits
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


@dataclass
class ReserveOp:
    """Hold quota for a call; with ``idempotency_key`` first check the key's
    fingerprint and hold only the images of the call not billed yet."""

    subject: str
    period: str
    limits: Limits
    images: int
    spend_micros: int
    now: float
    expire_time: float
    idempotency_key: str = ""
    fingerprint: str = ""
    record_ids: list[str] = field(default_factory=list)


@dataclass
class SettleOp:
    """Write a call's records and move its reservation into what is used."""

    reservation: Reservation | None
    subject: str
    period: str
    limits: Limits
    rows: Sequence[dict[str, Any]]
    # Record ids of a call without an idempotency key are new by construction
    # (a random call id is in them): they need no conflict check.
    fresh: bool = False


@dataclass
class ReleaseOp:
    """Give a reservation back."""

    reservation_id: str


@dataclass
class SweepOp:
    """Release every reservation that expired before ``now``."""

    now: float


Op = ReserveOp | SettleOp | ReleaseOp | SweepOp
Result = tuple[Any, errors.ServingError | None]

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
_INSERT_RECORD = (
    f"INSERT INTO usage_records ({', '.join(_RECORD_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in _RECORD_COLUMNS)})"
)
_INSERT_RESERVATION = """
INSERT INTO reservations (reservation_id, subject, period, images, spend_micros, expire_time)
VALUES (:reservation_id, :subject, :period, :images, :spend_micros, :expire_time)
"""
_HOLD = """
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
# Billed images move in, held ones move out; no check (what is billed fits in what was held).
_APPLY = """
UPDATE quota_counters
SET images_used = images_used + :billed, spend_used_micros = spend_used_micros + :billed_spend,
    images_reserved = images_reserved - :held, spend_reserved_micros = spend_reserved_micros - :held_spend
WHERE subject = :subject AND period = :period
"""
# The same for one call that bills beyond what it held (its reservation expired,
# or the cost exceeded the estimate): the excess must still fit the quota.
_APPLY_CHECKED = (
    _APPLY
    + """
  AND (:image_limit = 0 OR images_used + images_reserved - :held + :billed <= :image_limit)
  AND (:spend_limit = 0
       OR spend_used_micros + spend_reserved_micros - :held_spend + :billed_spend <= :spend_limit)
"""
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


class Sql:
    """A DB-API cursor that takes ``:name`` parameters on either database."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self.postgres = dialect == "postgresql"

    def run(self, sql: str, params: dict[str, Any]) -> Any:
        self._cursor.execute(_pyformat(sql) if self.postgres else sql, params)
        return self._cursor

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return list(self.run(sql, params).fetchall())

    def run_many(self, sql: str, params: Sequence[dict[str, Any]]) -> None:
        self._cursor.executemany(_pyformat(sql) if self.postgres else sql, params)


@dataclass
class _Key:
    """What one group does to one key's counter in one period."""

    billed: int = 0
    billed_spend: int = 0
    held: int = 0
    held_spend: int = 0
    checked_settles: list[int] = field(default_factory=list)
    reserves: list[int] = field(default_factory=list)


def run_group(sql: Sql, ops: Sequence[Op]) -> list[Result]:
    """Applies ``ops`` inside the caller's transaction; one result per op."""
    results: list[Result] = [(None, None)] * len(ops)
    keys: dict[tuple[str, str], _Key] = defaultdict(_Key)
    needed: dict[int, tuple[int, int]] = {}

    for i, op in enumerate(ops):
        if isinstance(op, ReserveOp):
            try:
                images = _claim_idempotency_key(sql, op) if op.idempotency_key else op.images
            except _Refused as refused:
                results[i] = (None, refused.error)
                continue
            spend = (
                op.spend_micros
                if images == op.images
                else round(op.spend_micros * images / max(op.images, 1))
            )
            if images > 0 and op.limits.has_quota:
                needed[i] = (images, spend)
                keys[(op.subject, op.period)].reserves.append(i)

    released = [op.reservation_id for op in ops if isinstance(op, ReleaseOp)]
    expired: set[str] = set()
    for op in ops:
        if isinstance(op, SweepOp):
            expired.update(row[0] for row in sql.rows(_EXPIRED, {"now": op.now, "limit": SWEEP_BATCH}))
    released += sorted(expired)
    swept = 0
    if released:
        for reservation_id, subject, period, images, spend in sql.rows(
            _take_reservations_sql(len(released)), _numbered(released)
        ):
            key = keys[(subject, period)]
            key.held += images
            key.held_spend += spend
            swept += reservation_id in expired  # a sweep reports expired ones only

    settles = [(i, op) for i, op in enumerate(ops) if isinstance(op, SettleOp)]
    held_ids = _settled_reservations(sql, [op.reservation for _, op in settles if op.reservation])
    new_ids = _insert_records(sql, settles)
    for i, op in settles:
        key = keys[(op.subject, op.period)]
        # A record two calls of this group share (a retry racing its original) bills once.
        new = [row for row in op.rows if row["record_id"] in new_ids]
        new_ids.difference_update(row["record_id"] for row in new)
        held, held_spend = (0, 0)
        if op.reservation is not None and op.reservation.reservation_id in held_ids:
            held, held_spend = op.reservation.images, op.reservation.spend_micros
        billed_spend = sum(int(row["cost_micros"]) for row in new)
        results[i] = ([row["record_id"] for row in new], None)
        if len(new) <= held and billed_spend <= held_spend:
            key.billed += len(new)
            key.billed_spend += billed_spend
            key.held += held
            key.held_spend += held_spend
        else:
            key.checked_settles.append(i)
            needed[i] = (held, held_spend)

    ordered = sorted(keys)
    if ordered:
        _lock_counters(sql, ordered)
        _apply_all(sql, [(k, keys[k]) for k in ordered])
    for k in ordered:
        for i in keys[k].checked_settles:
            op = ops[i]
            assert isinstance(op, SettleOp)
            results[i] = _checked_settle(sql, op, results[i][0], *needed[i])
    wanted = {k: [(i, ops[i], *needed[i]) for i in keys[k].reserves] for k in ordered if keys[k].reserves}
    held_together = _hold_together(sql, wanted)
    granted: list[tuple[Reservation, float]] = []
    for (subject, period), entries in wanted.items():
        if (subject, period) in held_together:
            ok = [i for i, *_ in entries]
        else:
            ok = _hold_each(sql, subject, period, entries, results)
        for i in ok:
            op = ops[i]
            assert isinstance(op, ReserveOp)
            images, spend = needed[i]
            granted.append(
                (Reservation(secrets.token_hex(16), subject, period, images, spend), op.expire_time)
            )
            results[i] = (granted[-1][0], None)
    if granted:
        _insert_reservations(sql, granted)
    for i, op in enumerate(ops):
        if isinstance(op, SweepOp):
            results[i] = (swept, None)
    return results


class _Refused(Exception):
    def __init__(self, error: errors.ServingError) -> None:
        super().__init__(error.message)
        self.error = error


def _claim_idempotency_key(sql: Sql, op: ReserveOp) -> int:
    """Records the key's request fingerprint; returns how many of the call's
    images are not billed yet (all of them the first time)."""
    params = {"subject": op.subject, "idempotency_key": op.idempotency_key, "fingerprint": op.fingerprint}
    if sql.run(_CLAIM_IDEMPOTENCY_KEY, {**params, "now": op.now}).rowcount == 1:
        return op.images
    stored = sql.rows(_STORED_FINGERPRINT, params)
    if not stored or stored[0][0] != op.fingerprint:
        raise _Refused(
            errors.FailedPrecondition(
                "x-idempotency-key was already used with a different request; "
                "use a new key for a new request",
                reason="IDEMPOTENCY_KEY_REUSED",
            )
        )
    if not op.record_ids:
        return 0
    billed = sql.rows(_count_records_sql(len(op.record_ids)), _numbered(op.record_ids))[0][0]
    return op.images - int(billed)


def _settled_reservations(sql: Sql, reservations: list[Reservation]) -> set[str]:
    """Deletes the reservations being settled; returns those that still existed
    (the others expired and were swept: nothing is held for them any more)."""
    if not reservations:
        return set()
    ids = [r.reservation_id for r in reservations]
    return {row[0] for row in sql.rows(_delete_reservations_sql(len(ids)), _numbered(ids))}


def _insert_records(sql: Sql, settles: list[tuple[int, SettleOp]]) -> set[str]:
    """Inserts the records not written before; returns the ids it wrote."""
    fresh = [row for _, op in settles if op.fresh for row in op.rows]
    if fresh:  # one prepared statement for all; a clash fails the group, never bills twice
        sql.run_many(_INSERT_RECORD, fresh)
    new = {row["record_id"] for row in fresh}
    retried = [row for _, op in settles if not op.fresh for row in op.rows]
    if retried:
        params = {f"{column}_{i}": row[column] for i, row in enumerate(retried) for column in _RECORD_COLUMNS}
        insert = _insert_sql(len(retried))
        new.update(row[0] for row in sql.rows(insert, params))
    return new


def _apply(
    sql: Sql, subject: str, period: str, billed: int, billed_spend: int, held: int, held_spend: int
) -> None:
    if not (billed or billed_spend or held or held_spend):
        return
    params = {
        "subject": subject,
        "period": period,
        "billed": billed,
        "billed_spend": billed_spend,
        "held": held,
        "held_spend": held_spend,
    }
    _update_counter(sql, _APPLY, params)


def _checked_settle(sql: Sql, op: SettleOp, new: list[str], held: int, held_spend: int) -> Result:
    """One settle that bills beyond what it held: only if the excess fits."""
    cost = {row["record_id"]: int(row["cost_micros"]) for row in op.rows}
    billed_spend = sum(cost[record_id] for record_id in new)
    params = {
        "subject": op.subject,
        "period": op.period,
        "billed": len(new),
        "billed_spend": billed_spend,
        "held": held,
        "held_spend": held_spend,
        "image_limit": op.limits.images_per_month,
        "spend_limit": op.limits.spend_per_month_micros,
    }
    if _update_counter(sql, _APPLY_CHECKED, params):
        return new, None
    # Refused: undo this settle alone, so that its group still commits.
    if new:
        sql.run(_delete_records_sql(len(new)), _numbered(new))
    _apply(sql, op.subject, op.period, 0, 0, held, held_spend)
    return None, _quota_error(sql, op.subject, op.period, op.limits, len(new), billed_spend)


def _lock_counters(sql: Sql, keys: list[tuple[str, str]]) -> None:
    """Makes the group's counter rows exist and, on PostgreSQL, locks them in
    key order, so that concurrent groups (other replicas) cannot deadlock."""
    params = _key_params(keys)
    sql.run(_new_counters_sql(len(keys)), params)
    if sql.postgres:
        sql.run(_lock_counters_sql(len(keys)), params)


def _apply_all(sql: Sql, keys: list[tuple[tuple[str, str], _Key]]) -> None:
    """Moves every key's billed images into used and its held ones out, in one update."""
    changed = [(k, key) for k, key in keys if key.billed or key.billed_spend or key.held or key.held_spend]
    if not changed:
        return
    params: dict[str, Any] = {}
    for i, ((subject, period), key) in enumerate(changed):
        values = (subject, period, key.billed, key.billed_spend, key.held, key.held_spend)
        params.update({f"{name}_{i}": value for name, value in zip(_APPLY_COLUMNS, values, strict=True)})
    sql.run(_apply_all_sql(len(changed)), params)


def _hold_together(
    sql: Sql, wanted: dict[tuple[str, str], list[tuple[int, Any, int, int]]]
) -> set[tuple[str, str]]:
    """Holds each key's reservations with one conditional update for all keys;
    returns the keys whose reservations all fit (the others go one by one)."""
    together = {k: entries for k, entries in wanted.items() if len({e[1].limits for e in entries}) == 1}
    if not together:
        return set()
    params: dict[str, Any] = {}
    for i, ((subject, period), entries) in enumerate(together.items()):
        limits = entries[0][1].limits
        values = (
            subject,
            period,
            sum(e[2] for e in entries),
            sum(e[3] for e in entries),
            limits.images_per_month,
            limits.spend_per_month_micros,
        )
        params.update({f"{name}_{i}": value for name, value in zip(_HOLD_COLUMNS, values, strict=True)})
    return {(row[0], row[1]) for row in sql.rows(_hold_all_sql(len(together)), params)}


def _hold_each(
    sql: Sql, subject: str, period: str, entries: list[tuple[int, Any, int, int]], results: list[Result]
) -> list[int]:
    """Holds one key's reservations one by one; returns the granted op indexes."""
    granted = []
    for i, op, images, spend in entries:
        if _hold(sql, subject, period, op.limits, images, spend):
            granted.append(i)
        else:
            results[i] = (None, _quota_error(sql, subject, period, op.limits, images, spend))
    return granted


def _hold(sql: Sql, subject: str, period: str, limits: Limits, images: int, spend: int) -> bool:
    params = {
        "subject": subject,
        "period": period,
        "images": images,
        "spend": spend,
        "image_limit": limits.images_per_month,
        "spend_limit": limits.spend_per_month_micros,
    }
    return _update_counter(sql, _HOLD, params)


def _update_counter(sql: Sql, update: str, params: dict[str, Any]) -> bool:
    """Runs a (conditional) counter update; the month's first call makes the
    row (or finds that a concurrent call just made it) and tries once more."""
    if sql.run(update, params).rowcount == 1:
        return True
    sql.run(_NEW_COUNTER, params)
    return bool(sql.run(update, params).rowcount == 1)


def _insert_reservations(sql: Sql, granted: list[tuple[Reservation, float]]) -> None:
    rows = [
        {
            "reservation_id": r.reservation_id,
            "subject": r.subject,
            "period": r.period,
            "images": r.images,
            "spend_micros": r.spend_micros,
            "expire_time": expire_time,
        }
        for r, expire_time in granted
    ]
    sql.run_many(_INSERT_RESERVATION, rows)


def _quota_error(
    sql: Sql, subject: str, period: str, limits: Limits, images: int, spend: int
) -> errors.QuotaExceeded:
    """Says which quota refused the call and what is left of it."""
    rows = sql.rows(_COUNTER, {"subject": subject, "period": period})
    used_images = rows[0][0] + rows[0][1] if rows else 0
    used_spend = rows[0][2] + rows[0][3] if rows else 0
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


@cache
def _pyformat(sql: str) -> str:
    """``:name`` (sqlite3's style) to ``%(name)s`` (psycopg's)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


@cache
def _insert_sql(count: int) -> str:
    """A multi-row insert of records that skips (and does not return) existing ones."""
    values = ", ".join(
        "(" + ", ".join(f":{column}_{i}" for column in _RECORD_COLUMNS) + ")" for i in range(count)
    )
    return (
        f"INSERT INTO usage_records ({', '.join(_RECORD_COLUMNS)}) VALUES {values} "
        "ON CONFLICT DO NOTHING RETURNING record_id"
    )


_APPLY_COLUMNS = ("v_subject", "v_period", "v_billed", "v_billed_spend", "v_held", "v_held_spend")
_HOLD_COLUMNS = ("v_subject", "v_period", "v_images", "v_spend", "v_image_limit", "v_spend_limit")


def _values(columns: tuple[str, ...], count: int) -> str:
    rows = ", ".join("(" + ", ".join(f":{column}_{i}" for column in columns) + ")" for i in range(count))
    return f"WITH v({', '.join(columns)}) AS (VALUES {rows})"


@cache
def _new_counters_sql(count: int) -> str:
    rows = ", ".join(f"(:v_subject_{i}, :v_period_{i}, 0, 0, 0, 0)" for i in range(count))
    return (
        "INSERT INTO quota_counters (subject, period, images_used, spend_used_micros, images_reserved, "
        f"spend_reserved_micros) VALUES {rows} ON CONFLICT DO NOTHING"
    )


@cache
def _lock_counters_sql(count: int) -> str:
    keys = ", ".join(f"(:v_subject_{i}, :v_period_{i})" for i in range(count))
    return (
        f"SELECT subject FROM quota_counters WHERE (subject, period) IN ({keys}) "
        "ORDER BY subject, period FOR UPDATE"
    )


@cache
def _apply_all_sql(count: int) -> str:
    return f"""{_values(_APPLY_COLUMNS, count)}
UPDATE quota_counters
SET images_used = images_used + v.v_billed,
    spend_used_micros = spend_used_micros + v.v_billed_spend,
    images_reserved = images_reserved - v.v_held,
    spend_reserved_micros = spend_reserved_micros - v.v_held_spend
FROM v WHERE subject = v.v_subject AND period = v.v_period"""


@cache
def _hold_all_sql(count: int) -> str:
    return f"""{_values(_HOLD_COLUMNS, count)}
UPDATE quota_counters
SET images_reserved = images_reserved + v.v_images, spend_reserved_micros = spend_reserved_micros + v.v_spend
FROM v WHERE subject = v.v_subject AND period = v.v_period
  AND (v.v_image_limit = 0 OR images_used + images_reserved + v.v_images <= v.v_image_limit)
  AND (v.v_spend_limit = 0 OR spend_used_micros + spend_reserved_micros + v.v_spend <= v.v_spend_limit)
RETURNING subject, period"""


def _key_params(keys: list[tuple[str, str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, (subject, period) in enumerate(keys):
        params[f"v_subject_{i}"] = subject
        params[f"v_period_{i}"] = period
    return params


@cache
def _count_records_sql(count: int) -> str:
    return f"SELECT count(*) FROM usage_records WHERE record_id IN ({_placeholders(count)})"


@cache
def _delete_records_sql(count: int) -> str:
    return f"DELETE FROM usage_records WHERE record_id IN ({_placeholders(count)})"


@cache
def _delete_reservations_sql(count: int) -> str:
    return (
        f"DELETE FROM reservations WHERE reservation_id IN ({_placeholders(count)}) RETURNING reservation_id"
    )


@cache
def _take_reservations_sql(count: int) -> str:
    return (
        f"DELETE FROM reservations WHERE reservation_id IN ({_placeholders(count)}) "
        "RETURNING reservation_id, subject, period, images, spend_micros"
    )


def _placeholders(count: int) -> str:
    return ", ".join(f":id_{i}" for i in range(count))


def _numbered(values: Iterable[str]) -> dict[str, Any]:
    return {f"id_{i}": value for i, value in enumerate(values)}
