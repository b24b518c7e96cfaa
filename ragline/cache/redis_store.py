"""The shared exact-cache store: Redis, for many processes and replicas.

Layout, per tenant (``<ns>`` is ``<prefix>:<tenant>``, the tenant's ``%`` and ``:``
percent-encoded so no tenant name can reach into another's namespace):

- ``<ns>:e:<digest>``: a string, JSON ``{"material": ..., "payload": ...}``, written with
  ``SET ... PX`` (the TTL in ms) so Redis itself expires it;
- ``<ns>:lru``: a sorted set of the tenant's digests scored by last use. Past
  ``max_entries`` the lowest scores are popped and their entries deleted.

When Redis cannot be reached the store answers a miss and drops the write, logs one
warning a minute, and leaves Redis alone for ``retry_after_s`` before trying again: a
Redis outage slows nothing and fails no request. ``redis`` (the ``cache`` extra) is
imported when a store is built.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ragline.cache.keys import CacheKey
from ragline.cache.store import CacheStats, Counters, OutageLog, check_bounds
from ragline.errors import ConfigError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)
T = TypeVar("T")


def tenant_namespace(prefix: str, tenant: str) -> str:
    """``<prefix>:<tenant>`` with ``%`` and ``:`` in the tenant percent-encoded."""
    return f"{prefix}:{tenant.replace('%', '%25').replace(':', '%3A')}"


def import_redis(needed_by: str = "the Redis cache") -> Any:
    """The ``redis`` module; :class:`ConfigError` saying ``needed_by`` needs it (and how to
    install it) when it is missing. Every Redis user of ragline imports it through here."""
    try:
        import redis
    except ImportError as exc:
        raise ConfigError(
            f"{needed_by} needs the redis package: pip install 'ragline[cache]'") from exc
    return redis


def text_client(url: str, *, needed_by: str, setting: str, timeout_s: float) -> Any:
    """A client of the Redis server at ``url`` that answers text (``decode_responses``),
    each call bounded by ``timeout_s``; :class:`ConfigError` naming ``setting`` for a URL
    redis cannot use, or ``needed_by`` when the package is missing."""
    module = import_redis(needed_by)
    try:
        return module.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                     socket_connect_timeout=timeout_s)
    except ValueError as exc:
        raise ConfigError(f"{setting} {url!r} cannot be used: {exc}") from None


class RedisCacheStore:
    """A :class:`~ragline.cache.store.CacheStore` on a Redis server.

    ``url`` is a ``redis://`` URL (or pass a ready ``client``); ``prefix`` starts every
    key; ``ttl_s`` (None: no expiry) and ``max_entries`` per tenant (None: no bound)
    apply to every entry. ``timeout_s`` bounds each Redis call.
    """

    in_process = False

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "ragline:cache",
                 ttl_s: float | None = 86_400.0, max_entries: int | None = 10_000,
                 timeout_s: float = 0.5, retry_after_s: float = 5.0,
                 warn_every_s: float = 60.0, client: redis.Redis | None = None) -> None:
        check_bounds(ttl_s, max_entries)
        module = import_redis()
        self._errors: tuple[type[BaseException], ...] = (module.RedisError, OSError)
        self.client: redis.Redis = client or module.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self._counters = Counters()
        self._outage = OutageLog(log, every_s=warn_every_s)

    def _call(self, what: str, action: Callable[[], T], default: T) -> T:
        """``action()``, or ``default`` when Redis fails or failed within retry_after_s."""
        if time.monotonic() < self._down_until:
            self._counters.add(errors=1)
            return default
        try:
            return action()
        except self._errors as exc:
            self._down_until = time.monotonic() + self.retry_after_s
            self._counters.add(errors=1)
            self._outage.failed(what, exc)
            return default

    def _names(self, key: CacheKey) -> tuple[str, str]:
        namespace = tenant_namespace(self.prefix, key.tenant)
        return f"{namespace}:e:{key.digest}", f"{namespace}:lru"

    def get(self, key: CacheKey) -> str | None:
        """The payload under ``key`` when present and of the same material."""
        entry, lru = self._names(key)

        def read() -> str | None:
            raw = self.client.get(entry)
            if raw is None:
                return None
            try:
                stored = json.loads(raw)
            except ValueError:  # not an entry of ours: a miss, overwritten by the put
                return None
            if not isinstance(stored, dict) or stored.get("material") != key.material:
                return None
            self.client.zadd(lru, {key.digest: time.time()})
            return str(stored["payload"])

        payload = self._call("reading the Redis cache", read, None)
        self._counters.add(hits=int(payload is not None), misses=int(payload is None))
        return payload

    def put(self, key: CacheKey, payload: str, *, ttl_s: float | None = None) -> None:
        """``SET`` the entry with its TTL and mark it used; then evict the tenant's least
        recently used entries past ``max_entries``."""
        entry, lru = self._names(key)
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        value = json.dumps({"material": key.material, "payload": payload})

        def write() -> int:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(entry, value, px=None if ttl is None else max(1, round(ttl * 1000)))
            pipe.zadd(lru, {key.digest: time.time()})
            pipe.zcard(lru)
            count = int(pipe.execute()[-1])
            if self.max_entries is None or count <= self.max_entries:
                return 0
            return self._evict(entry.rsplit(":e:", 1)[0], lru, count - self.max_entries)

        self._counters.add(evictions=self._call("writing the Redis cache", write, 0))

    def _evict(self, namespace: str, lru: str, excess: int) -> int:
        """Pop the ``excess`` least recently used digests and delete their entries."""
        popped: list[tuple[bytes | str, float]] = self.client.zpopmin(  # type: ignore[assignment]
            lru, excess)
        if popped:
            self.client.delete(*(f"{namespace}:e:{self._text(d)}" for d, _ in popped))
        return len(popped)

    @staticmethod
    def _text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    def delete(self, key: CacheKey) -> None:
        """Remove the entry under ``key`` and its place in the tenant's LRU set."""
        entry, lru = self._names(key)

        def remove() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(entry)
            pipe.zrem(lru, key.digest)
            pipe.execute()

        self._call("deleting from the Redis cache", remove, None)

    def clear(self, tenant: str | None = None) -> int:
        """Remove every entry of ``tenant`` (of every tenant when None); return how many."""
        base = self.prefix if tenant is None else tenant_namespace(self.prefix, tenant)

        def wipe() -> int:
            removed = 0
            batch: list[Any] = []
            for name in self.client.scan_iter(match=f"{_glob(base)}:*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += self._delete_batch(batch)
            return removed + self._delete_batch(batch)

        return self._call("clearing the Redis cache", wipe, 0)

    def _delete_batch(self, names: list[Any]) -> int:
        """Delete ``names`` (emptying the list); return how many were entries."""
        if not names:
            return 0
        entries = sum(1 for n in names if ":e:" in self._text(n))
        self.client.delete(*names)
        names.clear()
        return entries

    def stats(self, tenant: str | None = None) -> CacheStats:
        """Entries of ``tenant`` (all when None) and this process's counters."""
        base = _glob(self.prefix) + ":*" if tenant is None else _glob(
            tenant_namespace(self.prefix, tenant))

        def count() -> int:
            return sum(1 for _ in self.client.scan_iter(match=f"{base}:e:*", count=500))

        entries = self._call("counting the Redis cache", count, 0)
        return self._counters.stats(entries)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _glob(text: str) -> str:
    """``text`` with Redis glob specials escaped, for ``SCAN MATCH``."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
