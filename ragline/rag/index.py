"""``QdrantIndex``: chunks stored as dense + BM25 points in Qdrant, searched dense, bm25 or hybrid.

Every point carries the chunk's dense embedding, its BM25 sparse vector and
the chunk as payload (``chunk_id``, ``doc_id``, ``text``, ``position``,
``bm25_len``, ``metadata``). Hybrid search prefetches both retrievers and fuses
them inside Qdrant (RRF, DBSF or a convex formula, :class:`Fusion`), optionally
after one round of pseudo-relevance feedback (:class:`Feedback`). The vector names and the text
and metadata payload keys are configurable (:class:`VectorNames`,
:class:`PayloadKeys`); the collection records them and refuses others later.

A collection ragline did not create (no ragline metadata, e.g. one built by
LangChain's ``QdrantVectorStore``) is *foreign*: it can be searched but not
written. Its hits become chunks whose id is the point id, whose ``doc_id`` is
``metadata["source"]`` (else the point id) and whose position is 0. Nothing
records which embedder built it: queries must use the same one.

BM25 document weights depend on the collection's mean chunk length. The index
keeps ``total_len`` and ``points`` in the collection metadata and re-encodes the
stored BM25 vectors whenever the mean drifts more than ``avg_len_tolerance``
from the value they were encoded with. Metadata is marked ``dirty`` before a
write and clean after it, so an interrupted write is repaired on next open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ragline.config import Settings
from ragline.errors import CollectionNotFound, ConfigError, ForeignCollection, InvalidInput
from ragline.protocols import Embedder, Vectors
from ragline.rag.bm25 import Bm25Encoder
from ragline.rag.pending import search_filters, with_pending
from ragline.rag.transport import (
    DENSE,
    SPARSE,
    Filters,
    Fusion,
    QuerySpec,
    StoredPoint,
    Transport,
    VectorNames,
)
from ragline.rag.writebehind import write_behind
from ragline.types import Chunk, ScoredChunk, SearchMode, point_id_for

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

_WRITE_BATCH = 256
_EMBED_WINDOW = 1024
_TOP_LEVEL_KEYS = ("doc_id", "chunk_id", "position")
_SEARCH_MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True, slots=True)
class PayloadKeys:
    """The payload keys holding a chunk's text and its metadata mapping."""

    text: str = "text"
    metadata: str = "metadata"


def _is_foreign(meta: dict[str, Any]) -> bool:
    """Whether collection metadata lacks ragline's own (every ragline collection has a format)."""
    return "format" not in meta


def _older_tokenizer(stored: Any, current: dict[str, Any]) -> bool:
    """Whether a stored BM25 identity differs from ``current`` only in its (older) tokeniser."""
    return (isinstance(stored, dict) and stored.get("tokenizer") != current["tokenizer"]
            and {**stored, "tokenizer": current["tokenizer"]} == current)


def _layout(names: VectorNames, keys: PayloadKeys) -> dict[str, Any]:
    """The point layout as recorded in collection metadata, keyed like ``index.*`` settings."""
    return {"dense_vector": names.dense, "sparse_vector": names.sparse,
            "text_key": keys.text, "metadata_key": keys.metadata}


_DEFAULT_LAYOUT = _layout(VectorNames(), PayloadKeys())  # collections made before it was recorded


@dataclass(frozen=True, slots=True)
class Feedback:
    """Pseudo-relevance feedback for hybrid search; ``docs`` 0 (the default) turns it off.

    A first fused query (no payload) returns the ``docs`` best chunks with their
    dense vectors; the query vector plus ``weight`` times their mean, renormalised,
    replaces the query vector of the real search. It costs one more query and,
    on the benchmark sets, lifts nDCG@10 (docs/retrieval.md has the figures).
    """

    docs: int = 0
    weight: float = 2.0


