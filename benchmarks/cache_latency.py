"""Cache lookup latency: the semantic cache on an Edge shard, the exact cache's stores.

Called by ``benchmarks/cache.py`` (section 4); runs alone too::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cache_latency.py [--sizes 10000,100000]

Query embedding is excluded: every lookup is handed its vector. Entries are random unit
vectors (384-d, MiniLM's size; no cluster structure, the hard case for HNSW), all of one
tenant, model, parameter set and index version, so the lookup's filter matches every
entry. Each entry's ``question`` is a QQP question (or a placeholder). Half the queries
are near copies of a stored entry (that entry plus noise, cosine about 0.95, and its
question text: a hit through the verifier), half fresh random vectors (a miss with
``candidates`` rejected neighbours).

- ``SemanticCache.lookup`` on the Edge shard ``open_semantic_cache`` opens (settings
  whose home is a temporary folder), a fresh one for each size: the collection is
  created by the cache's first ``add`` (with its payload index), then bulk-loaded with
  ``transport.upsert`` in batches of 1,000 and optimised (segments merged, HNSW built)
  before timing.
- ``SQLiteCacheStore.get`` and ``RedisCacheStore.get`` (Redis db ``--redis-db``, a key
  prefix of this run's own, cleared afterwards): hits on entries of ~2 KB of material and
  ~1 KB of payload, the stores holding ``size`` entries in tenants of 1,000 each, loaded
  with ``put``. (Not one tenant: ``SQLiteCacheStore.put`` deletes the tenant's expired
  entries with a scan of all its rows, so loading 100k entries into one tenant is
  quadratic; ``get`` reads by primary key either way.)

p50 / p99 over up to ``--queries`` lookups each after a warm-up (fewer where a side would
take longer than 30 s). Redis is skipped with a note when it does not answer.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _common import print_table, timed_queries

from ragline.cache.keys import CacheKey, canonical_json, digest_of
from ragline.cache.semantic import CacheEntry, SemanticCache, open_semantic_cache, params_hash
from ragline.cache.store import CacheStore
from ragline.config import load_settings
from ragline.protocols import Vectors
from ragline.rag.transport import StoredPoint

DIMENSION = 384
SCOPE = {"tenant": "acme", "model": "gpt-x"}
TENANT_ENTRIES = 1000  # the exact stores' entries are spread over tenants of this many
Sizes = dict[int, tuple[float, float]]  # size -> (p50 ms, p99 ms)


class _NoEmbedder:
    """The cache's embedder when every lookup brings its vector (only the size is read)."""

    dimension = DIMENSION

    def embed_documents(self, texts: list[str]) -> Vectors:
        raise AssertionError("the latency benchmark passes every vector")

    def embed_query(self, text: str) -> Vectors:
        raise AssertionError("the latency benchmark passes every vector")


def unit_vectors(count: int, seed: int) -> np.ndarray:
    """``count`` random unit vectors (float32)."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def queries_for(entries: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(query vectors, index of the entry each copies or -1): half near copies, half fresh."""
    rng = np.random.default_rng(seed)
    source = np.where(np.arange(count) % 2 == 0, rng.integers(0, len(entries), count), -1)
    noisy = entries[np.maximum(source, 0)] + 0.33 / np.sqrt(DIMENSION) * rng.standard_normal(
        (count, DIMENSION)).astype(np.float32)
    fresh = unit_vectors(count, seed + 1)
    vectors = np.where((source >= 0)[:, None], noisy, fresh)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), source


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def _bulk_load(cache: SemanticCache, entries: np.ndarray, texts: Sequence[str],
               start: int, stop: int) -> None:
    """Entries ``start..stop`` written straight to the transport, 1,000 a batch."""
    digest = params_hash(None)
    for first in range(start, stop, 1000):
        points = []
        for i in range(first, min(stop, first + 1000)):
            entry = CacheEntry(f"00000000-0000-4000-8000-{i:012d}", texts[i % len(texts)],
                               f"response:{i}", SCOPE["tenant"], SCOPE["model"], digest, "1",
                               (f"doc-{i % 500}",), 0.0, 0.0)
            points.append(StoredPoint(entry.id, entries[i].tolist(), None, entry.payload()))
        cache.transport.upsert(points)


def _time_lookups(cache: SemanticCache, entries: np.ndarray, texts: Sequence[str],
                  queries: int) -> tuple[list[float], int]:
    """Timed lookups on ``entries`` (what the cache holds): (latencies in ms, hits)."""
    vectors, source = queries_for(entries, queries, seed=len(entries))
    hits = 0

    def run(i: int) -> None:
        nonlocal hits
        text = texts[source[i] % len(texts)] if source[i] >= 0 else "A question never asked?"
        hits += cache.lookup(vectors[i], text, tenant=SCOPE["tenant"], model=SCOPE["model"],
                             index_version="1").hit

    return timed_queries(run, queries, warm=50), hits


def edge_latency(entries: np.ndarray, texts: Sequence[str], sizes: Sequence[int],
                 queries: int) -> Sizes:
    """p50/p99 of ``SemanticCache.lookup`` on a fresh Edge shard of each size."""
    found: Sizes = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="ragline-cache-latency-") as home:
            settings = load_settings(home=home, index={"transport": "edge"})
            cache = open_semantic_cache(settings, _NoEmbedder(), threshold=0.85)
            try:
                started = time.perf_counter()
                cache.add(entries[0], texts[0], "response:0", tenant=SCOPE["tenant"],
                          model=SCOPE["model"], index_version="1")  # creates the collection
                _bulk_load(cache, entries, texts, 1, size)
                cache.transport.optimize()
                load_s = time.perf_counter() - started
                samples, hits = _time_lookups(cache, entries[:size], texts, queries)
                found[size] = _percentiles(samples)
                print(f"    Edge, {cache.count()} entries: loaded and optimised in {load_s:.0f} s;"
                      f" {len(samples)} lookups timed, {hits} hits (warm-up included)",
                      flush=True)
            finally:
                cache.close()
    return found


