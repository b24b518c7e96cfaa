"""The answer cache: whole RAG answers served again, before any retrieval.

:class:`AnswerCache` is what :class:`~ragline.app.pipeline.RAGPipeline` consults first.

- **Exact**: the key is the tenant plus everything that shapes the answer (the question
  in NFC, the collection and its index version, ``k``, search mode, filters, prompt name
  and version, the answering stack and its parameters): :func:`answer_key`. Entries live
  in a :class:`~ragline.cache.store.CacheStore` (SQLite under ``home``, or Redis).
- **Semantic** (optional): the question's embedding is looked up in a
  :class:`~ragline.cache.semantic.SemanticCache` restricted to the same tenant, stack,
  parameters and index version; a candidate above the threshold that the lexical
  verifier accepts is served. Its entry points at the exact entry of the question it
  was stored for.

Because the index version is part of both, an ingest or delete that touches the
collection makes every entry of the older version unreachable; the pipeline also drops
the semantic entries answered from documents it rewrote
(:meth:`AnswerCache.invalidate_docs`). Concurrent identical questions run once
(single-flight): the others are served the leader's answer as an exact hit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ragline.cache.answer_codec import decode_answer, encode_answer
from ragline.cache.keys import CacheKey, canonical_json, digest_of, normalise_text
from ragline.cache.semantic import Rejected, SemanticCache
from ragline.cache.singleflight import SingleFlight
from ragline.cache.store import CacheStats, CacheStore
from ragline.protocols import Embedder, Vectors
from ragline.types import Answer

if TYPE_CHECKING:
    from ragline.config import Settings

log = logging.getLogger(__name__)
ANSWER_KEY_FORMAT = 1


def answer_key(question: str, *, tenant: str, params: Mapping[str, Any]) -> CacheKey:
    """The exact-cache key of ``question`` for ``tenant`` under ``params`` (the collection,
    index version, retrieval and generation settings that shape the answer)."""
    material = canonical_json({"kind": "answer", "format": ANSWER_KEY_FORMAT,
                               "tenant": tenant, "question": normalise_text(question.strip()),
                               "params": dict(params)})
    return CacheKey(tenant, digest_of(material), material)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """An answer served from the cache: ``how`` is ``exact`` or ``semantic``; ``question``
    the stored question it was answered for; ``saved_usd`` what the original answer cost
    (None: unpriced)."""

    answer: Answer
    how: str
    question: str
    similarity: float
    saved_usd: Decimal | None

    @property
    def label(self) -> str:
        """What ``Answer.cache`` says: ``exact``, or ``semantic (similarity 0.94)``."""
        return "exact" if self.how == "exact" else f"semantic (similarity {self.similarity:.2f})"


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """The outcome of consulting the cache: a ``hit``, or None with the nearest
    candidates that were ``rejected`` and why."""

    hit: CacheHit | None
    rejected: list[Rejected] = field(default_factory=list)


class AnswerCounters:
    """In-process counters: exact hits, semantic hits, misses, answers stored, and
    semantic candidates rejected by the similarity threshold or by verification."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"exact_hits": 0, "semantic_hits": 0, "misses": 0, "stored": 0,
                       "below_threshold": 0, "verification_rejects": 0}

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self.values[name] += n

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._lock:
            return dict(self.values)