class QdrantIndex:
    """The :class:`Index` implementation: one Qdrant collection of chunks.

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
        self.avg_len_tolerance = avg_len_tolerance
        self.payload_keys = payload_keys
        self._bm25_base = bm25
        self._bm25: Bm25Encoder | None = None
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
        name = collection or settings.collection
        if not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"collection name {name!r} may only hold letters, digits, - and _")
        ix = settings.index
        names = VectorNames(ix.dense_vector, ix.sparse_vector)
        transport: Transport
        if client is not None and ix.transport != "client":
            raise ConfigError("index.transport: must be 'client' to search through a given "
                              f"QdrantClient, but it is {ix.transport!r}")
        if ix.transport == "edge":
            from ragline.rag.edge import EdgeTransport

            transport = EdgeTransport(Path(settings.home) / "collections" / name,
                                      quantize=ix.quantization == "int8", names=names,
                                      lock_wait_s=ix.lock_wait_s)
        else:
            from ragline.rag.server import ClientTransport

            transport = ClientTransport(client or _client(settings), name,
                                        quantize=ix.quantization == "int8", names=names,
                                        close_client=client is None)
        bm = ix.bm25
        return cls(transport, name=name,
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

    def exists(self) -> bool:
        """Whether the collection has been created."""
        return self.transport.exists()

    def bm25_identity(self) -> dict[str, Any]:
        """The BM25 settings this index encodes with, as stored in collection metadata."""
        b = self._bm25_base
        return {"language": b.language, "k1": b.k1, "b": b.b, "tokenizer": b.tokenizer}

    def layout(self) -> dict[str, Any]:
        """Vector names and payload keys this index uses, as stored in collection metadata."""
        return _layout(self.transport.names, self.payload_keys)

    def is_foreign(self) -> bool:
        """Whether the collection was created by another tool: searchable, not writable."""
        return _is_foreign(self._meta())

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
        if self._cached_meta is None and not _is_foreign(meta):
            if meta.get("embedder") != self.embedder_name:
                raise ConfigError(
                    f"embedder.model: collection {self.name!r} was built with "
                    f"{meta.get('embedder')!r} but the configuration says {self.embedder_name!r}; "
                    "use the same model or ingest into a new collection")
            older = _older_tokenizer(meta.get("bm25"), self.bm25_identity())
            if meta.get("bm25") != self.bm25_identity() and not older:
                raise ConfigError(
                    f"index.bm25: collection {self.name!r} was built with {meta.get('bm25')} "
                    f"but the configuration says {self.bm25_identity()}; "
                    "use the same settings or ingest into a new collection")
            stored = meta.get("layout", _DEFAULT_LAYOUT)
            if stored != self.layout():
                raise ConfigError(
                    f"index: collection {self.name!r} was built with {stored} "
                    f"but the configuration says {self.layout()}; use the same "
                    "index.dense_vector, sparse_vector, text_key and metadata_key, "
                    "or ingest into a new collection")
            if older:  # an older BM25 tokeniser: rebuilt here, as one repair
                meta = self._retokenize(meta)
            elif meta.get("dirty"):
                meta = self._repair(meta)
        self._cached_meta = meta
        return meta

    def _owned(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta``, unless the collection is foreign: those are never written to."""
        if _is_foreign(meta):
            raise ForeignCollection(self.name, self.transport.where)
        return meta

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self.transport.write_meta(meta)
        self._cached_meta = meta

    def _create(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"format": 1, "embedder": self.embedder_name,
                                "dimension": self.embedder.dimension, "bm25": self.bm25_identity(),
                                "avg_len": None, "total_len": 0, "points": 0, "dirty": False,
                                "layout": self.layout()}
        self.transport.create(self.embedder.dimension, meta)
        self._cached_meta = meta
        return meta

    def _encoder(self, meta: dict[str, Any]) -> Bm25Encoder:
        avg = float(meta.get("avg_len") or 1.0)
        if self._bm25 is None or self._bm25.avg_len != max(avg, 1.0):
            self._bm25 = self._bm25_base.with_avg_len(avg)
        return self._bm25

    # -- BM25 length bookkeeping -----------------------------------------------------------

    def _reencode(self, meta: dict[str, Any], skip: AbstractSet[str] = frozenset()) -> None:
        if self.transport.names.sparse is None:
            return  # no BM25 vectors stored
        encoder = self._encoder(meta)
        text = self.payload_keys.text
        batch: list[tuple[str, Any]] = []
        for pid, payload in self.transport.scroll(None, [text]):
            if pid in skip:
                continue
            batch.append((pid, encoder.encode_document(payload[text])))
            if len(batch) >= _WRITE_BATCH:
                self.transport.set_sparse(batch)
                batch = []
        self.transport.set_sparse(batch)

    def _retokenize(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Re-measure and re-encode every chunk with this BM25 tokeniser; nothing is re-embedded."""
        self._write_meta({**meta, "dirty": True})  # an interrupted run starts again on next open
        text = self.payload_keys.text
        for page in self.transport.points(_WRITE_BATCH):
            self.transport.upsert([StoredPoint(p.id, p.dense, p.sparse, {
                **p.payload, "bm25_len": self._bm25_base.length(str(p.payload.get(text, "")))})
                for p in page])
        return self._repair({**meta, "bm25": self.bm25_identity()})  # new mean, new vectors

    def _repair(self, meta: dict[str, Any]) -> dict[str, Any]:
        total = points = 0
        for _, payload in self.transport.scroll(None, ["bm25_len"]):
            total += int(payload.get("bm25_len", 0))
            points += 1
        # Keep the recorded mean while the real one is within tolerance of it, as the
        # interrupted write would have: a resumed ingest then ends where a clean one does.
        avg, target = meta.get("avg_len"), total / points if points else None
        if avg is None or target is None or abs(target - avg) > self.avg_len_tolerance * avg:
            avg = target
        meta = {**meta, "total_len": total, "points": points, "avg_len": avg}
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
               on_progress: Callable[[int], None] | None = None,
               batch_size: int = _EMBED_WINDOW, queue_depth: int = 2,
               on_written: Callable[[list[Chunk]], None] | None = None,
               pending: AbstractSet[str] = frozenset()) -> int:
        """Embed (unless ``vectors`` are given) and store chunks; returns how many were written.

        Chunks with an id already stored are replaced. Chunks are embedded
        ``batch_size`` at a time, shortest first, while a writer thread
        BM25-encodes and writes the batches already embedded (at most
        ``queue_depth`` wait for it), so memory stays at a few batches.
        ``on_progress`` is called, from the writer thread, with the number of
        chunks written after each batch, and ``on_written`` with those chunks.
        ``pending`` documents are marked pending (hidden from search, see
        :mod:`ragline.rag.pending`) before any point is written; the caller
        clears them. An error on either side stops both
        and propagates; the collection is then marked dirty and repaired on
        its next use, and chunks already written stay stored. Raises
        :class:`~ragline.errors.ForeignCollection` for a collection ragline did not create.
        """
        if vectors is not None and len(vectors) != len(chunks):
            raise InvalidInput(f"got {len(vectors)} vectors for {len(chunks)} chunks")
        if batch_size < 1 or queue_depth < 1:
            raise InvalidInput("batch_size and queue_depth must be >= 1, but got "
                               f"{batch_size} and {queue_depth}")
        keep = sorted({c.id: i for i, c in enumerate(chunks)}.values())  # last copy of an id wins
        chunks = [chunks[i] for i in keep]
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)[keep]
        if not chunks:
            return 0
        meta = self._owned(self._meta(fresh=True)) if self.transport.exists() else self._create()
        ids = [point_id_for(c.id) for c in chunks]
        lengths = [self._bm25_base.length(c.text) for c in chunks]
        previous = self.transport.payloads(ids, ["bm25_len"])
        total = (meta["total_len"] + sum(lengths)
                 - sum(int(p.get("bm25_len", 0)) for p in previous.values()))
        meta = self._restat(with_pending(meta, pending), total,
                            meta["points"] + len(chunks) - len(previous),
                            keep=set(ids))
        encoder = self._encoder(meta)
        # Embed in windows of similar length: the model pads each batch to its longest text.
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].text))

        def embedded() -> Iterator[tuple[list[int], Vectors]]:
            for start in range(0, len(order), batch_size):
                window = order[start:start + batch_size]
                yield window, (vectors[window] if vectors is not None else
                               self.embedder.embed_documents([chunks[i].text for i in window]))

        def write(batch: tuple[list[int], Vectors]) -> None:
            window, dense = batch
            self.transport.upsert([
                self._point(ids[i], chunks[i], dense[j].tolist(), lengths[i], encoder)
                for j, i in enumerate(window)])
            if on_progress is not None:
                on_progress(len(window))
            if on_written is not None:
                on_written([chunks[i] for i in window])

        try:
            write_behind(embedded(), write, depth=queue_depth)
        except BaseException:
            self.forget_metadata()  # dirty on disk: the next use re-reads and repairs it
            raise
        self._write_meta({**meta, "dirty": False})
        return len(chunks)

    def _point(self, point_id: str, chunk: Chunk, dense: list[float], length: int,
               encoder: Bm25Encoder) -> StoredPoint:
        """The point stored for ``chunk``: its vectors and its payload."""
        sparse = (encoder.encode_document(chunk.text)
                  if self.transport.names.sparse is not None else None)
        return StoredPoint(point_id, dense, sparse, {
            "chunk_id": chunk.id, "doc_id": chunk.doc_id, self.payload_keys.text: chunk.text,
            "position": chunk.position, "bm25_len": length,
            self.payload_keys.metadata: chunk.metadata})

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

    def _specs(self, query: str, k: int, filters: Filters | None, mode: SearchMode,
               dense: Vectors | None, explain: bool) -> list[QuerySpec]:
        meta = self._meta()
        flt = search_filters({self._filter_key(key, meta): v for key, v in
                              (filters or {}).items()} or None, meta)
        dense_list = None
        if mode in ("dense", "hybrid"):
            vec = dense if dense is not None else self.embedder.embed_query(query)
            dense_list = np.asarray(vec, dtype=np.float32).tolist()
        sparse = self._encoder(meta).encode_query(query) if mode in ("bm25", "hybrid") else None
        # Fusion can only return what the prefetches found: each is at least k deep.
        depths = (max(self.candidates, k), max(self.bm25_candidates, k))
        if mode == "hybrid" and self.feedback.docs and dense_list is not None:
            dense_list = self._fed_back(dense_list, QuerySpec(
                dense_list, sparse, self.feedback.docs, depths, self.fusion, flt,
                with_payload=False, with_dense=True, rough=True))
        main = QuerySpec(dense_list, sparse, k, depths, self.fusion, flt)
        if mode != "hybrid" or not explain:
            return [main]
        return [main,
                QuerySpec(dense_list, None, depths[0], filters=flt, with_payload=False),
                QuerySpec(None, sparse, depths[1], filters=flt, with_payload=False)]

    def _fed_back(self, dense: list[float], first: QuerySpec) -> list[float]:
        """``dense`` moved towards the dense vectors of the best hits of ``first``."""
        found = [h.dense for h in self.transport.query([first])[0] if h.dense]
        if not found:
            return dense
        moved = (np.asarray(dense, dtype=np.float32)
                 + self.feedback.weight * np.asarray(found, dtype=np.float32).mean(axis=0))
        norm = float(np.linalg.norm(moved))
        return (moved / norm).tolist() if norm > 0 else dense

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
        if mode != "dense" and self.transport.names.sparse is None:
            raise InvalidInput(
                f"mode {mode!r} needs BM25 vectors, but collection {self.name!r} is configured "
                "without a sparse vector (index.sparse_vector: null); search with mode 'dense'")
        results = self.transport.query(
            self._specs(query, k, filters, mode, query_vector, explain))
        found_by: dict[str, list[str]] = {}
        for source, hits in zip((DENSE, SPARSE), results[1:], strict=False):
            for hit in hits:
                found_by.setdefault(hit.id, []).append(source)
        default = {"dense": (DENSE,), "bm25": (SPARSE,), "hybrid": ("hybrid",)}[mode]
        foreign = _is_foreign(self._meta())
        scored = [ScoredChunk(self._chunk(h.id, h.payload or {}, foreign=foreign), h.score,
                              tuple(found_by[h.id]) if h.id in found_by else default)
                  for h in results[0]]
        scored.sort(key=lambda s: (-s.score, s.chunk.id))
        return scored

    def _filter_key(self, key: str, meta: dict[str, Any]) -> str:
        """The payload path a filter key matches: the chunk's own field or a metadata key."""
        if key in _TOP_LEVEL_KEYS:
            if _is_foreign(meta):
                raise InvalidInput(
                    f"collection {self.name!r} was not created by ragline and stores no "
                    f"{key!r}; filter on its metadata keys instead, e.g. 'source'")
            return key
        prefix = f"{self.payload_keys.metadata}."
        return key if key.startswith(prefix) else prefix + key

    def _chunk(self, point_id: str, payload: dict[str, Any], *, foreign: bool) -> Chunk:
        """The chunk a point's payload holds; a foreign point's id doubles as chunk id."""
        keys = self.payload_keys
        if keys.text not in payload:
            raise ConfigError(
                f"index.text_key: point {point_id} of collection {self.name!r} has no payload "
                f"key {keys.text!r}; set index.text_key to the key that holds the text "
                "(LangChain's QdrantVectorStore uses 'page_content')")
        metadata = dict(payload.get(keys.metadata) or {})
        if foreign:
            source = metadata.get("source")
            return Chunk(id=point_id, doc_id=point_id if source is None else str(source),
                         text=str(payload[keys.text]), metadata=metadata, position=0)
        return Chunk(id=payload["chunk_id"], doc_id=payload["doc_id"], text=payload[keys.text],
                     metadata=metadata, position=int(payload["position"]))


def _client(settings: Settings) -> QdrantClient:
    """A new QdrantClient for ``index.url`` (a server URL, or ``:memory:``)."""
    ix = settings.index
    if not ix.url:
        raise ConfigError("index.url: required when index.transport is 'client' "
                          "(a server URL, or ':memory:')")
    from qdrant_client import QdrantClient

    key = ix.api_key.get_secret_value() if ix.api_key else None
    return (QdrantClient(":memory:") if ix.url == ":memory:"
            else QdrantClient(url=ix.url, api_key=key))
