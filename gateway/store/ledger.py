"""Quota reservations and the usage ledger.

Every write (reserve, settle, release, sweep) goes through group commit
(``group_commit``): one writer thread folds all queued writes into one
transaction, so under load many calls share one disk sync, and a call's
usage records are durable before its response leaves.

Quotas can never be overspent, by any number of replicas: a reservation is a
conditional ``UPDATE`` of the key's counter row (``used + reserved + n <=
limit``), which the database serialises per row; settling moves the
reservation into ``used`` by the images actually billed. A reservation left by
a dead gateway expires and is swept back. The statements are in
``ledger_writes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.plans import Limits
from gateway.store.errors import reports_unavailable
from gateway.store.group_commit import GroupCommitter
from gateway.store.ledger_writes import BilledImage, ReleaseOp, Reservation, ReserveOp, SettleOp, SweepOp
from gateway.store.schema import quota_counters, usage_records

__all__ = [
    "BilledImage",
    "Claim",
    "Ledger",
    "Outcome",
    "Reservation",
    "period_of",
    "period_start",
    "record_id",
]


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
class Claim:
    """What the gateway asks of the ledger before forwarding a call."""

    subject: str
    limits: Limits
    images: int
    spend_micros: int
    call_key: str  # "idem:<key>" or "call:<uuid>"
    fingerprint: str = ""  # of method + request bytes, when an idempotency key was sent
    idempotency_key: str = ""

    def record_ids(self) -> list[str]:
        return [record_id(self.subject, self.call_key, i) for i in range(self.images)]


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


class Ledger:
    """Reservations, settlements and reads of the usage ledger."""

    def __init__(
        self,
        writer: Engine,
        reader: Engine,
        clock: Callable[[], float] = time.time,
        observe_commit: Callable[[float, int], None] | None = None,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._writes = GroupCommitter(writer, sqlite_synchronous, observe_commit)

    async def reserve(self, claim: Claim, ttl_s: float) -> Reservation | None:
        """Holds ``claim``'s images and spend, or raises QuotaExceeded /
        FailedPrecondition (an idempotency key reused for another request).
        Returns None when nothing needs holding (unlimited key, nothing to bill)."""
        limits = claim.limits
        if not claim.idempotency_key and (not limits.has_quota or claim.images <= 0):
            return None
        now = self._clock()
        op = ReserveOp(
            subject=claim.subject,
            period=period_of(now),
            limits=limits,
            images=claim.images,
            spend_micros=claim.spend_micros,
            now=now,
            expire_time=now + ttl_s,
            idempotency_key=claim.idempotency_key,
            fingerprint=claim.fingerprint,
            record_ids=claim.record_ids() if claim.idempotency_key else [],
        )
        reservation: Reservation | None = await self._writes.submit(op)
        return reservation

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
        now = self._clock()
        period = reservation.period if reservation else period_of(now)
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
        fresh = claim.call_key.startswith("call:")
        op = SettleOp(reservation, claim.subject, period, claim.limits, rows, fresh)
        new = set(await self._writes.submit(op))
        return Outcome([image for image, row in zip(images, rows, strict=True) if row["record_id"] in new])

    async def release(self, reservation: Reservation | None) -> None:
        """Gives a reservation back (the call failed; nothing was delivered)."""
        if reservation is not None:
            await self._writes.submit(ReleaseOp(reservation.reservation_id))

    def release_nowait(self, reservation: Reservation | None) -> None:
        """Queues the release without waiting: for a call being cancelled, whose
        task may not await anything any more."""
        if reservation is not None:
            self._writes.submit_nowait(ReleaseOp(reservation.reservation_id))

    async def sweep_expired(self) -> int:
        """Releases reservations past their expiry (their gateway died); returns how many."""
        swept: int = await self._writes.submit(SweepOp(self._clock()))
        return swept

    def close(self) -> None:
        self._writes.close()

    # -- reads ------------------------------------------------------------------------

    async def period_usage(self, subject: str, period: str) -> tuple[Any, list[Any]]:
        """The counter row of ``subject`` in ``period`` (or None) and its
        usage by method and model."""
        return await asyncio.to_thread(self._period_usage, subject, period)

    @reports_unavailable
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
        after: tuple[float, str] | None = None
        while True:
            rows = self._export_page(start, end, subject, after, page)
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1].create_time, rows[-1].record_id)

    @reports_unavailable
    def _export_page(
        self, start: float | None, end: float | None, subject: str, after: tuple[float, str] | None, page: int
    ) -> list[Any]:
        r = usage_records.c
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
            return list(conn.execute(query).all())
