"""The SQLite store: round trip, TTL, material check, tenants, LRU eviction, WAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ragline.cache.keys import CacheKey
from ragline.cache.sqlite_store import SQLiteCacheStore
from ragline.errors import ConfigError


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def entry(name: str, tenant: str = "acme", digest: str | None = None) -> CacheKey:
    return CacheKey(tenant, digest or f"d-{name}", f'{{"q":"{name}"}}')


def test_a_put_entry_is_read_back_and_counted(sqlite_store: SQLiteCacheStore) -> None:
    assert sqlite_store.get(entry("a")) is None
    sqlite_store.put(entry("a"), "payload-a")
    assert sqlite_store.get(entry("a")) == "payload-a"
    stats = sqlite_store.stats()
    assert (stats.entries, stats.hits, stats.misses, stats.errors) == (1, 1, 1, 0)


def test_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteCacheStore(tmp_path / "c.sqlite", ttl_s=60, clock=clock)
    store.put(entry("a"), "A")
    store.put(entry("b"), "B", ttl_s=600)
    clock.now += 61
    assert store.get(entry("a")) is None
    assert store.get(entry("b")) == "B"
    assert store.stats().entries == 1


def test_a_digest_collision_is_a_miss_not_another_answer(
        sqlite_store: SQLiteCacheStore) -> None:
    first, second = entry("a", digest="same"), entry("b", digest="same")
    sqlite_store.put(first, "answer to a")
    assert sqlite_store.get(second) is None
    sqlite_store.put(second, "answer to b")
    assert sqlite_store.get(first) is None
    assert sqlite_store.get(second) == "answer to b"


def test_tenants_are_separate_namespaces(sqlite_store: SQLiteCacheStore) -> None:
    sqlite_store.put(entry("a", tenant="acme"), "acme's")
    forged = CacheKey("globex", "d-a", entry("a").material)  # same digest and material
    assert sqlite_store.get(forged) is None
    sqlite_store.put(forged, "globex's")
    assert sqlite_store.get(entry("a", tenant="acme")) == "acme's"
    assert sqlite_store.stats("acme").entries == sqlite_store.stats("globex").entries == 1
    assert sqlite_store.clear("globex") == 1
    assert sqlite_store.get(entry("a", tenant="acme")) == "acme's"


def test_the_least_recently_hit_entry_is_evicted(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteCacheStore(tmp_path / "c.sqlite", max_entries=2, clock=clock)
    for name in ("a", "b"):
        clock.now += 1
        store.put(entry(name), name)
    clock.now += 1
    assert store.get(entry("a")) == "a"  # a is now used more recently than b
    clock.now += 1
    store.put(entry("c"), "c")
    assert store.get(entry("b")) is None
    assert store.get(entry("a")) == "a" and store.get(entry("c")) == "c"
    assert store.stats().evictions == 1
    store.put(entry("x", tenant="globex"), "x")  # another tenant's bound is its own
    assert store.stats("acme").entries == 2


def test_delete_clear_and_reopen(tmp_path: Path) -> None:
    store = SQLiteCacheStore.under_home(tmp_path)
    store.put(entry("a"), "A")
    store.put(entry("b"), "B")
    store.delete(entry("a"))
    assert store.get(entry("a")) is None
    store.close()
    reopened = SQLiteCacheStore.under_home(tmp_path)
    assert reopened.get(entry("b")) == "B"
    assert reopened.clear() == 1
    assert reopened.stats().entries == 0
    reopened.close()


def test_the_file_is_in_wal_mode(sqlite_store: SQLiteCacheStore) -> None:
    with sqlite3.connect(sqlite_store.path) as db:
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_a_broken_database_is_a_miss_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteCacheStore(tmp_path / "c.sqlite")
    store.close()  # every call now fails with sqlite3.ProgrammingError
    for _ in range(3):
        assert store.get(entry("a")) is None
        store.put(entry("a"), "A")
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cache bypassed" in warnings[0].getMessage()
    assert store.stats().errors >= 6


def test_bounds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ttl_s"):
        SQLiteCacheStore(tmp_path / "c.sqlite", ttl_s=0)
    with pytest.raises(ConfigError, match="max_entries"):
        SQLiteCacheStore(tmp_path / "c.sqlite", max_entries=0)
