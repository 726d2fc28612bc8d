"""Token-bucket rate limits of the gateway, per subject (a key id or ``anon:<ip>``, never a secret).

Why a bucket: a caller may burst up to its per-minute limit at once, then gets one call per
``60 / per_minute`` seconds, and a refused call learns exactly when to retry (RetryInfo).
One replica keeps its buckets in process; several replicas share them in Redis, where one
Lua script per check reads, refills, takes and writes the bucket atomically on the server's
clock, so concurrent replicas never both spend the last token and skewed host clocks agree.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from serving.errors import ResourceExhausted, Unavailable

# A bucket refills from empty to full in this time, whatever the limit (capacity / rate).
_REFILL_S = 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: float  # 0.0 when allowed; else seconds until one token is available


_ALLOWED = RateDecision(allowed=True, retry_after_s=0.0)


class RateLimiter(Protocol):
    async def check(self, subject: str, per_minute: int) -> RateDecision:
        """Takes one token of ``subject``'s bucket (burst ``per_minute``); ``<= 0``: unlimited."""
        ...

    async def ping(self) -> bool:
        """True when the store answers (always in process)."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    ts: float  # clock reading of the last refill


class LocalRateLimiter:
    """Buckets in a dict, for a single replica. ``check`` never awaits, so concurrent asyncio tasks
    cannot interleave inside it. Memory stays bounded: buckets are kept in least-recently-used
    order, those idle for a minute (hence full, the same as absent) are dropped, and past
    ``max_subjects`` the least recently used go too (they restart full)."""

    def __init__(self, max_subjects: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_subjects = max(1, max_subjects)
        self._clock = clock

    async def check(self, subject: str, per_minute: int) -> RateDecision:
        if per_minute <= 0:
            return _ALLOWED
        now = self._clock()
        rate = per_minute / _REFILL_S  # tokens per second
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = self._buckets[subject] = _Bucket(float(per_minute), now)
        else:
            bucket.tokens = min(float(per_minute), bucket.tokens + max(0.0, now - bucket.ts) * rate)
            bucket.ts = now
            self._buckets.move_to_end(subject)
        self._evict(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return _ALLOWED
        return RateDecision(allowed=False, retry_after_s=(1.0 - bucket.tokens) / rate)

    def _evict(self, now: float) -> None:
        # Oldest first: stop at the first bucket that is recent and within the cap (O(1) amortized).
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.ts < _REFILL_S and len(self._buckets) <= self._max_subjects:
                break
            self._buckets.popitem(last=False)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1]: the bucket, a hash {tokens, ts (ms)}. ARGV[1]: per_minute (> 0).
# Returns {allowed (0|1), retry_after_ms}. TIME is the server's clock, shared by all replicas.
_CHECK_LUA = """
local capacity = tonumber(ARGV[1])
local rate = capacity / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
end
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
-- Once full again the bucket is the same as absent: let it expire then (+1 s).
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1000)
return {allowed, retry_ms}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every gateway replica pointed at ``url``."""

    def __init__(self, url: str, prefix: str = "imaging:ratelimit:") -> None:
        # A check is on every call's path, so a dead store must fail fast as UNAVAILABLE: short
        # timeouts, one immediate reconnect (a stale pooled connection) and no more; timeouts are
        # not retried (the script may have run, a retry would take a second token). A burst of
        # calls waits up to 1 s for a pooled connection rather than failing at the pool's size.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=1.0,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._redis = Redis.from_pool(pool)
        self._check = self._redis.register_script(_CHECK_LUA)
        self._prefix = prefix

    async def check(self, subject: str, per_minute: int) -> RateDecision:
        if per_minute <= 0:
            return _ALLOWED
        try:
            allowed, retry_ms = await self._check(keys=[self._prefix + subject], args=[per_minute])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise Unavailable(
                message="the rate-limit store (Redis) is unreachable; retry shortly",
                reason="RATE_LIMIT_STORE_UNAVAILABLE",
                retry_after_s=1.0,
            ) from exc
        if allowed:
            return _ALLOWED
        return RateDecision(allowed=False, retry_after_s=int(retry_ms) / 1000)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()


async def take_token(limiter: RateLimiter, subject: str, per_minute: int) -> None:
    """Takes one call's token, or raises RESOURCE_EXHAUSTED with the RetryInfo
    delay until the next token."""
    decision = await limiter.check(subject, per_minute)
    if not decision.allowed:
        raise ResourceExhausted(
            f"rate limit of {per_minute} calls per minute reached; retry in {decision.retry_after_s:.2f} s",
            reason="RATE_LIMITED",
            retry_after_s=decision.retry_after_s,
            metadata={"requests_per_minute": str(per_minute)},
        )


def build_rate_limiter(redis_url: str) -> RateLimiter:
    """``""``: buckets in process (one replica); ``redis://...``: buckets shared by replicas."""
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
