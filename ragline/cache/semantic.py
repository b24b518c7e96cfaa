"""The semantic cache: answers served again for questions that mean the same.

Prompt embeddings live in a Qdrant collection of their own, opened through ragline's
transports (:func:`open_semantic_cache`: an Edge shard under ``home/cache/semantic/`` by
default, the server when ``index.transport: client``). Each point is one cached question;
its payload says whose it is and what it depends on:

========================  =====================================================
``tenant``                the tenant that asked; lookups never cross tenants
``model``                 the model family that answered
``params_hash``           a hash of the generation parameters (:func:`params_hash`)
``index_version``         the index version the answer was retrieved from
``scope``                 a digest of the four above (:func:`scope_of`), the one
                          keyword-indexed key lookups filter by
``doc_id``                the ids of the source documents (a list)
``question``              the question's text, for the verifier
``created_at``            when it was stored (seconds since the epoch)
``expires_at``            when it expires: ``created_at + ttl``, or 0 for never
``response_key``          where the stored response is (a key in the response store)
``observations``          verified (similarity, correct) outcomes, for per-entry thresholds
========================  =====================================================

A **hit** needs the same tenant, model family, parameters and index version (a Qdrant
filter on ``scope``, the four fields then compared exactly; a collection of format 1,
whose entries lack ``scope``, is filtered on the four fields), an entry not expired,
similarity of at least ``threshold`` (calibrated for a false-hit rate by
:mod:`ragline.cache.calibrate`) and the verifier's acceptance
(:func:`ragline.cache.verify.verify`, lexical, always on; pass another check to chain a
cross-encoder or LLM). Expired entries met by a lookup are deleted then (lazy purge);
:meth:`SemanticCache.purge_expired` sweeps the rest. :meth:`SemanticCache.invalidate_docs`
drops every entry answered from a changed document.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.cache.calibrate import entry_threshold
from ragline.cache.verify import Verdict, verify
from ragline.protocols import Embedder, Vectors
from ragline.rag.transport import (
    DENSE,
    FilterValue,
    Hit,
    QuerySpec,
    StoredPoint,
    Transport,
    VectorNames,
)

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from ragline.config import Settings

__all__ = ["CacheEntry", "Lookup", "Rejected", "SemanticCache", "open_semantic_cache",
           "params_hash", "scope_of"]

COLLECTION = "semantic-cache"
"""The collection name :func:`open_semantic_cache` uses unless told another."""
FORMAT = 2
"""2: entries carry ``scope`` and the collection a keyword index on it (1: neither)."""
SCOPE_KEYS = ("tenant", "model", "params_hash", "index_version")
"""What an entry's ``scope`` digests: the payload keys a lookup must match."""
Check = Callable[[str, str], Verdict]


