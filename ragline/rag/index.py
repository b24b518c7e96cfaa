"""``QdrantIndex``: chunks stored as dense + BM25 points in Qdrant, searched dense, bm25 or hybrid.

Every point carries the chunk's dense embedding, its BM25 sparse vector and
the chunk as payload (:mod:`ragline.rag.payload`). Hybrid search prefetches
both retrievers and fuses them inside Qdrant (RRF, DBSF or a convex formula,
:class:`Fusion`), optionally after one round of pseudo-relevance feedback
(:class:`Feedback`; :mod:`ragline.rag.planner`). The vector names and the text
and metadata payload keys are configurable (:class:`VectorNames`,
:class:`PayloadKeys`); the collection records them and refuses others later
(:mod:`ragline.rag.collection_meta`).

A collection ragline did not create (e.g. one built by LangChain's
``QdrantVectorStore``) is *foreign*: it can be searched but not written.

BM25 document weights depend on the collection's mean chunk length; the
bookkeeping that keeps them right, and repairs an interrupted write on next
open, is :mod:`ragline.rag.bm25_stats`. The transports (Edge shard or
qdrant-client) are opened by :mod:`ragline.rag.connect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Self

from ragline.config import Settings
from ragline.errors import CollectionNotFound, ForeignCollection
from ragline.protocols import Embedder, Filters, Vectors
from ragline.rag import collection_meta
from ragline.rag import pending as pending_docs
from ragline.rag.bm25 import Bm25Encoder
from ragline.rag.bm25_stats import Bm25Stats
from ragline.rag.connect import check_name, open_transport
from ragline.rag.payload import PayloadKeys, filter_key, to_chunk, to_point
from ragline.rag.planner import Feedback, Plan, check_search, ranked
from ragline.rag.transport import Fusion, Transport, VectorNames
from ragline.rag.upsert import EMBED_WINDOW, checked, embed_and_write
from ragline.types import Chunk, ScoredChunk, SearchMode, point_id_for

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

__all__ = ["Feedback", "Fusion", "PayloadKeys", "QdrantIndex", "VectorNames"]


class QdrantIndex:
    """The :class:`~ragline.protocols.Index` implementation: one Qdrant collection of chunks.

    The transport names the vectors; ``payload_keys`` names where text and
    metadata live in each point's payload.
    """

    def __init__(self, transport: Transport, *, name: str, embedder: Embedder,
                 bm25: Bm25Encoder, embedder_name: str, candidates: int = 50,
                 bm25_candidates: int | None = None, fusion: Fusion = Fusion(),
                 avg_len_tolerance: float = 0.05,
                 payload_keys: PayloadKeys = PayloadKeys(),
                 feedback: Feedback = Feedback()) -> None:
        if candidates <= 0:
            raise ValueError(f"candidates must be > 0, but got {candidates}")
        self.transport = transport
        self.name = name
        self.embedder = embedder
        self.embedder_name = embedder_name
        self.candidates = candidates
        self.bm25_candidates = bm25_candidates or candidates
        self.fusion = fusion
        self.feedback = feedback
        self.payload_keys = payload_keys
        self._stats = Bm25Stats(transport, bm25, text_key=payload_keys.text,
                                tolerance=avg_len_tolerance, write_meta=self._write_meta)
        self._cached_meta: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder,
                      collection: str | None = None,
                      client: QdrantClient | None = None) -> QdrantIndex:
        """Build the index the settings describe (Edge shard under ``home`` or qdrant-client).

        ``embedder`` must be the model named by ``settings.embedder.model``; the
        collection records that name and refuses another one later. A foreign
        collection records none, so there the caller must pass the embedder
        that built it. ``client`` reuses an open ``QdrantClient`` (it needs
        ``index.transport: client``, ignores ``index.url``, and is left open by
        :meth:`close`).
        """
        name = check_name(collection or settings.collection)
        ix = settings.index
        bm = ix.bm25
        return cls(open_transport(settings, name, client), name=name,
                   embedder=embedder,
                   bm25=Bm25Encoder(language=bm.language, k1=bm.k1, b=bm.b),
                   embedder_name=settings.embedder.model,
                   candidates=ix.dense_candidates or ix.candidates,
                   bm25_candidates=ix.bm25_candidates or ix.candidates,
                   fusion=Fusion(ix.fusion, ix.rrf_k, ix.weights, ix.bm25_saturation),
                   avg_len_tolerance=bm.avg_len_tolerance,
                   payload_keys=PayloadKeys(ix.text_key, ix.metadata_key),
                   feedback=Feedback(ix.feedback.docs, ix.feedback.weight))

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush and release the underlying collection."""
        self.transport.close()

    @property
    def where(self) -> str:
        """Where the collection lives, for messages (a folder, or a Qdrant URL)."""
        return self.transport.where

    @property
    def avg_len_tolerance(self) -> float:
        """How far the mean BM25 length may drift before stored vectors are re-encoded."""
        return self._stats.tolerance

    def exists(self) -> bool:
        """Whether the collection has been created."""
        return self.transport.exists()

    def bm25_identity(self) -> dict[str, Any]:
        """The BM25 settings this index encodes with, as stored in collection metadata."""
        return self._stats.identity()

    def layout(self) -> dict[str, Any]:
        """Vector names and payload keys this index uses, as stored in collection metadata."""
        return collection_meta.layout(self.transport.names, self.payload_keys)

    def is_foreign(self) -> bool:
        """Whether the collection was created by another tool: searchable, not writable."""
        return collection_meta.is_foreign(self._meta())

    # -- metadata --------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """A copy of the collection's metadata, read afresh (embedder, BM25 statistics)."""
        return dict(self._meta(fresh=True))

    def forget_metadata(self) -> None:
        """Drop the cached metadata, e.g. after another writer replaced it; re-read on use."""
        self._cached_meta = None

    def _meta(self, *, fresh: bool = False) -> dict[str, Any]:
        """The collection's metadata, read once and then kept (``fresh`` re-reads it).

        The first read checks the collection matches this index's models and
        layout, repairs an interrupted write and re-encodes BM25 vectors that an
        older tokeniser (``Bm25Encoder.tokenizer``) made; a foreign collection has no
        metadata to check. Writers re-read it, so statistics written by another
        process are not lost.
        """
        if self._cached_meta is not None and not fresh:
            return self._cached_meta
        if not self.transport.exists():
            raise CollectionNotFound(self.name, self.transport.where)
        meta = self.transport.read_meta()
        if self._cached_meta is None and not collection_meta.is_foreign(meta):
            older = collection_meta.check(meta, name=self.name, embedder=self.embedder_name,
                                          bm25=self.bm25_identity(), point_layout=self.layout())
            if older:  # an older BM25 tokeniser: rebuilt here, as one repair
                meta = self._stats.retokenize(meta)
            elif meta.get("dirty"):
                meta = self._stats.repair(meta)
        self._cached_meta = meta
        return meta

    def _owned(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta``, unless the collection is foreign: those are never written to."""
        if collection_meta.is_foreign(meta):
            raise ForeignCollection(self.name, self.transport.where)
        return meta

    def _write_meta(self, meta: dict[str, Any]) -> None:
        meta = collection_meta.bumped(meta)
        self.transport.write_meta(meta)
        self._cached_meta = meta

    def version(self) -> str:
        """The collection's content version, read afresh: it changes on every write that
        can change a search result (upsert, delete, pending marks, BM25 repair), by this
        process or another. A foreign collection's is its point count (ragline never
        writes it); a missing collection's is ``"0"``.

        When another writer changed the collection, the metadata kept for searching
        (BM25 statistics, pending documents) is re-read too.
        """
        if not self.transport.exists():
            return "0"
        meta = self.transport.read_meta()
        if collection_meta.is_foreign(meta):
            return f"foreign-{self.transport.count()}"
        current = collection_meta.version_of(meta)
        if (self._cached_meta is not None
                and collection_meta.version_of(self._cached_meta) != current):
            self.forget_metadata()
        return str(current)

    def _create(self) -> dict[str, Any]:
        meta = collection_meta.new_meta(embedder=self.embedder_name,
                                        dimension=self.embedder.dimension,
                                        bm25=self.bm25_identity(), point_layout=self.layout())
        self.transport.create(self.embedder.dimension, meta)
        self._cached_meta = meta
        return meta

    # -- writes ----------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors | None = None, *,
               on_progress: Callable[[int], None] | None = None,
               batch_size: int = EMBED_WINDOW, queue_depth: int = 2,
               on_written: Callable[[list[Chunk]], None] | None = None,
               pending: AbstractSet[str] = frozenset()) -> int:
        """Embed (unless ``vectors`` are given) and store chunks; returns how many were written.

        Chunks with an id already stored are replaced. Chunks are embedded
        ``batch_size`` at a time, shortest first, while a writer thread
        BM25-encodes and writes the batches already embedded (at most
        ``queue_depth`` wait for it, :mod:`ragline.rag.upsert`), so memory stays
        at a few batches. ``on_progress`` is called, from the writer thread, with
        the number of chunks written after each batch, and ``on_written`` with
        those chunks. ``pending`` documents are marked pending (hidden from
        search, see :mod:`ragline.rag.pending`) before any point is written; the
        caller clears them. An error on either side stops both and propagates;
        the collection is then marked dirty and repaired on its next use, and
        chunks already written stay stored. Raises
        :class:`~ragline.errors.ForeignCollection` for a collection ragline did not create.
        """
        chunks, vectors = checked(chunks, vectors, batch_size=batch_size,
                                  queue_depth=queue_depth)
        if not chunks:
            return 0
        meta = self._owned(self._meta(fresh=True)) if self.transport.exists() else self._create()
        ids = [point_id_for(c.id) for c in chunks]
        lengths = [self._stats.base.length(c.text) for c in chunks]
        previous = self.transport.payloads(ids, ["bm25_len"])
        total = (meta["total_len"] + sum(lengths)
                 - sum(int(p.get("bm25_len", 0)) for p in previous.values()))
        meta = self._stats.restat(pending_docs.with_pending(meta, pending), total,
                                  meta["points"] + len(chunks) - len(previous), keep=set(ids))
        encoder = self._stats.encoder(meta) if self.transport.names.sparse is not None else None
        try:
            embed_and_write(
                chunks, vectors, embedder=self.embedder, transport=self.transport,
                batch_size=batch_size, queue_depth=queue_depth, on_progress=on_progress,
                on_written=on_written,
                point=lambda i, dense: to_point(
                    ids[i], chunks[i], dense,
                    encoder.encode_document(chunks[i].text) if encoder is not None else None,
                    lengths[i], self.payload_keys))
        except BaseException:
            self.forget_metadata()  # dirty on disk: the next use re-reads and repairs it
            raise
        self._write_meta({**meta, "dirty": False})
        return len(chunks)

    def delete_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Delete chunks by chunk id; returns how many existed."""
        chunk_ids = list(chunk_ids)
        if not chunk_ids or not self.transport.exists():
            return 0
        meta = self._owned(self._meta(fresh=True))
        found = self.transport.payloads([point_id_for(c) for c in chunk_ids], ["bm25_len"])
        return self._remove(meta, found)

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete every chunk of these documents; returns how many chunks were removed."""
        doc_ids = list(doc_ids)
        if not doc_ids or not self.transport.exists():
            return 0
        meta = self._owned(self._meta(fresh=True))
        found = dict(self.transport.scroll({"doc_id": doc_ids}, ["bm25_len"]))
        return self._remove(meta, found)

    def _remove(self, meta: dict[str, Any], found: dict[str, dict[str, Any]]) -> int:
        if not found:
            return 0
        removed = sum(int(p.get("bm25_len", 0)) for p in found.values())
        meta = self._stats.restat(meta, meta["total_len"] - removed,
                                  meta["points"] - len(found), keep=set(found))
        self.transport.delete(list(found))
        self._write_meta({**meta, "dirty": False})
        return len(found)

    def mark_pending(self, doc_ids: Iterable[str]) -> None:
        """Hide these documents from search while they are written (:mod:`ragline.rag.pending`)."""
        pending_docs.mark(self, doc_ids)

    def clear_pending(self, doc_ids: Iterable[str]) -> None:
        """Make these documents searchable again (see :mod:`ragline.rag.pending`)."""
        pending_docs.clear(self, doc_ids)

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
        value = self._meta().get("avg_len")
        return None if value is None else float(value)

    def chunk_ids(self, doc_id: str) -> set[str]:
        """Ids of the chunks stored for one document (ragline's own collections only)."""
        if not self.transport.exists():
            return set()
        self._owned(self._meta())
        return {p["chunk_id"] for _, p in self.transport.scroll({"doc_id": doc_id}, ["chunk_id"])}

    def doc_ids(self) -> set[str]:
        """Ids of every document with at least one chunk stored (ragline's own collections only)."""
        if not self.transport.exists():
            return set()
        self._owned(self._meta())
        return {p["doc_id"] for _, p in self.transport.scroll(None, ["doc_id"])}

    def search(self, query: str, k: int = 5, filters: Filters | None = None,
               mode: SearchMode = "hybrid", *, query_vector: Vectors | None = None,
               explain: bool = False) -> list[ScoredChunk]:
        """Return the ``k`` best chunks for ``query``, best first.

        ``mode`` is ``dense``, ``bm25`` or ``hybrid`` (fused inside Qdrant as
        :attr:`fusion` says; with :attr:`feedback` on, after one feedback round);
        without a sparse vector only ``dense`` works. ``filters`` match metadata
        keys (``{"source": path}``, lists mean any-of); ``doc_id`` and ``chunk_id``
        match the chunk itself (not in foreign collections). ``query_vector``
        skips embedding the query. Ties are broken by chunk id.

        ``ScoredChunk.retrievers`` names the retriever(s) that found each chunk. In
        hybrid mode that costs two more (batched) queries, so it is done only with
        ``explain=True``; otherwise hybrid hits say ``("hybrid",)``.
        """
        check_search(query, k, mode, sparse=self.transport.names.sparse is not None,
                     collection=self.name)
        meta = self._meta()
        foreign = collection_meta.is_foreign(meta)
        flt = pending_docs.search_filters({
            filter_key(key, self.payload_keys, collection=self.name, foreign=foreign): v
            for key, v in (filters or {}).items()} or None, meta)
        dense = None
        if mode in ("dense", "hybrid"):
            dense = query_vector if query_vector is not None else self.embedder.embed_query(query)
        sparse = (self._stats.encoder(meta).encode_query(query)
                  if mode in ("bm25", "hybrid") else None)
        plan = Plan(self.candidates, self.bm25_candidates, self.fusion, self.feedback)
        specs = plan.specs(k, mode, dense, sparse, flt, explain, self.transport.query)
        return ranked(self.transport.query(specs), mode, lambda h: to_chunk(
            h.id, h.payload or {}, self.payload_keys, collection=self.name, foreign=foreign))
