"""Rate limits of the gateway's API keys: requests and tokens per minute, as token buckets.

A key with ``rpm`` has a bucket of requests holding ``rpm`` and refilled continuously at
``rpm / 60`` a second; a key with ``tpm`` a bucket of tokens holding ``tpm``, refilled at
``tpm / 60`` a second. A bucket nobody has touched is full. :meth:`RateLimiter.acquire`
takes one request and a request's estimated tokens from both buckets, or, when either is
short, takes nothing and raises :class:`~ragline.errors.RateLimitExceeded` (429) with the
seconds until both would suffice. Once the answer's real usage is known,
:meth:`RateLimiter.settle` gives back what the estimate took too much, or takes the rest:
the bucket may then go below zero, and the key's next requests wait until it refills.
A request estimated above ``tpm`` takes the whole bucket (no more), so it waits at most a
minute instead of forever. Keys without limits cost nothing: no lock, no I/O, no state.

:class:`MemoryRateLimiter` counts in one process; :class:`RedisRateLimiter` counts on a
Redis server, shared by every process and replica; :func:`open_rate_limiter` opens the one
``gateway.rate_limits`` names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ragline.cache.redis_store import import_redis, text_client
from ragline.errors import RateLimitExceeded, StoreUnavailable

if TYPE_CHECKING:
    import redis

    from ragline.config import Settings
    from ragline.server.keys import ApiKey

log = logging.getLogger(__name__)

_LIMITS = ("rpm", "tpm")


class RateLimiter(Protocol):
    """Counts the requests and tokens of API keys against their ``rpm`` and ``tpm``.

    ``in_process`` is True when the counts live in this process (no I/O: an event loop
    may call it); False when they are on a server, and async callers use a thread."""

    in_process: bool

    def acquire(self, key: ApiKey, tokens: int) -> None:
        """Take one request and ``tokens`` estimated tokens (at most the key's ``tpm``;
        negative counts as 0) from the key's buckets, both or neither; raise
        :class:`~ragline.errors.RateLimitExceeded` naming the short bucket (the longer wait
        when both are) and the seconds until the request would pass."""

    def settle(self, key: ApiKey, estimated: int, actual: int) -> None:
        """Correct the tokens a passed :meth:`acquire` of ``estimated`` took to the
        ``actual`` usage: give back the difference (never above ``tpm``), or take the excess
        (the bucket may go negative). Never raises."""

    def close(self) -> None:
        """Release what the limiter holds (connections); it is not used afterwards."""


def _needs(key: ApiKey, tokens: int) -> dict[str, tuple[int, int]]:
    """``{limit: (capacity, need)}`` of the key's limited buckets for one request."""
    needs: dict[str, tuple[int, int]] = {}
    if key.rpm is not None:
        needs["rpm"] = (key.rpm, 1)
    if key.tpm is not None:
        needs["tpm"] = (key.tpm, min(max(tokens, 0), key.tpm))
    return needs


def _excess(tpm: int, estimated: int, actual: int) -> int:
    """Tokens to take beyond what :meth:`RateLimiter.acquire` took for ``estimated``
    (negative: to give back)."""
    return max(actual, 0) - min(max(estimated, 0), tpm)


def _refilled(level: float, at: float, capacity: int, now: float) -> float:
    """A bucket's level at ``now``: ``level`` at ``at`` plus ``capacity / 60`` a second,
    at most ``capacity``."""
    return min(float(capacity), level + max(0.0, now - at) * capacity / 60.0)


@dataclass(slots=True)
class _Bucket:
    level: float
    at: float


class MemoryRateLimiter:
    """A :class:`RateLimiter` in this process's memory: exact and free of I/O, but each
    process counts alone, so N replicas let a key through N times its limits.

    Thread-safe (one lock). ``clock`` gives seconds that never go back. It holds two
    buckets at most per limited key that made a request, whatever the number of requests.
    """

    in_process = True

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def buckets(self) -> int:
        """How many buckets are held (two at most per limited key seen)."""
        return len(self._buckets)

    def _level(self, key_id: str, limit: str, capacity: int, now: float) -> float:
        bucket = self._buckets.get((key_id, limit))
        return capacity if bucket is None else _refilled(bucket.level, bucket.at,
                                                         capacity, now)

    def acquire(self, key: ApiKey, tokens: int) -> None:
        """See :meth:`RateLimiter.acquire`."""
        needs = _needs(key, tokens)
        if not needs:
            return
        with self._lock:
            now = self._clock()
            levels = {limit: self._level(key.id, limit, capacity, now)
                      for limit, (capacity, _) in needs.items()}
            waits = [((need - levels[limit]) * 60.0 / capacity, limit)
                     for limit, (capacity, need) in needs.items() if levels[limit] < need]
            if waits:
                wait, limit = max(waits)
                raise RateLimitExceeded(key.id, limit=limit, retry_after_s=wait)
            for limit, (_, need) in needs.items():
                self._buckets[key.id, limit] = _Bucket(levels[limit] - need, now)

    def settle(self, key: ApiKey, estimated: int, actual: int) -> None:
        """See :meth:`RateLimiter.settle`."""
        if key.tpm is None:
            return
        excess = _excess(key.tpm, estimated, actual)
        if excess == 0:
            return
        with self._lock:
            now = self._clock()
            level = self._level(key.id, "tpm", key.tpm, now)
            self._buckets[key.id, "tpm"] = _Bucket(min(float(key.tpm), level - excess), now)

    def close(self) -> None:
        """Nothing to release: the buckets stay usable."""