class AnswerCache:
    """Whole answers by exact question, then (with ``semantic``) by meaning.

    ``store`` keeps the answers; ``semantic`` (None: exact only) indexes the questions;
    ``stack`` names the answering model stack (a semantic entry is only served to the
    same stack); ``ttl_s`` None uses the store's.
    """

    def __init__(self, store: CacheStore, *, semantic: SemanticCache | None = None,
                 stack: str = "", ttl_s: float | None = None) -> None:
        self.store = store
        self.semantic = semantic
        self.stack = stack
        self.ttl_s = ttl_s
        self.counters = AnswerCounters()
        self._flight: SingleFlight[Answer] = SingleFlight()

    def _exact(self, key: CacheKey, question: str) -> CacheHit | None:
        payload = self.store.get(key)
        if payload is None:
            return None
        try:
            answer, saved = decode_answer(payload, cache="exact")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("dropping an unreadable cached answer (%s)", exc)
            self.store.delete(key)
            return None
        return CacheHit(answer, "exact", question, 1.0, saved)

    def lookup(self, question: str, *, tenant: str, params: Mapping[str, Any],
               vector: Callable[[], Vectors] | None = None) -> CacheLookup:
        """The cached answer for ``question``: exact first, then by meaning when this cache
        is semantic and ``vector`` (called only then) gives the question's embedding."""
        hit = self._exact(answer_key(question, tenant=tenant, params=params), question)
        if hit is not None:
            self.counters.add("exact_hits")
            return CacheLookup(hit)
        if self.semantic is None or vector is None:
            self.counters.add("misses")
            return CacheLookup(None)
        found = self.semantic.lookup(vector(), question, tenant=tenant, model=self.stack,
                                     params=params, index_version=_version(params))
        for rejected in found.rejected:
            self.counters.add("below_threshold" if rejected.reason.startswith("similarity")
                              else "verification_rejects")
        if found.entry is not None:
            stored = self._exact(answer_key(found.entry.question, tenant=tenant,
                                            params=params), found.entry.question)
            if stored is not None:
                self.counters.add("semantic_hits")
                return CacheLookup(CacheHit(stored.answer, "semantic", found.entry.question,
                                            found.similarity, stored.saved_usd),
                                   found.rejected)
        self.counters.add("misses")
        return CacheLookup(None, found.rejected)

    def store_answer(self, question: str, answer: Answer, *, tenant: str,
                     params: Mapping[str, Any], vector: Vectors | None = None) -> None:
        """Keep ``answer`` to ``question`` (and, when semantic, its ``vector``)."""
        key = answer_key(question, tenant=tenant, params=params)
        self.store.put(key, encode_answer(answer), ttl_s=self.ttl_s)
        if self.semantic is not None:
            self.semantic.add(vector, question, key.digest, tenant=tenant, model=self.stack,
                              params=params, index_version=_version(params),
                              doc_ids=sorted({s.chunk.doc_id for s in answer.sources}),
                              ttl_s=self.ttl_s)
        self.counters.add("stored")

    def once(self, question: str, *, tenant: str, params: Mapping[str, Any],
             produce: Callable[[], Answer]) -> tuple[Answer, bool]:
        """``produce()`` for the first of concurrent identical questions; the others wait and
        get its answer. Returns (answer, whether this call produced it)."""
        key = answer_key(question, tenant=tenant, params=params)
        return self._flight.do(key.digest, produce)

    def invalidate_docs(self, doc_ids: Iterable[str]) -> int:
        """Drop the semantic entries answered from ``doc_ids``; how many. (Exact entries
        of the older index version are unreachable already and age out.)"""
        return self.semantic.invalidate_docs(doc_ids) if self.semantic is not None else 0

    def clear(self, tenant: str | None = None) -> int:
        """Remove ``tenant``'s entries (every tenant's when None) from both parts; how many
        exact entries went."""
        removed = self.store.clear(tenant)
        if self.semantic is not None:
            self.semantic.clear(tenant)
        return removed

    def stats(self, tenant: str | None = None) -> tuple[CacheStats, int]:
        """The exact store's stats and the number of semantic entries."""
        return self.store.stats(tenant), self.semantic.count() if self.semantic else 0

    def close(self) -> None:
        """Release the store and the semantic collection."""
        self.store.close()
        if self.semantic is not None:
            self.semantic.close()


def _version(params: Mapping[str, Any]) -> str:
    return str(params.get("index_version", ""))


def exact_store(settings: Settings) -> CacheStore:
    """The exact store the ``cache`` settings name: ``home/cache.sqlite``, or the Redis
    server at ``cache.redis_url`` under ``cache.redis_prefix``."""
    cache = settings.cache
    if cache.backend == "redis":
        from ragline.cache.redis_store import RedisCacheStore

        return RedisCacheStore(cache.redis_url, prefix=cache.redis_prefix, ttl_s=cache.ttl_s,
                               max_entries=cache.max_entries)
    from ragline.cache.sqlite_store import SQLiteCacheStore

    return SQLiteCacheStore.under_home(settings.home, ttl_s=cache.ttl_s,
                                       max_entries=cache.max_entries)


def open_answer_cache(settings: Settings, embedder: Embedder, *,
                      stack: str) -> AnswerCache | None:
    """The answer cache the ``cache`` settings describe (None when ``mode`` is off).

    The exact store is ``home/cache.sqlite`` or the Redis server at ``cache.redis_url``;
    with ``mode: semantic`` the questions go to the Edge shard under ``home/cache/`` (or
    the Qdrant server when ``index.transport: client``) with the threshold
    :func:`~ragline.cache.thresholds.semantic_threshold` resolves.
    """
    cache = settings.cache
    if cache.mode == "off":
        return None
    store = exact_store(settings)
    semantic = None
    if cache.mode == "semantic":
        from ragline.cache.semantic import open_semantic_cache
        from ragline.cache.thresholds import semantic_threshold

        semantic = open_semantic_cache(
            settings, embedder, threshold=semantic_threshold(settings),
            ttl_s=cache.ttl_s, candidates=cache.semantic.candidates)
    return AnswerCache(store, semantic=semantic, stack=stack)
