"""Quota reservations and the usage ledger, written with group commit.

Every write (reserve, settle, release, sweep) is a small function of a
connection, queued to one writer thread that runs all queued writes in one
transaction and commits once: under load many calls share one disk sync,
and a call's usage records are durable before its response leaves.

Quotas can never be overspent, by any number of replicas: a reservation is a
conditional ``UPDATE`` of the key's counter row (``used + reserved + n <=
limit``), which the database serialises per row; settling moves the
reservation into ``used`` by the images actually billed. A reservation left by
a dead gateway expires and is swept back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.plans import Limits
from gateway.store.schema import idempotency_keys, quota_counters, reservations, usage_records
from serving import errors

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")
# Most writes folded into one transaction; bounds the time a commit holds locks.
MAX_GROUP = 256
SWEEP_BATCH = 500


def period_of(when: float) -> str:
    """The quota period (calendar month, UTC) of an epoch time: "2026-11"."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m")


def period_start(period: str) -> float:
    return datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC).timestamp()


def record_id(subject: str, call_key: str, image_index: int) -> str:
    """The id of the record billing image ``image_index`` of one logical call:
    a retry with the same idempotency key derives the same id and collides."""
    return hashlib.sha256(f"{subject}\n{call_key}\n{image_index}".encode()).hexdigest()[:32]


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


@dataclass(frozen=True)
class Claim:
    """What the gateway asks of the ledger before forwarding a call."""

    subject: str
    limits: Limits
    images: int
    spend_micros: int
    call_key: str  # "idem:<key>" or "call:<uuid>"
    fingerprint: str = ""  # of method + request bytes, when an idempotency key was sent
    idempotency_key: str = ""


@dataclass
class Outcome:
    """The result of a settle: the images newly billed (a retry bills none)."""

    billed: list[BilledImage] = field(default_factory=list)

    @property
    def images(self) -> int:
        return len(self.billed)

    @property
    def spend_micros(self) -> int:
        return sum(image.cost_micros for image in self.billed)