# Shared by both scripts: the server's clock, and a bucket's level refilled up to it.
_LUA_COMMON = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local function level_of(key, capacity)
  local state = redis.call('HMGET', key, 'level', 'at')
  local level, at = tonumber(state[1]), tonumber(state[2])
  if level == nil or at == nil then return capacity end
  return math.min(capacity, level + math.max(0, now - at) * capacity / 60)
end
local function store(key, level, capacity)
  redis.call('HSET', key, 'level', string.format('%.17g', level),
             'at', string.format('%.6f', now))
  local full_ms = math.ceil((capacity - level) * 60000 / capacity)
  redis.call('PEXPIRE', key, math.min(1e12, math.max(1, full_ms)))
end
"""

_ACQUIRE = _LUA_COMMON + """
-- KEYS: requests bucket, tokens bucket; ARGV: rpm, tpm (0: no limit), tokens needed
local caps = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local needs = {1, tonumber(ARGV[3])}
local names = {'rpm', 'tpm'}
local levels = {}
local limit, wait = '', 0
for i = 1, 2 do
  if caps[i] > 0 then
    levels[i] = level_of(KEYS[i], caps[i])
    local short = (needs[i] - levels[i]) * 60 / caps[i]
    if levels[i] < needs[i] and short > wait then limit, wait = names[i], short end
  end
end
if limit ~= '' then return {limit, string.format('%.17g', wait)} end
for i = 1, 2 do
  if caps[i] > 0 then store(KEYS[i], levels[i] - needs[i], caps[i]) end
end
return {'', '0'}
"""

_SETTLE = _LUA_COMMON + """
-- KEYS: tokens bucket; ARGV: tpm, tokens to take (negative: to give back)
local capacity = tonumber(ARGV[1])
store(KEYS[1], math.min(capacity, level_of(KEYS[1], capacity) - tonumber(ARGV[2])), capacity)
return 1
"""


class RedisRateLimiter:
    """A :class:`RateLimiter` on the Redis server at ``url``, shared by every process and
    replica that uses the same server and ``prefix``.

    A key's buckets are the hashes ``<prefix>{<key id>}:rpm`` and ``...:tpm`` (``level``,
    ``at``; the braces keep both in one Redis Cluster slot). Each acquire is one Lua script
    (``EVALSHA``, loaded when the server lacks it) that refills both buckets on the
    server's ``TIME`` (so replicas with skewed clocks agree), checks both, and writes both
    or neither; every write sets the bucket to expire when it would be full again, which is
    when it is equal to an absent one, so idle keys leave nothing behind.

    It fails closed: when Redis fails or cannot be reached (within ``timeout_s``),
    :meth:`acquire` raises :class:`~ragline.errors.StoreUnavailable` (503) for a limited
    key instead of letting the request through. A limit guards money and upstream quotas;
    failing open would hand every key, a leaked one included, unlimited use for as long
    as Redis is down, and a client can retry a 503. :meth:`settle`, called after the
    request was served, logs a failure and drops the correction instead. A bad ``url`` is
    a :class:`~ragline.errors.ConfigError`. Thread-safe.
    """

    in_process = False

    def __init__(self, url: str, *, prefix: str = "ragline:ratelimit:",
                 timeout_s: float = 1.0) -> None:
        needed_by = "gateway.rate_limits 'redis'"
        self.client: redis.Redis = text_client(url, needed_by=needed_by,
                                               setting="gateway.redis_url",
                                               timeout_s=timeout_s)
        module = import_redis(needed_by)
        self._errors: tuple[type[BaseException], ...] = (module.RedisError, OSError)
        self.prefix = prefix
        self._acquire = self.client.register_script(_ACQUIRE)
        self._settle = self.client.register_script(_SETTLE)

    def _keys(self, key: ApiKey) -> list[str]:
        return [f"{self.prefix}{{{key.id}}}:{limit}" for limit in _LIMITS]

    def acquire(self, key: ApiKey, tokens: int) -> None:
        """See :meth:`RateLimiter.acquire`; raises
        :class:`~ragline.errors.StoreUnavailable` when Redis fails (for a limited key)."""
        needs = _needs(key, tokens)
        if not needs:
            return
        tokens_needed = needs["tpm"][1] if "tpm" in needs else 0
        try:
            limit, wait = self._acquire(keys=self._keys(key),
                                        args=[key.rpm or 0, key.tpm or 0, tokens_needed])
        except self._errors as exc:
            raise StoreUnavailable(
                f"the rate limiter on Redis ({self.prefix}*) failed, so requests of keys "
                f"with limits are refused until it answers: {exc}") from exc
        if limit:
            raise RateLimitExceeded(key.id, limit=limit, retry_after_s=float(wait))

    def settle(self, key: ApiKey, estimated: int, actual: int) -> None:
        """See :meth:`RateLimiter.settle`; a Redis failure is logged as a warning and the
        correction dropped."""
        if key.tpm is None:
            return
        excess = _excess(key.tpm, estimated, actual)
        if excess == 0:
            return
        try:
            self._settle(keys=self._keys(key)[1:], args=[key.tpm, excess])
        except self._errors as exc:
            log.warning("the rate limiter on Redis (%s*) failed; API key %s: %d tokens not "
                        "settled: %s", self.prefix, key.id, excess, exc)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter ``settings.gateway.rate_limits`` names: a :class:`MemoryRateLimiter`
    for ``memory``, or a :class:`RedisRateLimiter` at ``gateway.redis_url`` under
    ``gateway.redis_prefix`` for ``redis`` (it connects on first use). Close it when done."""
    gateway = settings.gateway
    if gateway.rate_limits == "redis":
        return RedisRateLimiter(gateway.redis_url, prefix=gateway.redis_prefix)
    return MemoryRateLimiter()
