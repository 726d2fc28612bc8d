"""The ledger's promise: every billed image recorded exactly once and no key
past its quota, with any number of gateway replicas, through retries, dead
backends and dead gateways. Real SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from grpc_health.v1 import health_pb2, health_pb2_grpc

import imaging.errors
from gateway.plans import Limits
from gateway.store.database import Engines, migrate, open_engines
from gateway.store.ledger import BilledImage, Claim, Ledger
from gateway.store.schema import metadata
from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2 as gen
from imaging.generator.v1 import generator_pb2_grpc
from serving import errors
from tests.gateway_support import (
    ADMIN,
    REDIS_URL,
    Process,
    bearer,
    create_key,
    gateway_env,
    postgres_database,
    scene_png,
    spawn,
)

PEPPER = "shared-test-pepper"
IMAGE = common_pb2.Image(data=scene_png(), media_type="image/png")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engines]:
    if request.param == "sqlite":
        opened = open_engines(f"sqlite:///{tmp_path / 'ledger.db'}")
        migrate(opened.writer)
        yield opened
        opened.dispose()
        return
    with postgres_database() as url:
        opened = open_engines(url)
        migrate(opened.writer)
        yield opened
        opened.dispose()


def claim(subject: str, images: int, limit: int, call_key: str, **extra: object) -> Claim:
    return Claim(
        subject=subject,
        limits=Limits(plan="test", images_per_month=limit),
        images=images,
        spend_micros=0,
        call_key=call_key,
        **extra,  # type: ignore[arg-type]
    )


def billed(count: int) -> list[BilledImage]:
    return [BilledImage(i, "", 0.004096, 0.0, 5, 10, "USD") for i in range(count)]


async def call_through(ledger: Ledger, c: Claim) -> bool:
    """Reserve, 'forward' (a short sleep), settle: True when billed."""
    try:
        reservation = await ledger.reserve(c, ttl_s=60)
    except errors.QuotaExceeded:
        return False
    await asyncio.sleep(0.005)
    await ledger.settle(reservation, c, "/m", "req", billed(c.images))
    return True


async def test_concurrent_calls_on_two_ledgers_never_pass_the_quota(engines: Engines) -> None:
    # Two Ledger objects on one database stand for two gateway replicas.
    second = open_engines(str(engines.writer.url.render_as_string(hide_password=False)))
    ledgers = [Ledger(engines.writer, engines.reader), Ledger(second.writer, second.reader)]
    try:
        outcomes = await asyncio.gather(
            *(call_through(ledgers[i % 2], claim("key_a", 1, 15, f"call:{i}")) for i in range(60))
        )
        assert outcomes.count(True) == 15
        counter, breakdown = await ledgers[0].period_usage("key_a", _period())
        assert (counter.images_used, counter.images_reserved) == (15, 0)
        assert breakdown[0].images == 15 and breakdown[0].tokens == 75
    finally:
        for ledger in ledgers:
            ledger.close()
        second.dispose()


async def test_a_retried_call_bills_once_and_a_reused_key_is_refused(engines: Engines) -> None:
    ledger = Ledger(engines.writer, engines.reader)
    try:
        first = claim("key_b", 2, 3, "idem:abc", idempotency_key="abc", fingerprint="f1")
        assert await call_through(ledger, first)
        # The retry reserves nothing (both images are billed) and bills nothing again.
        assert await ledger.reserve(first, ttl_s=60) is None
        outcome = await ledger.settle(None, first, "/m", "req2", billed(2))
        assert outcome.images == 0
        with pytest.raises(errors.FailedPrecondition) as caught:
            await ledger.reserve(
                claim("key_b", 2, 3, "idem:abc", idempotency_key="abc", fingerprint="f2"), 60
            )
        assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
        counter, _ = await ledger.period_usage("key_b", _period())
        assert counter.images_used == 2
    finally:
        ledger.close()


async def test_expired_reservations_are_swept_back(engines: Engines) -> None:
    ledger = Ledger(engines.writer, engines.reader)
    try:
        held = await ledger.reserve(claim("key_c", 3, 4, "call:x"), ttl_s=0.05)
        assert held is not None
        with pytest.raises(errors.QuotaExceeded):
            await ledger.reserve(claim("key_c", 2, 4, "call:y"), ttl_s=60)
        await asyncio.sleep(0.1)
        assert await ledger.sweep_expired() == 1
        assert await ledger.reserve(claim("key_c", 4, 4, "call:z"), ttl_s=60) is not None
        # A late settle of the swept call may not push the key past its quota.
        with pytest.raises(errors.QuotaExceeded):
            await ledger.settle(held, claim("key_c", 3, 4, "call:x"), "/m", "req", billed(3))
        counter, _ = await ledger.period_usage("key_c", _period())
        assert (counter.images_used, counter.images_reserved) == (0, 4)
    finally:
        ledger.close()


def test_migrations_create_exactly_the_schema_and_the_audit_log_is_append_only(engines: Engines) -> None:
    with engines.writer.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    with engines.writer.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (create_time, actor, action, key_id, details) "
                "VALUES (1, 'a', 'create', 'k', '{}')"
            )
        )
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engines.writer.begin() as conn:
            conn.execute(sa.text(statement))
    migrate(engines.writer)  # idempotent on every start


def _period() -> str:
    return time.strftime("%Y-%m", time.gmtime())


# -- through real gateway processes ------------------------------------------------


def caption_calls(addresses: list[str], secret: str, count: int, **metadata: str) -> list[grpc.StatusCode]:
    """``count`` concurrent one-image Caption calls spread over ``addresses``."""
    channels = [grpc.insecure_channel(a) for a in addresses]
    barrier = threading.Barrier(count)

    def one(i: int) -> grpc.StatusCode:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channels[i % len(channels)])
        barrier.wait()
        try:
            stub.Caption(
                cap.CaptionRequest(images=[IMAGE]),
                metadata=(*bearer(secret), *metadata.items()),
                timeout=60,
            )
        except grpc.RpcError as exc:
            info = imaging.errors.details(exc)
            assert info.reason == "QUOTA_EXCEEDED" and info.quota_violations, info
            return exc.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(count) as pool:
        codes = list(pool.map(one, range(count)))
    for channel in channels:
        channel.close()
    return codes


def records_of(address: str, key_id: str) -> list[gateway_pb2.UsageRecord]:
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.AdminServiceStub(channel)
        request = gateway_pb2.ExportUsageRequest(key_id=key_id)
        return [m.record for m in stub.ExportUsage(request, metadata=ADMIN, timeout=10)]


@pytest.fixture
def gateway_on_sqlite(backends: tuple[Process, Process], tmp_path: Path) -> Iterator[Process]:
    captioner, generator = backends
    process = spawn(
        "gateway", "GATEWAY", tmp_path, gateway_env(captioner.address, generator.address, tmp_path)
    )
    yield process
    process.stop()


@pytest.mark.slow
def test_concurrent_calls_bill_exactly_the_quota_on_sqlite(gateway_on_sqlite: Process) -> None:
    with grpc.insecure_channel(gateway_on_sqlite.address) as channel:
        key_id, secret = create_key(channel, gateway_pb2.Quota(plan="trial", images_per_month=5))
    codes = caption_calls([gateway_on_sqlite.address], secret, 16)
    assert codes.count(grpc.StatusCode.OK) == 5
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 11
    assert len(records_of(gateway_on_sqlite.address, key_id)) == 5


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_two_gateways_on_postgres_and_redis_share_quota_rate_limit_and_revocation(
    backends: tuple[Process, Process], tmp_path: Path
) -> None:
    captioner, generator = backends
    with postgres_database() as url:
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_REDIS_URL": REDIS_URL, "GATEWAY_KEY_PEPPER": PEPPER}
        replicas = [
            spawn(
                "gateway",
                "GATEWAY",
                tmp_path,
                gateway_env(captioner.address, generator.address, tmp_path / n, **env),
            )
            for n in ("a", "b")
        ]
        try:
            addresses = [r.address for r in replicas]
            with grpc.insecure_channel(addresses[0]) as channel:
                key_id, secret = create_key(channel, gateway_pb2.Quota(plan="trial", images_per_month=7))
            codes = caption_calls(addresses, secret, 20)
            assert codes.count(grpc.StatusCode.OK) == 7
            assert len(records_of(addresses[1], key_id)) == 7

            # One token bucket for both replicas.
            with grpc.insecure_channel(addresses[0]) as channel:
                _, limited = create_key(channel, gateway_pb2.Quota(plan="slow", requests_per_minute=4))
            allowed = 0
            for i in range(8):
                with grpc.insecure_channel(addresses[i % 2]) as channel:
                    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
                    try:
                        stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(limited), timeout=5)
                        allowed += 1
                    except grpc.RpcError as exc:
                        assert imaging.errors.details(exc).reason == "RATE_LIMITED"
            assert allowed == 4

            # Revoked on one replica, refused by the other within two seconds.
            with grpc.insecure_channel(addresses[0]) as a, grpc.insecure_channel(addresses[1]) as b:
                revokee_id, revokee = create_key(a, gateway_pb2.Quota(plan="unlimited"))
                other = captioner_pb2_grpc.CaptionerServiceStub(b)
                other.GetModelInfo(
                    cap.GetModelInfoRequest(), metadata=bearer(revokee), timeout=5
                )  # now cached
                gateway_pb2_grpc.AdminServiceStub(a).RevokeApiKey(
                    gateway_pb2.RevokeApiKeyRequest(key_id=revokee_id), metadata=ADMIN
                )
                revoked_at = time.monotonic()
                refused_after = _seconds_until_refused(
                    lambda: other.GetModelInfo(
                        cap.GetModelInfoRequest(), metadata=bearer(revokee), timeout=5
                    ),
                    revoked_at,
                )
                assert refused_after < 2.0

            # The store gone: every replica says NOT_SERVING.
            _drop_database(url)
            with grpc.insecure_channel(addresses[1]) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                deadline = time.monotonic() + 10
                while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != (
                    health_pb2.HealthCheckResponse.NOT_SERVING
                ):
                    assert time.monotonic() < deadline, "the gateway stayed SERVING without its store"
                    time.sleep(0.1)
                # A call now is the server's trouble, said with RetryInfo, and bills nothing.
                fresh = "img_" + "C" * 43  # not in any cache: the lookup needs the store
                stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Caption(cap.CaptionRequest(images=[IMAGE]), metadata=bearer(fresh), timeout=10)
                info = imaging.errors.details(caught.value)
                assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
                assert info.retry_after_s is not None
        finally:
            for replica in replicas:
                replica.stop()


def _seconds_until_refused(call: Callable[[], object], since: float) -> float:
    while time.monotonic() - since < 5:
        try:
            call()
        except grpc.RpcError as exc:
            assert imaging.errors.details(exc).reason == "API_KEY_REVOKED"
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError("the revoked key was still accepted after 5 s")


def _drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_retry_with_one_idempotency_key_bills_once(gateway_on_sqlite: Process) -> None:
    with grpc.insecure_channel(gateway_on_sqlite.address) as channel:
        key_id, secret = create_key(channel)
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        request = cap.CaptionRequest(images=[IMAGE, IMAGE])
        retry = (*bearer(secret), ("x-idempotency-key", "order-7"))
        first = stub.Caption(request, metadata=retry, timeout=30)
        again = stub.Caption(request, metadata=retry, timeout=30)
        assert [c.text for c in again.captions] == [c.text for c in first.captions]
        other = cap.CaptionRequest(images=[IMAGE])
        with pytest.raises(grpc.RpcError) as caught:
            stub.Caption(other, metadata=retry, timeout=30)
        info = imaging.errors.details(caught.value)
        assert (info.code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
        usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(
            gateway_pb2.GetUsageRequest(), metadata=bearer(secret)
        )
    assert usage.period_usage.image_count == 2
    assert len(records_of(gateway_on_sqlite.address, key_id)) == 2


def _long_stream(channel: grpc.Channel, secret: str) -> Iterator[gen.StreamGenerateResponse]:
    spec = gen.GenerationSpec(prompt="a big red circle on the left", variant="flux.1-dev", seed=5, steps=50)
    stub = generator_pb2_grpc.GeneratorServiceStub(channel)
    return stub.StreamGenerate(gen.StreamGenerateRequest(spec=spec), metadata=bearer(secret), timeout=120)


@pytest.mark.slow
def test_a_backend_killed_mid_stream_bills_nothing(backends: tuple[Process, Process], tmp_path: Path) -> None:
    generator = spawn("generator_svc", "GENERATOR", tmp_path)
    gateway = spawn(
        "gateway", "GATEWAY", tmp_path, gateway_env(backends[0].address, generator.address, tmp_path)
    )
    try:
        with grpc.insecure_channel(gateway.address) as channel:
            key_id, secret = create_key(channel, gateway_pb2.Quota(plan="pro", images_per_month=10))
            stream = _long_stream(channel, secret)
            assert next(stream).HasField("progress")
            generator.kill()
            with pytest.raises(grpc.RpcError) as caught:
                list(stream)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(
                gateway_pb2.GetUsageRequest(), metadata=bearer(secret)
            )
            assert usage.period_usage.image_count == 0 and usage.remaining_images == 10
        assert records_of(gateway.address, key_id) == []
    finally:
        generator.kill()
        gateway.stop()


@pytest.mark.slow
def test_a_gateway_killed_mid_call_leaves_no_reservation_past_expiry(
    backends: tuple[Process, Process], tmp_path: Path
) -> None:
    captioner, generator = backends
    env = gateway_env(
        captioner.address,
        generator.address,
        tmp_path,
        GATEWAY_RESERVATION_TTL_S="2",
        GATEWAY_SWEEP_EVERY_S="0.2",
    )
    first = spawn("gateway", "GATEWAY", tmp_path, env)
    with grpc.insecure_channel(first.address) as channel:
        key_id, secret = create_key(channel, gateway_pb2.Quota(plan="pro", images_per_month=1))
        stream = _long_stream(channel, secret)
        assert next(stream).HasField("progress")
        first.kill()
        with pytest.raises(grpc.RpcError):
            list(stream)
    database = sa.create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    with database.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reservations")).scalar_one() == 1
    second = spawn("gateway", "GATEWAY", tmp_path, env, port=first.port)
    try:
        deadline = time.monotonic() + 10
        with database.connect() as conn:
            while conn.execute(sa.text("SELECT count(*) FROM reservations")).scalar_one():
                assert time.monotonic() < deadline, "the dead gateway's reservation was never released"
                time.sleep(0.1)
        with grpc.insecure_channel(second.address) as channel:
            stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
            stub.Caption(
                cap.CaptionRequest(images=[IMAGE]), metadata=bearer(secret), timeout=30
            )  # the quota is back
        records = records_of(second.address, key_id)
        assert [r.method for r in records] == ["/imaging.captioner.v1.CaptionerService/Caption"]
        # Nothing in the store or the logs holds the secret in clear.
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("gateway.db*"))
        assert secret.encode() not in stored
        assert secret not in first.log_text() + second.log_text()
    finally:
        second.stop()
        database.dispose()