def params_hash(params: Mapping[str, Any] | None) -> str:
    """A stable hash of generation parameters (sorted JSON; ``{}`` and None hash alike)."""
    text = json.dumps(dict(params or {}), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def scope_of(tenant: str, model: str, params_digest: str, index_version: str) -> str:
    """The digest of an entry's :data:`SCOPE_KEYS` values (128 bits of SHA-256).

    Performance only: one indexed condition instead of four makes a lookup's filtered
    search about as fast as an unfiltered one (on an Edge shard of 100k entries, 1.3 ms
    instead of 2.0 ms). Lookups still compare the four fields themselves.
    """
    text = json.dumps([tenant, model, params_digest, index_version])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached question and where its response is."""

    id: str
    question: str
    response_key: str
    tenant: str
    model: str
    params_hash: str
    index_version: str
    doc_ids: tuple[str, ...]
    created_at: float
    expires_at: float  # 0: never
    observations: tuple[tuple[float, bool], ...] = ()  # verified (similarity, correct)

    @classmethod
    def from_payload(cls, point_id: str, payload: Mapping[str, Any]) -> CacheEntry:
        """The entry stored as ``payload``."""
        return cls(point_id, str(payload["question"]), str(payload["response_key"]),
                   str(payload["tenant"]), str(payload["model"]),
                   str(payload["params_hash"]), str(payload["index_version"]),
                   tuple(str(d) for d in payload.get("doc_id") or ()),
                   float(payload["created_at"]), float(payload.get("expires_at") or 0.0),
                   tuple((float(s), bool(ok)) for s, ok in payload.get("observations") or ()))

    @property
    def scope(self) -> str:
        """The digest of tenant, model, parameters and index version (:func:`scope_of`)."""
        return scope_of(self.tenant, self.model, self.params_hash, self.index_version)

    def payload(self) -> dict[str, Any]:
        """The point payload of this entry."""
        return {"question": self.question, "response_key": self.response_key,
                "tenant": self.tenant, "model": self.model, "params_hash": self.params_hash,
                "index_version": self.index_version, "scope": self.scope,
                "doc_id": list(self.doc_ids),
                "created_at": self.created_at, "expires_at": self.expires_at,
                "observations": [[s, ok] for s, ok in self.observations]}

    def expired(self, now: float) -> bool:
        """Whether the entry's TTL has run out at ``now``."""
        return 0.0 < self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Rejected:
    """A candidate a lookup did not serve, and why."""

    entry: CacheEntry
    similarity: float
    reason: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of a lookup: a hit (``entry`` and its ``similarity``) or a miss.

    ``rejected`` lists the nearest candidates that were not served, with reasons;
    ``vectors`` holds the candidates' stored vectors by id when the cache learns
    per-entry thresholds (what :meth:`SemanticCache.record` needs).
    """

    entry: CacheEntry | None
    similarity: float = 0.0
    rejected: list[Rejected] = field(default_factory=list)
    vectors: dict[str, list[float]] = field(default_factory=dict)

    @property
    def hit(self) -> bool:
        """Whether a cached response may be served."""
        return self.entry is not None


class SemanticCache:
    """Cached questions in a Qdrant collection of their own, matched by meaning.

    ``transport`` is the collection's (created on first use, dense vector only);
    ``embedder`` embeds questions when no vector is given; ``threshold`` is the cosine a
    hit needs; ``checks`` run in order on (stored question, new question), the lexical
    verifier by default; ``ttl_s`` is the default lifetime of an entry (None: forever);
    ``clock`` gives the time (seconds), ``candidates`` how many neighbours a lookup reads.
    With ``learn``, each entry's threshold moves with the outcomes :meth:`record` stores
    (:func:`~ragline.cache.calibrate.entry_threshold`, never under ``floor``).
    """

    def __init__(self, transport: Transport, embedder: Embedder, *, threshold: float,
                 checks: Sequence[Check] = (verify,), ttl_s: float | None = None,
                 clock: Callable[[], float] = time.time, candidates: int = 5,
                 learn: bool = False, floor: float | None = None,
                 max_observations: int = 32) -> None:
        self.transport = transport
        self.embedder = embedder
        self.threshold = threshold
        self.checks = tuple(checks)
        self.ttl_s = ttl_s
        self.clock = clock
        self.candidates = candidates
        self.learn = learn
        self.floor = threshold - 0.1 if floor is None else floor
        self.max_observations = max_observations
        self._created = False
        self._scoped: bool | None = None  # whether entries carry ``scope`` (format 2)

    def _ensure(self) -> None:
        """Create the collection on the first write (asked once per cache object)."""
        if not self._created and not self.transport.exists():
            self.transport.create(self.embedder.dimension,
                                  {"kind": "semantic-cache", "format": FORMAT})
            self.transport.index_keyword("scope")  # one indexed condition per lookup
            self._scoped = True
        self._created = True

    def _filters(self, values: tuple[str, str, str, str]) -> dict[str, FilterValue]:
        """The lookup filter: on ``scope``, or on the four keys in a format-1 collection."""
        if self._scoped is None:
            self._scoped = int(self.transport.read_meta().get("format", 1)) >= 2
        if self._scoped:
            return {"scope": scope_of(*values)}
        return dict(zip(SCOPE_KEYS, values, strict=True))

    def _vector(self, vector: Vectors | Sequence[float] | None, text: str) -> list[float]:
        if vector is None:
            vector = self.embedder.embed_query(text)
        values: list[float] = np.asarray(vector, dtype=np.float32).ravel().tolist()
        return values

    def add(self, question_vector: Vectors | Sequence[float] | None, question_text: str,
            response_key: str, *, tenant: str, model: str,
            params: Mapping[str, Any] | None = None, index_version: str | int = "",
            doc_ids: Iterable[str] = (), ttl_s: float | None = None) -> CacheEntry:
        """Store a question (its vector, or None to embed it) and its response's key.

        The same question for the same tenant, model, parameters and index version
        replaces the earlier entry. ``ttl_s`` overrides the cache's default lifetime.
        """
        self._ensure()
        now, ttl = self.clock(), ttl_s if ttl_s is not None else self.ttl_s
        digest = params_hash(params)
        key = json.dumps([tenant, model, digest, str(index_version), question_text])
        entry = CacheEntry(str(uuid.uuid5(uuid.NAMESPACE_URL, key)), question_text,
                           response_key, tenant, model, digest, str(index_version),
                           tuple(doc_ids), now, now + ttl if ttl is not None else 0.0)
        self.transport.upsert([StoredPoint(entry.id, self._vector(question_vector,
                                                                   question_text),
                                           None, entry.payload())])
        return entry

    def lookup(self, question_vector: Vectors | Sequence[float] | None, question_text: str,
               *, tenant: str, model: str, params: Mapping[str, Any] | None = None,
               index_version: str | int = "") -> Lookup:
        """The cached entry that may answer ``question_text``, or a miss with reasons.

        Only entries of the same tenant, model, parameters and index version are
        candidates; expired ones are deleted on the way.
        """
        if not self.transport.exists():
            return Lookup(None)
        wanted = (tenant, model, params_hash(params), str(index_version))
        query = self._vector(question_vector, question_text)
        spec = QuerySpec(dense=query, sparse=None, limit=self.candidates,
                         filters=self._filters(wanted), with_dense=True)
        now = self.clock()
        rejected: list[Rejected] = []
        expired: list[str] = []
        vectors: dict[str, list[float]] = {}
        for found in exact_scores(query, self.transport.query([spec])[0]):
            entry = CacheEntry.from_payload(found.id, found.payload or {})
            if (entry.tenant, entry.model, entry.params_hash, entry.index_version) != wanted:
                continue  # only on a collision of ``scope``: never serve another scope
            if entry.expired(now):
                expired.append(entry.id)
                continue
            if self.learn and found.dense is not None:
                vectors[entry.id] = found.dense
            reason = self._reason(entry, found.score, question_text)
            if reason is None:
                self.transport.delete(expired)
                return Lookup(entry, found.score, rejected, vectors)
            rejected.append(Rejected(entry, found.score, reason))
        self.transport.delete(expired)
        return Lookup(None, rejected=rejected, vectors=vectors)

    def threshold_of(self, entry: CacheEntry) -> float:
        """The similarity ``entry`` needs: the cache's, or the entry's own when learning."""
        if not self.learn:
            return self.threshold
        return entry_threshold(entry.observations, self.threshold, floor=self.floor)

    def record(self, found: Lookup, entry: CacheEntry, similarity: float,
               correct: bool) -> CacheEntry:
        """Store a verified outcome of serving ``entry`` at ``similarity`` (learning only).

        ``correct`` says whether the entry's response was right for the question looked
        up: a served hit judged afterwards, or a rejected candidate whose response was
        compared with the fresh one (vCache's exploration). Returns the updated entry.
        """
        if not self.learn or entry.id not in found.vectors:
            raise ValueError("record needs a lookup made by a cache with learn=True "
                             "that returned this entry")
        observations = (*entry.observations, (float(similarity), bool(correct)))
        updated = replace(entry, observations=observations[-self.max_observations:])
        self.transport.upsert([StoredPoint(entry.id, found.vectors[entry.id], None,
                                           updated.payload())])
        return updated

    def _reason(self, entry: CacheEntry, similarity: float, question: str) -> str | None:
        """Why ``entry`` may not serve ``question``; None when it may."""
        threshold = self.threshold_of(entry)
        if similarity < threshold:
            return f"similarity {similarity:.3f} below the threshold {threshold:.3f}"
        for check in self.checks:
            verdict = check(entry.question, question)
            if not verdict.accepted:
                return verdict.reason or "rejected by a check"
        return None

    def clear(self, tenant: str | None = None) -> int:
        """Delete every entry of ``tenant`` (of every tenant when None); returns how many."""
        if not self.transport.exists():
            return 0
        ids = [pid for pid, _ in self.transport.scroll(
            None if tenant is None else {"tenant": tenant}, [])]
        self.transport.delete(ids)
        return len(ids)

    def invalidate_docs(self, doc_ids: Iterable[str]) -> int:
        """Delete every entry answered from one of ``doc_ids``; returns how many."""
        wanted = sorted(set(doc_ids))
        if not wanted or not self.transport.exists():
            return 0
        ids = [pid for pid, _ in self.transport.scroll({"doc_id": wanted}, [])]
        self.transport.delete(ids)
        return len(ids)

    def purge_expired(self) -> int:
        """Delete every expired entry; returns how many."""
        if not self.transport.exists():
            return 0
        now = self.clock()
        ids = [pid for pid, payload in self.transport.scroll(None, ["expires_at"])
               if 0.0 < float(payload.get("expires_at") or 0.0) <= now]
        self.transport.delete(ids)
        return len(ids)

    def count(self) -> int:
        """Number of entries stored (expired ones not yet purged included)."""
        return self.transport.count() if self.transport.exists() else 0

    def close(self) -> None:
        """Release the collection."""
        self.transport.close()


def exact_scores(query: Sequence[float], hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` rescored with the exact cosine of their stored vectors, best first.

    The collection's int8 copy only picks the candidates (Qdrant does not rescore them
    unless asked, and the transports do not ask): thresholds are compared with exact
    similarities. Hits without their vector keep their score.
    """
    if not hits or any(h.dense is None for h in hits):
        return list(hits)
    stored = np.asarray([h.dense for h in hits], dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(stored, axis=1) * (np.linalg.norm(q) or 1.0)
    scores = (stored @ q) / np.where(norms > 0, norms, 1.0)
    order = np.argsort(-scores, kind="stable")
    return [replace(hits[i], score=float(scores[i])) for i in order]


def open_semantic_cache(settings: Settings, embedder: Embedder, *, threshold: float,
                        name: str = COLLECTION, client: QdrantClient | None = None,
                        **options: Any) -> SemanticCache:
    """A :class:`SemanticCache` in collection ``name`` on the transport ``settings`` name.

    With ``index.transport: edge`` the shard lives under ``home/cache/semantic/<name>/``,
    apart from the document collections; with ``client`` it is collection ``name`` on the
    server (or the ``client`` given). The collection has one dense vector, named
    ``dense``, with an int8 copy in RAM that the search runs on (on 100k entries, lookups
    about 1.5x faster and the HNSW build 4x; :func:`exact_scores` then gives the
    candidates their exact cosine), whatever ``index.sparse_vector`` and
    ``index.quantization`` say; ``options`` go to :class:`SemanticCache`.
    """
    from ragline.rag.connect import check_name, open_transport

    check_name(name)
    index = settings.index
    if index.transport == "edge" and client is None:
        from ragline.rag.edge import EdgeTransport

        transport: Transport = EdgeTransport(
            Path(settings.home) / "cache" / "semantic" / name, quantize=True,
            names=VectorNames(DENSE, None), lock_wait_s=index.lock_wait_s)
    else:
        index = index.model_copy(update={"dense_vector": DENSE, "sparse_vector": None,
                                         "quantization": "int8"})
        transport = open_transport(settings.model_copy(update={"index": index}), name,
                                   client=client)
    return SemanticCache(transport, embedder, threshold=threshold, **options)