class _Refused(Exception):
    """Raised inside a write to roll back its transaction with a client error."""

    def __init__(self, error: errors.ServingError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _Write:
    run: Callable[[Connection], Any]
    done: Callable[[Any, BaseException | None], None]


class Ledger:
    """Reservations, settlements and reads of the usage ledger."""

    def __init__(
        self,
        writer: Engine,
        reader: Engine,
        clock: Callable[[], float] = time.time,
        observe_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._observe_commit = observe_commit or (lambda seconds, writes: None)
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="ledger-writer", daemon=True)
        self._thread.start()

    # -- writes -----------------------------------------------------------------

    async def reserve(self, claim: Claim, ttl_s: float) -> Reservation | None:
        """Holds ``claim``'s images and spend, or raises QuotaExceeded /
        FailedPrecondition (an idempotency key reused for another request).
        Returns None when nothing needs holding (unlimited key, nothing to bill)."""
        return await self._submit(lambda conn: self._reserve(conn, claim, ttl_s))

    async def settle(
        self,
        reservation: Reservation | None,
        claim: Claim,
        method: str,
        request_id: str,
        images: Sequence[BilledImage],
    ) -> Outcome:
        """Writes one record per image not billed before and releases the
        reservation, in one transaction; durable when this returns."""
        return await self._submit(
            lambda conn: self._settle(conn, reservation, claim, method, request_id, images)
        )

    async def release(self, reservation: Reservation | None) -> None:
        """Gives a reservation back (the call failed; nothing was delivered)."""
        if reservation is not None:
            await self._submit(lambda conn: self._release(conn, reservation.reservation_id))

    def release_nowait(self, reservation: Reservation | None) -> None:
        """Queues the release without waiting: for a call being cancelled, whose
        task may not await anything any more."""
        if reservation is not None:
            self._queue.put(_Write(lambda conn: self._release(conn, reservation.reservation_id), _ignore))

    async def sweep_expired(self) -> int:
        """Releases reservations past their expiry (their gateway died); returns how many."""
        return await self._submit(self._sweep)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _submit(self, run: Callable[[Connection], _T]) -> asyncio.Future[_T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_resolve, future, result, error)

        self._queue.put(_Write(run, done))
        return future

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._run_group(group)
                    return
                group.append(nxt)
            self._run_group(group)

    def _run_group(self, group: list[_Write]) -> None:
        start = time.perf_counter()
        try:
            with self._writer.begin() as conn:
                results = [self._attempt(write, conn) for write in group]
                if any(isinstance(r, _Refused) for r in results):
                    raise _GroupHasRefusal
        except _GroupHasRefusal:
            pass  # one write must roll back: run each alone below
        except Exception:
            _LOGGER.warning("group commit failed; retrying its writes one by one", exc_info=True)
        else:
            self._observe_commit(time.perf_counter() - start, len(group))
            for write, result in zip(group, results, strict=True):
                write.done(result, None)
            return
        for write in group:
            self._run_alone(write)

    def _run_alone(self, write: _Write) -> None:
        start = time.perf_counter()
        try:
            with self._writer.begin() as conn:
                result = write.run(conn)
        except _Refused as refused:
            write.done(None, refused.error)
        except Exception as exc:
            _LOGGER.warning("ledger write failed", exc_info=True)
            write.done(
                None,
                errors.Unavailable(
                    "the usage ledger is unavailable; retry shortly",
                    reason="LEDGER_UNAVAILABLE",
                    retry_after_s=1.0,
                ),
            )
            del exc
        else:
            self._observe_commit(time.perf_counter() - start, 1)
            write.done(result, None)

    @staticmethod
    def _attempt(write: _Write, conn: Connection) -> Any:
        try:
            return write.run(conn)
        except _Refused as refused:
            return refused

    # -- the writes, each inside the writer's transaction ---------------------------

    def _reserve(self, conn: Connection, claim: Claim, ttl_s: float) -> Reservation | None:
        images, spend = claim.images, claim.spend_micros
        if claim.idempotency_key:
            images = self._claim_idempotency_key(conn, claim)
            spend = spend if images == claim.images else round(spend * images / max(claim.images, 1))
        limits = claim.limits
        if images <= 0 or (limits.images_per_month == 0 and limits.spend_per_month_micros == 0):
            return None
        now = self._clock()
        period = period_of(now)
        _ensure_counter(conn, claim.subject, period)
        c = quota_counters.c
        held = conn.execute(
            sa.update(quota_counters)
            .where(c.subject == claim.subject, c.period == period)
            .where(_within(c.images_used + c.images_reserved + images, limits.images_per_month))
            .where(
                _within(c.spend_used_micros + c.spend_reserved_micros + spend, limits.spend_per_month_micros)
            )
            .values(
                images_reserved=c.images_reserved + images,
                spend_reserved_micros=c.spend_reserved_micros + spend,
            )
        )
        if held.rowcount != 1:
            raise _Refused(_quota_error(conn, claim.subject, period, limits, images, spend))
        reservation = Reservation(secrets.token_hex(16), claim.subject, period, images, spend)
        conn.execute(
            sa.insert(reservations).values(
                reservation_id=reservation.reservation_id,
                subject=claim.subject,
                period=period,
                images=images,
                spend_micros=spend,
                expire_time=now + ttl_s,
            )
        )
        return reservation

    def _claim_idempotency_key(self, conn: Connection, claim: Claim) -> int:
        """Records the key's request fingerprint; returns how many of the call's
        images are not billed yet (all of them for a first call)."""
        inserted = conn.execute(
            _insert_ignore(conn, idempotency_keys).values(
                subject=claim.subject,
                idempotency_key=claim.idempotency_key,
                fingerprint=claim.fingerprint,
                create_time=self._clock(),
            )
        )
        if inserted.rowcount == 1:
            return claim.images
        stored = conn.execute(
            sa.select(idempotency_keys.c.fingerprint).where(
                idempotency_keys.c.subject == claim.subject,
                idempotency_keys.c.idempotency_key == claim.idempotency_key,
            )
        ).scalar_one()
        if stored != claim.fingerprint:
            raise _Refused(
                errors.FailedPrecondition(
                    "x-idempotency-key was already used with a different request; "
                    "use a new key for a new request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            )
        ids = [record_id(claim.subject, claim.call_key, i) for i in range(claim.images)]
        billed = conn.execute(
            sa.select(sa.func.count()).where(usage_records.c.record_id.in_(ids))
        ).scalar_one()
        return claim.images - int(billed)

    def _settle(
        self,
        conn: Connection,
        reservation: Reservation | None,
        claim: Claim,
        method: str,
        request_id: str,
        images: Sequence[BilledImage],
    ) -> Outcome:
        now = self._clock()
        period = reservation.period if reservation else period_of(now)
        held_images = held_spend = 0
        if reservation is not None and self._delete_reservation(conn, reservation.reservation_id):
            held_images, held_spend = reservation.images, reservation.spend_micros
        outcome = Outcome()
        if images:
            rows = [
                {
                    "record_id": record_id(claim.subject, claim.call_key, image.image_index),
                    "subject": claim.subject,
                    "period": period,
                    "method": method,
                    "model": image.model,
                    "image_index": image.image_index,
                    "megapixels": image.megapixels,
                    "input_megapixels": image.input_megapixels,
                    "token_count": image.token_count,
                    "cost_micros": image.cost_micros,
                    "currency_code": image.currency_code,
                    "request_id": request_id,
                    "create_time": now,
                }
                for image in images
            ]
            new_ids = set(
                conn.execute(
                    _insert_ignore(conn, usage_records).values(rows).returning(usage_records.c.record_id)
                ).scalars()
            )
            outcome.billed = [
                image for row, image in zip(rows, images, strict=True) if row["record_id"] in new_ids
            ]
        _ensure_counter(conn, claim.subject, period)
        c = quota_counters.c
        limits = claim.limits
        # What this call bills beyond what it held must still fit the quota.
        extra_images = outcome.images - held_images
        extra_spend = outcome.spend_micros - held_spend
        used_images = c.images_used + c.images_reserved + extra_images
        used_spend = c.spend_used_micros + c.spend_reserved_micros + extra_spend
        updated = conn.execute(
            sa.update(quota_counters)
            .where(c.subject == claim.subject, c.period == period)
            .where(_within(used_images, limits.images_per_month) if extra_images > 0 else sa.true())
            .where(_within(used_spend, limits.spend_per_month_micros) if extra_spend > 0 else sa.true())
            .values(
                images_used=c.images_used + outcome.images,
                spend_used_micros=c.spend_used_micros + outcome.spend_micros,
                images_reserved=c.images_reserved - held_images,
                spend_reserved_micros=c.spend_reserved_micros - held_spend,
            )
        )
        if updated.rowcount != 1:
            raise _Refused(
                _quota_error(conn, claim.subject, period, limits, outcome.images, outcome.spend_micros)
            )
        return outcome

    def _release(self, conn: Connection, reservation_id: str) -> None:
        row = conn.execute(
            sa.delete(reservations)
            .where(reservations.c.reservation_id == reservation_id)
            .returning(
                reservations.c.subject,
                reservations.c.period,
                reservations.c.images,
                reservations.c.spend_micros,
            )
        ).first()
        if row is not None:
            _unreserve(conn, row.subject, row.period, row.images, row.spend_micros)

    @staticmethod
    def _delete_reservation(conn: Connection, reservation_id: str) -> bool:
        deleted = conn.execute(sa.delete(reservations).where(reservations.c.reservation_id == reservation_id))
        return deleted.rowcount == 1

    def _sweep(self, conn: Connection) -> int:
        expired = (
            conn.execute(
                sa.select(reservations.c.reservation_id)
                .where(reservations.c.expire_time < self._clock())
                .limit(SWEEP_BATCH)
            )
            .scalars()
            .all()
        )
        for reservation_id in expired:
            self._release(conn, reservation_id)
        return len(expired)

    # -- reads ------------------------------------------------------------------------

    async def period_usage(self, subject: str, period: str) -> tuple[Any, list[Any]]:
        """The counter row of ``subject`` in ``period`` (or None) and its
        usage by method and model."""
        return await asyncio.to_thread(self._period_usage, subject, period)

    def _period_usage(self, subject: str, period: str) -> tuple[Any, list[Any]]:
        r = usage_records.c
        with self._reader.connect() as conn:
            counter = conn.execute(
                sa.select(quota_counters).where(
                    quota_counters.c.subject == subject, quota_counters.c.period == period
                )
            ).first()
            breakdown = conn.execute(
                sa.select(
                    r.method,
                    r.model,
                    sa.func.count().label("images"),
                    sa.func.sum(r.megapixels).label("megapixels"),
                    sa.func.sum(r.input_megapixels).label("input_megapixels"),
                    sa.func.sum(r.token_count).label("tokens"),
                    sa.func.sum(r.cost_micros).label("cost_micros"),
                )
                .where(r.subject == subject, r.period == period)
                .group_by(r.method, r.model)
                .order_by(r.method, r.model)
            ).all()
        return counter, list(breakdown)

    def export(self, start: float | None, end: float | None, subject: str, page: int = 1000) -> Iterator[Any]:
        """Records oldest first, read in pages (blocking; run it in a thread)."""
        r = usage_records.c
        after: tuple[float, str] | None = None
        while True:
            query = sa.select(usage_records).order_by(r.create_time, r.record_id).limit(page)
            if start is not None:
                query = query.where(r.create_time >= start)
            if end is not None:
                query = query.where(r.create_time < end)
            if subject:
                query = query.where(r.subject == subject)
            if after is not None:
                query = query.where(sa.tuple_(r.create_time, r.record_id) > sa.tuple_(*after))
            with self._reader.connect() as conn:
                rows = conn.execute(query).all()
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1].create_time, rows[-1].record_id)


class _GroupHasRefusal(Exception):
    pass


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the caller left; the write happened (or not) all the same
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _ignore(result: Any, error: BaseException | None) -> None:
    return None


def _within(total: Any, limit: int) -> Any:
    """``total <= limit`` where a zero limit means unlimited."""
    return sa.true() if limit == 0 else total <= limit


def _insert_ignore(conn: Connection, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _ensure_counter(conn: Connection, subject: str, period: str) -> None:
    conn.execute(
        _insert_ignore(conn, quota_counters).values(
            subject=subject,
            period=period,
            images_used=0,
            spend_used_micros=0,
            images_reserved=0,
            spend_reserved_micros=0,
        )
    )


def _unreserve(conn: Connection, subject: str, period: str, images: int, spend: int) -> None:
    c = quota_counters.c
    conn.execute(
        sa.update(quota_counters)
        .where(c.subject == subject, c.period == period)
        .values(
            images_reserved=c.images_reserved - images, spend_reserved_micros=c.spend_reserved_micros - spend
        )
    )


def _quota_error(
    conn: Connection, subject: str, period: str, limits: Limits, images: int, spend: int
) -> errors.QuotaExceeded:
    """Says which quota refused the call and what is left of it."""
    row = conn.execute(
        sa.select(quota_counters).where(
            quota_counters.c.subject == subject, quota_counters.c.period == period
        )
    ).first()
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
