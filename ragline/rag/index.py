"""``QdrantIndex``: chunks stored as dense + BM25 points in Qdrant, searched dense, bm25 or hybrid.

Every point carries the chunk's dense embedding, its BM25 sparse vector and
the chunk as payload (``chunk_id``, ``doc_id``, ``text``, ``position``,
``bm25_len``, ``metadata``). Hybrid search prefetches both retrievers and fuses
them with reciprocal-rank fusion inside Qdrant.

BM25 document weights depend on the collection's mean chunk length. The index
keeps ``total_len`` and ``points`` in the collection metadata and re-encodes the
stored BM25 vectors whenever the mean drifts more than ``avg_len_tolerance``
from the value they were encoded with. Metadata is marked ``dirty`` before a
write and clean after it, so an interrupted write is repaired on next open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Self

import numpy as np

from ragline.config import Settings
from ragline.errors import CollectionNotFound, ConfigError, InvalidInput
from ragline.protocols import Embedder, Vectors
from ragline.rag.bm25 import Bm25Encoder
from ragline.rag.transport import (
    DENSE,
    SPARSE,
    Filters,
    Fusion,
    QuerySpec,
    StoredPoint,
    Transport,
)
from ragline.types import Chunk, ScoredChunk, SearchMode, point_id_for

_WRITE_BATCH = 256
_EMBED_WINDOW = 1024
_TOP_LEVEL_KEYS = ("doc_id", "chunk_id", "position")
_SEARCH_MODES = ("dense", "bm25", "hybrid")


def _payload_key(key: str) -> str:
    return key if key in _TOP_LEVEL_KEYS or key.startswith("metadata.") else f"metadata.{key}"


def _chunk_from_payload(payload: dict[str, Any]) -> Chunk:
    return Chunk(id=payload["chunk_id"], doc_id=payload["doc_id"], text=payload["text"],
                 metadata=dict(payload.get("metadata") or {}), position=int(payload["position"]))


class QdrantIndex:
    """The :class:`Index` implementation: one Qdrant collection of chunks."""

    def __init__(self, transport: Transport, *, name: str, embedder: Embedder,
                 bm25: Bm25Encoder, embedder_name: str, candidates: int = 50,
                 bm25_candidates: int | None = None, fusion: Fusion = Fusion(),
                 avg_len_tolerance: float = 0.05) -> None:
        if candidates <= 0:
            raise ValueError(f"candidates must be > 0, but got {candidates}")
        self.transport = transport
        self.name = name
        self.embedder = embedder
        self.embedder_name = embedder_name
        self.candidates = candidates
        self.bm25_candidates = bm25_candidates or candidates
        self.fusion = fusion
        self.avg_len_tolerance = avg_len_tolerance
        self._bm25_base = bm25
        self._bm25: Bm25Encoder | None = None
        self._cached_meta: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder,
                      collection: str | None = None) -> QdrantIndex:
        """Build the index the settings describe (Edge shard under ``home`` or qdrant-client).

        ``embedder`` must be the model named by ``settings.embedder.model``; the
        collection records that name and refuses another one later.
        """
        name = collection or settings.collection
        if not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"collection name {name!r} may only hold letters, digits, - and _")
        transport: Transport
        if settings.index.transport == "edge":
            from ragline.rag.edge import EdgeTransport

            transport = EdgeTransport(Path(settings.home) / "collections" / name,
                                      quantize=settings.index.quantization == "int8")
        else:
            if not settings.index.url:
                raise ConfigError("index.url: required when index.transport is 'client' "
                                  "(a server URL, or ':memory:')")
            from qdrant_client import QdrantClient

            from ragline.rag.server import ClientTransport

            key = settings.index.api_key.get_secret_value() if settings.index.api_key else None
            client = (QdrantClient(":memory:") if settings.index.url == ":memory:"
                      else QdrantClient(url=settings.index.url, api_key=key))
            transport = ClientTransport(client, name,
                                        quantize=settings.index.quantization == "int8")
        bm = settings.index.bm25
        ix = settings.index
        return cls(transport, name=name,
                   embedder=embedder,
                   bm25=Bm25Encoder(language=bm.language, k1=bm.k1, b=bm.b),
                   embedder_name=settings.embedder.model,
                   candidates=ix.dense_candidates or ix.candidates,
                   bm25_candidates=ix.bm25_candidates or ix.candidates,
                   fusion=Fusion(ix.fusion, ix.rrf_k, ix.weights),
                   avg_len_tolerance=bm.avg_len_tolerance)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush and release the underlying collection."""
        self.transport.close()

    def exists(self) -> bool:
        """Whether the collection has been created."""
        return self.transport.exists()

    def bm25_identity(self) -> dict[str, Any]:
        """The BM25 settings this index encodes with, as stored in collection metadata."""
        b = self._bm25_base
        return {"language": b.language, "k1": b.k1, "b": b.b}

    def metadata(self) -> dict[str, Any]:
        """A copy of the collection's metadata, read afresh (embedder, BM25 statistics)."""
        return dict(self._meta(fresh=True))

    def forget_metadata(self) -> None:
        """Drop the cached metadata, e.g. after another writer replaced it; re-read on use."""
        self._cached_meta = None

    def _meta(self, *, fresh: bool = False) -> dict[str, Any]:
        """The collection's metadata, read once and then kept (``fresh`` re-reads it).

        The first read checks the collection matches this index's models and
        repairs an interrupted write. Writers re-read it, so statistics written
        by another process are not lost.
        """
        if self._cached_meta is not None and not fresh:
            return self._cached_meta
        if not self.transport.exists():
            raise CollectionNotFound(self.name, self.transport.where)
        meta = self.transport.read_meta()
        if self._cached_meta is None:
            if meta.get("embedder") != self.embedder_name:
                raise ConfigError(
                    f"embedder.model: collection {self.name!r} was built with "
                    f"{meta.get('embedder')!r} but the configuration says {self.embedder_name!r}; "
                    "use the same model or ingest into a new collection")
            if meta.get("bm25") != self.bm25_identity():
                raise ConfigError(
                    f"index.bm25: collection {self.name!r} was built with {meta.get('bm25')} "
                    f"but the configuration says {self.bm25_identity()}; "
                    "use the same settings or ingest into a new collection")
            if meta.get("dirty"):
                meta = self._repair(meta)
        self._cached_meta = meta
        return meta

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self.transport.write_meta(meta)
        self._cached_meta = meta

    def _create(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"format": 1, "embedder": self.embedder_name,
                                "dimension": self.embedder.dimension, "bm25": self.bm25_identity(),
                                "avg_len": None, "total_len": 0, "points": 0, "dirty": False}
        self.transport.create(self.embedder.dimension, meta)
        self._cached_meta = meta
        return meta

    def _encoder(self, meta: dict[str, Any]) -> Bm25Encoder:
        avg = float(meta["avg_len"] or 1.0)
        if self._bm25 is None or self._bm25.avg_len != max(avg, 1.0):
            self._bm25 = self._bm25_base.with_avg_len(avg)
        return self._bm25

    # -- BM25 length bookkeeping -----------------------------------------------------------

    def _reencode(self, meta: dict[str, Any], skip: AbstractSet[str] = frozenset()) -> None:
        encoder = self._encoder(meta)
        batch: list[tuple[str, Any]] = []
        for pid, payload in self.transport.scroll(None, ["text"]):
            if pid in skip:
                continue
            batch.append((pid, encoder.encode_document(payload["text"])))
            if len(batch) >= _WRITE_BATCH:
                self.transport.set_sparse(batch)
                batch = []
        self.transport.set_sparse(batch)

    def _repair(self, meta: dict[str, Any]) -> dict[str, Any]:
        total = points = 0
        for _, payload in self.transport.scroll(None, ["bm25_len"]):
            total += int(payload.get("bm25_len", 0))
            points += 1
        meta = {**meta, "total_len": total, "points": points,
                "avg_len": total / points if points else None}
        self._write_meta({**meta, "dirty": True})
        self._reencode(meta)
        meta["dirty"] = False
        self._write_meta(meta)
        return meta

    def _restat(self, meta: dict[str, Any], total: int, points: int,
                keep: AbstractSet[str] = frozenset()) -> dict[str, Any]:
        """Record new totals (dirty); re-encode stored vectors if the mean drifted."""
        meta = {**meta, "total_len": total, "points": points, "dirty": True}
        target = total / points if points else None
        encoded = meta["avg_len"]
        drifted = target is not None and (
            encoded is None or abs(target - encoded) > self.avg_len_tolerance * encoded)
        if drifted:
            meta["avg_len"] = target
        self._write_meta(meta)
        if drifted and encoded is not None:
            self._reencode(meta, skip=keep)
        return meta

    # -- writes ----------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors | None = None, *,
               on_progress: Callable[[int], None] | None = None) -> int:
        """Embed (unless ``vectors`` are given) and store chunks; returns how many were written.

        Chunks with an id already stored are replaced. ``on_progress`` is called
        with the number of chunks written after each batch.
        """
        if vectors is not None and len(vectors) != len(chunks):
            raise InvalidInput(f"got {len(vectors)} vectors for {len(chunks)} chunks")
        keep = sorted({c.id: i for i, c in enumerate(chunks)}.values())  # last copy of an id wins
        chunks = [chunks[i] for i in keep]
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)[keep]
        if not chunks:
            return 0
        meta = self._meta(fresh=True) if self.transport.exists() else self._create()
        ids = [point_id_for(c.id) for c in chunks]
        lengths = [self._bm25_base.length(c.text) for c in chunks]
        previous = self.transport.payloads(ids, ["bm25_len"])
        total = (meta["total_len"] + sum(lengths)
                 - sum(int(p.get("bm25_len", 0)) for p in previous.values()))
        meta = self._restat(meta, total, meta["points"] + len(chunks) - len(previous),
                            keep=set(ids))
        encoder = self._encoder(meta)
        # Embed in windows of similar length: the model pads each batch to its longest text.
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].text))
        for start in range(0, len(order), _EMBED_WINDOW):
            window = order[start:start + _EMBED_WINDOW]
            dense = (vectors[window] if vectors is not None
                     else self.embedder.embed_documents([chunks[i].text for i in window]))
            self.transport.upsert([
                StoredPoint(ids[i], dense[j].tolist(), encoder.encode_document(chunks[i].text), {
                    "chunk_id": chunks[i].id, "doc_id": chunks[i].doc_id, "text": chunks[i].text,
                    "position": chunks[i].position, "bm25_len": lengths[i],
                    "metadata": chunks[i].metadata})
                for j, i in enumerate(window)])
            if on_progress is not None:
                on_progress(len(window))
        self._write_meta({**meta, "dirty": False})
        return len(chunks)

    def delete_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Delete chunks by chunk id; returns how many existed."""
        ids = [point_id_for(c) for c in chunk_ids]
        if not ids or not self.transport.exists():
            return 0
        meta = self._meta(fresh=True)
        found = self.transport.payloads(ids, ["bm25_len"])
        return self._remove(meta, found)

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete every chunk of these documents; returns how many chunks were removed."""
        doc_ids = list(doc_ids)
        if not doc_ids or not self.transport.exists():
            return 0
        meta = self._meta(fresh=True)
        found = dict(self.transport.scroll({"doc_id": doc_ids}, ["bm25_len"]))
        return self._remove(meta, found)

    def _remove(self, meta: dict[str, Any], found: dict[str, dict[str, Any]]) -> int:
        if not found:
            return 0
        removed = sum(int(p.get("bm25_len", 0)) for p in found.values())
        meta = self._restat(meta, meta["total_len"] - removed, meta["points"] - len(found),
                            keep=set(found))
        self.transport.delete(list(found))
        self._write_meta({**meta, "dirty": False})
        return len(found)

    def optimize(self) -> None:
        """Build search structures after a bulk load."""
        self.transport.optimize()

    # -- reads -----------------------------------------------------------------------------

    def count(self) -> int:
        """Number of chunks stored."""
        self._meta()
        return self.transport.count()

    @property
    def avg_len(self) -> float | None:
        """Mean BM25 length the stored vectors are encoded with (None when empty)."""
        value = self._meta()["avg_len"]
        return None if value is None else float(value)

    def chunk_ids(self, doc_id: str) -> set[str]:
        """Ids of the chunks stored for one document."""
        if not self.transport.exists():
            return set()
        self._meta()
        return {p["chunk_id"] for _, p in self.transport.scroll({"doc_id": doc_id}, ["chunk_id"])}

    def doc_ids(self) -> set[str]:
        """Ids of every document with at least one chunk stored."""
        if not self.transport.exists():
            return set()
        self._meta()
        return {p["doc_id"] for _, p in self.transport.scroll(None, ["doc_id"])}

    def _specs(self, query: str, k: int, filters: Filters | None, mode: SearchMode,
               dense: Vectors | None, explain: bool) -> list[QuerySpec]:
        meta = self._meta()
        flt = {_payload_key(key): v for key, v in (filters or {}).items()} or None
        dense_list = None
        if mode in ("dense", "hybrid"):
            vec = dense if dense is not None else self.embedder.embed_query(query)
            dense_list = np.asarray(vec, dtype=np.float32).tolist()
        sparse = self._encoder(meta).encode_query(query) if mode in ("bm25", "hybrid") else None
        # Fusion can only return what the prefetches found: each is at least k deep.
        depths = (max(self.candidates, k), max(self.bm25_candidates, k))
        main = QuerySpec(dense_list, sparse, k, depths, self.fusion, flt)
        if mode != "hybrid" or not explain:
            return [main]
        return [main,
                QuerySpec(dense_list, None, depths[0], filters=flt, with_payload=False),
                QuerySpec(None, sparse, depths[1], filters=flt, with_payload=False)]

    def search(self, query: str, k: int = 5, filters: Filters | None = None,
               mode: SearchMode = "hybrid", *, query_vector: Vectors | None = None,
               explain: bool = False) -> list[ScoredChunk]:
        """Return the ``k`` best chunks for ``query``, best first.

        ``mode`` is ``dense``, ``bm25`` or ``hybrid`` (RRF fusion inside Qdrant).
        ``filters`` match metadata keys (``{"source": path}``, lists mean any-of);
        ``doc_id`` and ``chunk_id`` match the chunk itself. ``query_vector``
        skips embedding the query. Ties are broken by chunk id.

        ``ScoredChunk.sources`` names the retriever(s) that found each chunk. In
        hybrid mode that costs two more (batched) queries, so it is done only with
        ``explain=True``; otherwise hybrid hits say ``("hybrid",)``.
        """
        if not query.strip():
            raise InvalidInput("the query is empty; pass some text to search for")
        if mode not in _SEARCH_MODES:
            raise InvalidInput(f"mode must be one of {_SEARCH_MODES}, but got {mode!r}")
        if k <= 0:
            raise InvalidInput(f"k must be > 0, but got {k}")
        results = self.transport.query(
            self._specs(query, k, filters, mode, query_vector, explain))
        found_by: dict[str, list[str]] = {}
        for source, hits in zip((DENSE, SPARSE), results[1:], strict=False):
            for hit in hits:
                found_by.setdefault(hit.id, []).append(source)
        default = {"dense": (DENSE,), "bm25": (SPARSE,), "hybrid": ("hybrid",)}[mode]
        scored = [ScoredChunk(_chunk_from_payload(h.payload or {}), h.score,
                              tuple(found_by[h.id]) if h.id in found_by else default)
                  for h in results[0]]
        scored.sort(key=lambda s: (-s.score, s.chunk.id))
        return scored
