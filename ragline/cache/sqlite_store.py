"""The embedded exact-cache store: one SQLite file (by default ``home/cache.sqlite``).

WAL journal, so readers never wait for a writer; each write is one ``BEGIN IMMEDIATE``
transaction (insert, then eviction), so a crash leaves the entry either whole or absent.
Entries expire after ``ttl_s`` (checked on read, deleted by the next sweep); each tenant
keeps at most ``max_entries``, the least recently hit evicted first. The sweep (expired
entries, then the excess) counts the tenant's entries, which costs more than the write, so
it runs with every ``max_entries // 100``-th write of a process (every write for a bound
under 200, at most every :data:`SWEEP_EVERY`-th): a tenant may hold up to 1 % more entries
than its bound in between. A database error is
logged (once a minute) and answered as a miss: the cache never fails a request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ragline.cache.keys import CacheKey
from ragline.cache.store import CacheStats, Counters, OutageLog, check_bounds

log = logging.getLogger(__name__)

SWEEP_EVERY = 100
"""Writes between two sweeps at most (see the module docstring)."""

FILENAME = "cache.sqlite"
"""The store's file name under ``home``."""

_SCHEMA = """
create table if not exists entries (
    tenant text not null, digest text not null, material text not null,
    payload text not null, created real not null, expires real, last_hit real not null,
    primary key (tenant, digest));
create index if not exists entries_by_use on entries (tenant, last_hit);
create index if not exists entries_by_expiry on entries (tenant, expires);
"""


class SQLiteCacheStore:
    """A :class:`~ragline.cache.store.CacheStore` in a SQLite file.

    ``ttl_s`` (None: entries never expire) and ``max_entries`` per tenant (None: no
    bound) apply to every entry; ``clock`` gives the time in seconds (tests move it).
    """

    in_process = True

    def __init__(self, path: str | Path, *, ttl_s: float | None = 86_400.0,
                 max_entries: int | None = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        check_bounds(ttl_s, max_entries)
        self.path = Path(path)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._sweep_every = 1 if max_entries is None else max(
            1, min(SWEEP_EVERY, max_entries // 100))
        self._writes = 0
        self._counters = Counters()
        self._outage = OutageLog(log)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=normal")
        self._db.executescript(_SCHEMA)

    @classmethod
    def under_home(cls, home: str | Path, **options: object) -> SQLiteCacheStore:
        """The store in ``home/cache.sqlite`` (options as for the constructor)."""
        return cls(Path(home) / FILENAME, **options)  # type: ignore[arg-type]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction, committed on success and rolled back on error."""
        with self._lock:
            self._db.execute("begin immediate")
            try:
                yield self._db
            except BaseException:
                self._db.execute("rollback")
                raise
            self._db.execute("commit")

    def get(self, key: CacheKey) -> str | None:
        """The payload under ``key`` when present, unexpired and of the same material."""
        now = self._clock()
        try:
            with self._lock:
                row = self._db.execute(
                    "select material, payload, expires from entries "
                    "where tenant = ? and digest = ?", (key.tenant, key.digest)).fetchone()
                found = (row is not None and row[0] == key.material
                         and (row[2] is None or row[2] > now))
                if found:
                    self._db.execute("update entries set last_hit = ? "
                                     "where tenant = ? and digest = ?",
                                     (now, key.tenant, key.digest))
        except sqlite3.Error as exc:
            self._failed("reading the SQLite cache", exc)
            return None
        self._counters.add(hits=int(found), misses=int(not found))
        return row[1] if found else None

    def put(self, key: CacheKey, payload: str, *, ttl_s: float | None = None) -> None:
        """Store ``payload`` under ``key``; when a sweep is due (module docstring), evict
        expired and least recently hit entries of its tenant past ``max_entries``."""
        now = self._clock()
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        try:
            with self._write() as db:
                db.execute("insert or replace into entries values (?, ?, ?, ?, ?, ?, ?)",
                           (key.tenant, key.digest, key.material, payload, now,
                            None if ttl is None else now + ttl, now))
                self._writes += 1
                evicted = (self._evict(db, key.tenant, now)
                           if self._writes % self._sweep_every == 0 else 0)
        except sqlite3.Error as exc:
            self._failed("writing the SQLite cache", exc)
            return
        self._counters.add(evictions=evicted)

    def _evict(self, db: sqlite3.Connection, tenant: str, now: float) -> int:
        """Delete ``tenant``'s expired entries, then its least recently hit ones past the
        bound; return how many live entries were evicted."""
        db.execute("delete from entries where tenant = ? and expires <= ?", (tenant, now))
        if self.max_entries is None:
            return 0
        count = db.execute("select count(*) from entries where tenant = ?",
                           (tenant,)).fetchone()[0]
        excess = count - self.max_entries
        if excess <= 0:
            return 0
        db.execute("delete from entries where rowid in (select rowid from entries "
                   "where tenant = ? order by last_hit, created limit ?)", (tenant, excess))
        return int(excess)

    def delete(self, key: CacheKey) -> None:
        """Remove the entry under ``key``."""
        try:
            with self._write() as db:
                db.execute("delete from entries where tenant = ? and digest = ?",
                           (key.tenant, key.digest))
        except sqlite3.Error as exc:
            self._failed("deleting from the SQLite cache", exc)

    def clear(self, tenant: str | None = None) -> int:
        """Remove every entry of ``tenant`` (of all tenants when None); return how many."""
        try:
            with self._write() as db:
                if tenant is None:
                    return db.execute("delete from entries").rowcount
                return db.execute("delete from entries where tenant = ?", (tenant,)).rowcount
        except sqlite3.Error as exc:
            self._failed("clearing the SQLite cache", exc)
            return 0

    def stats(self, tenant: str | None = None) -> CacheStats:
        """Unexpired entries of ``tenant`` (all when None) and this process's counters."""
        now = self._clock()
        where = "(expires is null or expires > ?)"
        params: tuple[float | str, ...] = (now,)
        if tenant is not None:
            where, params = where + " and tenant = ?", (now, tenant)
        try:
            with self._lock:
                entries = self._db.execute(f"select count(*) from entries where {where}",
                                           params).fetchone()[0]
        except sqlite3.Error as exc:
            self._failed("counting the SQLite cache", exc)
            entries = 0
        return self._counters.stats(int(entries))

    def _failed(self, what: str, exc: sqlite3.Error) -> None:
        self._counters.add(errors=1)
        self._outage.failed(what, exc)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