def _key(i: int, texts: Sequence[str]) -> CacheKey:
    """Entry ``i``'s key: tenant ``t<i // TENANT_ENTRIES>``, ~2 KB of material."""
    tenant = f"t{i // TENANT_ENTRIES}"
    material = canonical_json({"format": 1, "tenant": tenant, "model": SCOPE["model"],
                               "question": texts[i % len(texts)], "entry": i,
                               "passages": [f"passage {j} of entry {i}. " * 12 for j in range(5)]})
    return CacheKey(tenant, digest_of(material), material)


class _Store(CacheStore, Protocol):
    def close(self) -> None: ...


def _time_gets(store: _Store, size: int, texts: Sequence[str], queries: int) -> list[float]:
    """Latencies (ms) of ``store.get`` on random stored keys (hits)."""
    keys = [_key(int(i), texts) for i in np.random.default_rng(size).integers(0, size, queries)]
    return timed_queries(lambda i: store.get(keys[i]), queries, warm=50)


def store_latency(make: Callable[[], _Store], sizes: Sequence[int], texts: Sequence[str],
                  queries: int) -> Sizes:
    """p50/p99 of ``store.get`` (hits) with the store holding each size."""
    store = make()
    found: Sizes = {}
    payload = "an answer. " * 90
    loaded = 0
    try:
        for size in sizes:
            for i in range(loaded, size):
                store.put(_key(i, texts), payload)
            loaded = size
            found[size] = _percentiles(_time_gets(store, size, texts, queries))
    finally:
        store.clear()
        store.close()
    return found


def exact_latency(sizes: Sequence[int], texts: Sequence[str], queries: int,
                  redis_db: int) -> dict[str, Sizes | str]:
    """``{"SQLite": sizes, "Redis": sizes or why skipped}``."""
    from ragline.cache.redis_store import RedisCacheStore
    from ragline.cache.sqlite_store import SQLiteCacheStore

    out: dict[str, Sizes | str] = {}
    with tempfile.TemporaryDirectory(prefix="ragline-cache-latency-") as home:
        out["SQLite"] = store_latency(lambda: SQLiteCacheStore.under_home(
            home, ttl_s=None, max_entries=None), sizes, texts, queries)
    url = f"redis://127.0.0.1:6379/{redis_db}"
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=1.0).ping()
    except Exception as exc:  # any failure means: no Redis here
        out["Redis"] = f"skipped: Redis at {url} did not answer ({type(exc).__name__})"
        return out
    out["Redis"] = store_latency(lambda: RedisCacheStore(
        url, prefix=f"ragline-bench-{os.getpid()}", ttl_s=3600, max_entries=None,
        timeout_s=2.0), sizes, texts, queries)
    return out


def latency_rows(edge: Sizes, exact: dict[str, Sizes | str], sizes: Sequence[int],
                 gptcache: dict[str, list[float]] | None) -> list[list[str]]:
    """Table rows: one per backend, p50 and p99 at each size."""
    sides: list[tuple[str, Sizes | str]] = [
        ("ragline semantic (Edge, lookup)", edge),
        *((f"ragline exact ({name}, get)", found) for name, found in exact.items())]
    if gptcache is not None:
        sides.append(("GPTCache vector search (Faiss, 1 thread)",
                      {int(s): (v[0], v[1]) for s, v in gptcache.items()}))
    rows = []
    for name, found in sides:
        if isinstance(found, str):
            rows.append([name, *(["-"] * 2 * len(sizes))])
            print(f"{name}: {found}")
            continue
        rows.append([name, *(f"{found[s][k]:.3f}" if s in found else "-"
                             for s in sizes for k in (0, 1))])
    return rows


def run_latency(sizes: Sequence[int], texts: Sequence[str], *, queries: int = 2000,
                redis_db: int = 15,
                gptcache: Callable[[np.ndarray, np.ndarray], dict[str, list[float]] | None]
                | None = None) -> Sizes:
    """Measure and print the latency table; returns the Edge figures."""
    print(f"\n... lookup latency at {', '.join(map(str, sizes))} entries", flush=True)
    entries = unit_vectors(max(sizes), seed=7)
    edge = edge_latency(entries, texts, sizes, queries)
    exact = exact_latency(sizes, texts, queries, redis_db)
    theirs = gptcache(entries, queries_for(entries, queries, seed=1)[0]) if gptcache else None
    header = ["backend", *(f"{s // 1000}k {q} ms" for s in sizes for q in ("p50", "p99"))]
    print_table("Lookup latency, query embedding excluded (random 384-d unit vectors; half "
                "near-copy hits, half misses; one tenant, the filter matches every entry)",
                header, latency_rows(edge, exact, sizes, theirs))
    return edge


def main(argv: Sequence[str] | None = None) -> int:
    """Run the latency section alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--redis-db", type=int, default=15)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    edge = run_latency(sizes, ["What is a placeholder question?"], queries=args.queries,
                       redis_db=args.redis_db)
    print(f"lookup_p50_ms_{sizes[-1] // 1000}k={edge[sizes[-1]][0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
