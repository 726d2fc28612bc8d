"""Token buckets of the gateway, in process and in Redis (the Redis server on 127.0.0.1:6379
must be running: its tests fail, never skip, without it)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from gateway.ratelimit import (
    LocalRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from serving.errors import Unavailable

REDIS_URL = "redis://127.0.0.1:6379"
DEAD_REDIS_URL = "redis://127.0.0.1:1"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    assert client.ping(), f"these tests need the Redis server at {REDIS_URL}"
    yield client
    client.close()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    lim: RateLimiter
    if request.param == "local":
        lim = LocalRateLimiter()
    else:
        lim = RedisRateLimiter(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
        assert await lim.ping(), f"these tests need the Redis server at {REDIS_URL}"
    yield lim
    await lim.close()


async def count_allowed(lim: RateLimiter, subject: str, per_minute: int, calls: int) -> int:
    return sum([(await lim.check(subject, per_minute)).allowed for _ in range(calls)])


async def test_burst_of_per_minute_then_refused_with_retry_after(limiter: RateLimiter) -> None:
    n = 30
    for i in range(n):
        assert await limiter.check("key_burst", n) == RateDecision(True, 0.0), f"call {i + 1} of {n}"
    refused = await limiter.check("key_burst", n)
    assert not refused.allowed
    # One token takes 60/n = 2 s; the burst itself refilled a little of it.
    assert refused.retry_after_s == pytest.approx(60 / n, abs=0.1)
    assert not (await limiter.check("key_burst", n)).allowed


async def test_refill_at_the_configured_rate(limiter: RateLimiter) -> None:
    per_minute = 600  # 10 tokens per second
    for _ in range(per_minute + 100):
        if not (await limiter.check("key_refill", per_minute)).allowed:
            break
    else:
        pytest.fail("the bucket never ran dry")
    await asyncio.sleep(0.25)  # ~2.5 tokens
    allowed = await count_allowed(limiter, "key_refill", per_minute, 10)
    assert 1 <= allowed <= 3


async def test_unlimited_never_refuses(limiter: RateLimiter) -> None:
    for per_minute in (0, -1):
        for _ in range(500):
            assert await limiter.check("key_unlimited", per_minute) == RateDecision(True, 0.0)


async def test_subjects_have_separate_buckets(limiter: RateLimiter) -> None:
    assert await count_allowed(limiter, "key_a", 5, 8) == 5
    assert await count_allowed(limiter, "anon:127.0.0.1", 5, 8) == 5
    assert not (await limiter.check("key_a", 5)).allowed


async def test_concurrent_checks_take_exactly_the_burst(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.check("key_gather", 50) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 50
    assert all(d.retry_after_s > 0 for d in decisions if not d.allowed)


@pytest.mark.redis
async def test_redis_replicas_share_one_bucket(redis_prefix: str, redis_client: redis.Redis) -> None:
    n = 20
    replicas = [RedisRateLimiter(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    try:
        decisions = await asyncio.gather(*(replicas[i % 2].check("key_shared", n) for i in range(2 * n)))
        assert sum(d.allowed for d in decisions) == n
        # Both replicas took some of the tokens, and both now see the bucket empty.
        assert {i % 2 for i, d in enumerate(decisions) if d.allowed} == {0, 1}
        for replica in replicas:
            assert not (await replica.check("key_shared", n)).allowed
    finally:
        for replica in replicas:
            await replica.close()


@pytest.mark.redis
async def test_redis_bucket_is_a_hash_that_expires_once_full(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    lim = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        await lim.check("key_ttl", 60)  # 59 tokens left: full again in 1 s
        await lim.check("key_unlimited", 0)  # no store access at all
    finally:
        await lim.close()
    key = redis_prefix + "key_ttl"
    bucket = redis_client.hgetall(key)
    assert set(bucket) == {b"tokens", b"ts"}
    assert float(bucket[b"tokens"]) == pytest.approx(59, abs=0.01)
    server_ms = redis_client.time()[0] * 1000
    assert abs(float(bucket[b"ts"]) - server_ms) < 5_000  # the server's clock, in ms
    assert 1_000 < redis_client.pttl(key) <= 2_000  # the refill time + 1 s
    assert redis_client.keys(redis_prefix + "*") == [key.encode()]


async def test_unreachable_redis_is_unavailable() -> None:
    lim = RedisRateLimiter(DEAD_REDIS_URL, prefix=f"test:ratelimit:{uuid.uuid4().hex}:")
    try:
        start = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await lim.check("key_dead", 10)
        assert time.monotonic() - start < 3, "a dead store must fail fast"
        assert caught.value.reason == "RATE_LIMIT_STORE_UNAVAILABLE"
        assert caught.value.code == "UNAVAILABLE"
        assert caught.value.retry_after_s == 1.0
        assert "Redis" in caught.value.message
        assert await lim.ping() is False
        assert (await lim.check("key_dead", 0)).allowed  # unlimited needs no store
    finally:
        await lim.close()


async def test_local_evicts_idle_buckets_and_caps_subjects() -> None:
    now = [0.0]
    lim = LocalRateLimiter(max_subjects=3, clock=lambda: now[0])
    assert await count_allowed(lim, "key_old", 2, 3) == 2
    now[0] = 61.0  # a minute refills any bucket: key_old is full, hence forgotten
    await lim.check("key_new", 2)
    assert list(lim._buckets) == ["key_new"]
    assert await count_allowed(lim, "key_old", 2, 3) == 2
    for subject in ("key_x", "key_y"):
        await lim.check(subject, 2)
    # Over the cap the least recently used bucket goes (key_new), however recent.
    assert list(lim._buckets) == ["key_old", "key_x", "key_y"]
    await lim.check("key_old", 2)
    assert list(lim._buckets) == ["key_x", "key_y", "key_old"]


async def test_build_rate_limiter_picks_the_store() -> None:
    assert isinstance(build_rate_limiter(""), LocalRateLimiter)
    remote = build_rate_limiter(DEAD_REDIS_URL)  # connects lazily
    assert isinstance(remote, RedisRateLimiter)
    await remote.close()
