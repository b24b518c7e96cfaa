"""The ``CacheStore`` protocol the exact cache writes to, and what its backends share.

A store keeps text payloads under a :class:`~ragline.cache.keys.CacheKey`: one namespace
per tenant, the key's digest inside it, and the key's full material beside the payload.
``get`` answers only when the stored material equals the key's, so a digest collision is
a miss, never another request's answer. Entries expire after a TTL and each tenant's
namespace is bounded: past ``max_entries`` the entries used longest ago are evicted.

Backends: :class:`~ragline.cache.sqlite_store.SQLiteCacheStore` (embedded, under
``home``) and :class:`~ragline.cache.redis_store.RedisCacheStore` (shared by processes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragline.cache.keys import CacheKey
from ragline.errors import ConfigError
from ragline.redact import redact


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A store's counts: ``entries`` stored (for one tenant, or all), and since the store
    was opened in this process, ``hits``, ``misses``, ``evictions`` and ``errors`` (backend
    failures that were bypassed)."""

    entries: int
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    errors: int = 0


@runtime_checkable
class CacheStore(Protocol):
    """Where the exact cache keeps its entries. Every method is safe to call from threads.

    ``in_process`` is True for a store whose calls touch only this machine's memory or
    disk (SQLite): quick enough to make from an event loop. A store behind a network
    (Redis) says False, and async callers reach it from a worker thread.
    """

    in_process: bool

    def get(self, key: CacheKey) -> str | None:
        """The payload stored under ``key``, or None (absent, expired, other material)."""
        ...

    def put(self, key: CacheKey, payload: str, *, ttl_s: float | None = None) -> None:
        """Store ``payload`` under ``key``, replacing any entry; ``ttl_s`` None means the
        store's default TTL. May evict the tenant's least recently used entries."""
        ...

    def delete(self, key: CacheKey) -> None:
        """Remove the entry under ``key`` if there is one."""
        ...

    def clear(self, tenant: str | None = None) -> int:
        """Remove every entry of ``tenant`` (of every tenant when None); return how many."""
        ...

    def stats(self, tenant: str | None = None) -> CacheStats:
        """The entry count of ``tenant`` (all when None) and this process's counters."""
        ...

    def close(self) -> None:
        """Release the connection; the store is not used afterwards."""
        ...


class Counters:
    """Thread-safe hit, miss, eviction and error counters a store reports in its stats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.errors = 0

    def add(self, *, hits: int = 0, misses: int = 0, evictions: int = 0,
            errors: int = 0) -> None:
        """Add to the counters."""
        with self._lock:
            self.hits += hits
            self.misses += misses
            self.evictions += evictions
            self.errors += errors

    def stats(self, entries: int) -> CacheStats:
        """The counters with ``entries``, as :class:`CacheStats`."""
        with self._lock:
            return CacheStats(entries, self.hits, self.misses, self.evictions, self.errors)


def check_bounds(ttl_s: float | None, max_entries: int | None) -> None:
    """Raise :class:`ConfigError` for a TTL or size bound that is not positive."""
    if ttl_s is not None and ttl_s <= 0:
        raise ConfigError(f"cache ttl_s must be positive, got {ttl_s}")
    if max_entries is not None and max_entries < 1:
        raise ConfigError(f"cache max_entries must be at least 1, got {max_entries}")


class OutageLog:
    """Says that a backend failed and the cache is bypassed: one warning per ``every_s``.

    A store that cannot reach its backend answers as if the entry were absent and drops
    writes; this is how it tells the operator without a warning per request.
    """

    def __init__(self, logger: logging.Logger, *, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._every_s = every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None

    def failed(self, what: str, exc: BaseException) -> None:
        """Record a failure of ``what``; warn unless a warning was given within ``every_s``."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self._every_s:
                return
            self._last = now
        self._logger.warning("cache bypassed: %s failed (%s: %s); answering without the "
                             "cache", what, type(exc).__name__, redact(str(exc)))
