"""BM25 length bookkeeping: the collection's mean chunk length, and the vectors encoded with it.

BM25 document weights depend on the collection's mean chunk length. The
collection metadata keeps ``total_len`` and ``points``; the stored BM25 vectors
are encoded with ``avg_len`` and re-encoded whenever the real mean drifts more
than ``tolerance`` from it. Metadata is marked ``dirty`` before a write and
clean after it, so an interrupted write is repaired (:meth:`Bm25Stats.repair`)
on next open. A collection whose vectors an older tokeniser made is re-measured
and re-encoded once (:meth:`Bm25Stats.retokenize`); nothing is re-embedded.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

from ragline.rag.bm25 import Bm25Encoder, SparseVector
from ragline.rag.transport import StoredPoint, Transport

WRITE_BATCH = 256


class Bm25Stats:
    """Keeps a collection's BM25 statistics and stored vectors consistent.

    ``base`` is the configured encoder (any ``avg_len``); ``text_key`` the payload
    key of the chunk text; ``write_meta`` stores metadata (and keeps the index's
    copy of it).
    """

    def __init__(self, transport: Transport, base: Bm25Encoder, *, text_key: str,
                 tolerance: float, write_meta: Callable[[dict[str, Any]], None]) -> None:
        self.transport = transport
        self.base = base
        self.text_key = text_key
        self.tolerance = tolerance
        self._write_meta = write_meta
        self._encoder: Bm25Encoder | None = None

    def identity(self) -> dict[str, Any]:
        """The BM25 settings encoded with, as stored in collection metadata."""
        b = self.base
        return {"language": b.language, "k1": b.k1, "b": b.b, "tokenizer": b.tokenizer}

    def encoder(self, meta: dict[str, Any]) -> Bm25Encoder:
        """The encoder for the mean length recorded in ``meta`` (kept while it stays)."""
        avg = float(meta.get("avg_len") or 1.0)
        if self._encoder is None or self._encoder.avg_len != max(avg, 1.0):
            self._encoder = self.base.with_avg_len(avg)
        return self._encoder

    def encode(self, meta: dict[str, Any], text: str) -> SparseVector | None:
        """The BM25 vector stored for ``text`` (None where the collection stores none)."""
        if self.transport.names.sparse is None:
            return None
        return self.encoder(meta).encode_document(text)

    def reencode(self, meta: dict[str, Any], skip: AbstractSet[str] = frozenset()) -> None:
        """Re-encode every stored BM25 vector (but those of ``skip``) for ``meta``'s mean."""
        if self.transport.names.sparse is None:
            return  # no BM25 vectors stored
        encoder = self.encoder(meta)
        text = self.text_key
        batch: list[tuple[str, Any]] = []
        for pid, payload in self.transport.scroll(None, [text]):
            if pid in skip:
                continue
            batch.append((pid, encoder.encode_document(payload[text])))
            if len(batch) >= WRITE_BATCH:
                self.transport.set_sparse(batch)
                batch = []
        self.transport.set_sparse(batch)

    def retokenize(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Re-measure and re-encode every chunk with this BM25 tokeniser; nothing is re-embedded."""
        self._write_meta({**meta, "dirty": True})  # an interrupted run starts again on next open
        text = self.text_key
        for page in self.transport.points(WRITE_BATCH):
            self.transport.upsert([StoredPoint(p.id, p.dense, p.sparse, {
                **p.payload, "bm25_len": self.base.length(str(p.payload.get(text, "")))})
                for p in page])
        return self.repair({**meta, "bm25": self.identity()})  # new mean, new vectors

    def repair(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Recount the lengths after an interrupted write; re-encode; mark the metadata clean."""
        total = points = 0
        for _, payload in self.transport.scroll(None, ["bm25_len"]):
            total += int(payload.get("bm25_len", 0))
            points += 1
        # Keep the recorded mean while the real one is within tolerance of it, as the
        # interrupted write would have: a resumed ingest then ends where a clean one does.
        avg, target = meta.get("avg_len"), total / points if points else None
        if avg is None or target is None or abs(target - avg) > self.tolerance * avg:
            avg = target
        meta = {**meta, "total_len": total, "points": points, "avg_len": avg}
        self._write_meta({**meta, "dirty": True})
        self.reencode(meta)
        meta["dirty"] = False
        self._write_meta(meta)
        return meta

    def restat(self, meta: dict[str, Any], total: int, points: int,
               keep: AbstractSet[str] = frozenset()) -> dict[str, Any]:
        """Record new totals (dirty); re-encode stored vectors but ``keep`` if the mean drifted."""
        meta = {**meta, "total_len": total, "points": points, "dirty": True}
        target = total / points if points else None
        encoded = meta["avg_len"]
        drifted = target is not None and (
            encoded is None or abs(target - encoded) > self.tolerance * encoded)
        if drifted:
            meta["avg_len"] = target
        self._write_meta(meta)
        if drifted and encoded is not None:
            self.reencode(meta, skip=keep)
        return meta
