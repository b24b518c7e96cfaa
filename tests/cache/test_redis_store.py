"""The Redis store against a real server: TTL, tenants, collisions, LRU eviction, clear."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ragline.cache.keys import CacheKey
from ragline.cache.redis_store import RedisCacheStore, tenant_namespace

MakeStore = Callable[..., RedisCacheStore]


def entry(name: str, tenant: str = "acme", digest: str | None = None) -> CacheKey:
    return CacheKey(tenant, digest or f"d-{name}", f'{{"q":"{name}"}}')


def test_a_put_entry_is_read_back(make_redis_store: MakeStore) -> None:
    store = make_redis_store()
    assert store.get(entry("a")) is None
    store.put(entry("a"), "payload-a")
    assert store.get(entry("a")) == "payload-a"
    stats = store.stats()
    assert (stats.entries, stats.hits, stats.misses, stats.errors) == (1, 1, 1, 0)


def test_redis_expires_entries_after_the_ttl(make_redis_store: MakeStore,
                                             redis_client: Any) -> None:
    store = make_redis_store(ttl_s=0.3)
    store.put(entry("a"), "A")
    store.put(entry("b"), "B", ttl_s=30)
    name = f"{tenant_namespace(store.prefix, 'acme')}:e:d-a"
    assert 0 < redis_client.pttl(name) <= 300
    time.sleep(0.5)
    assert store.get(entry("a")) is None
    assert store.get(entry("b")) == "B"
    assert store.stats("acme").entries == 1


def test_a_tenant_never_reads_another_tenants_entry(make_redis_store: MakeStore) -> None:
    store = make_redis_store()
    store.put(entry("a", tenant="acme"), "acme's")
    assert store.get(CacheKey("globex", "d-a", entry("a").material)) is None
    store.put(entry("a", tenant="globex"), "globex's")
    assert store.get(entry("a", tenant="acme")) == "acme's"
    assert store.clear("globex") == 1
    assert store.get(entry("a", tenant="acme")) == "acme's"


def test_tenant_names_cannot_reach_into_another_namespace(make_redis_store: MakeStore) -> None:
    store = make_redis_store()
    store.put(entry("a", tenant="x:e:d"), "tricky")
    assert tenant_namespace("p", "x:e:d") == "p:x%3Ae%3Ad"
    assert store.get(entry("a", tenant="x")) is None
    assert store.stats("x").entries == 0
    assert store.stats("x:e:d").entries == 1


def test_a_digest_collision_is_a_miss_not_another_answer(make_redis_store: MakeStore) -> None:
    store = make_redis_store()
    first, second = entry("a", digest="same"), entry("b", digest="same")
    store.put(first, "answer to a")
    assert store.get(second) is None
    store.put(second, "answer to b")
    assert store.get(first) is None
    assert store.get(second) == "answer to b"


def test_the_least_recently_used_entry_is_evicted(make_redis_store: MakeStore) -> None:
    store = make_redis_store(max_entries=2)
    store.put(entry("a"), "a")
    time.sleep(0.01)
    store.put(entry("b"), "b")
    time.sleep(0.01)
    assert store.get(entry("a")) == "a"
    time.sleep(0.01)
    store.put(entry("c"), "c")
    assert store.get(entry("b")) is None
    assert store.get(entry("a")) == "a" and store.get(entry("c")) == "c"
    assert store.stats().evictions == 1
    store.put(entry("x", tenant="globex"), "x")
    assert store.stats("acme").entries == 2 and store.stats().entries == 3


def test_delete_and_clear(make_redis_store: MakeStore) -> None:
    store = make_redis_store()
    for name in ("a", "b", "c"):
        store.put(entry(name), name)
    store.delete(entry("a"))
    assert store.get(entry("a")) is None
    assert store.clear() == 2
    assert store.stats().entries == 0
