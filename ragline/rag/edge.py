"""Qdrant Edge transport: the Qdrant engine in-process, one on-disk shard per collection.

Layout under ``RAGLINE_HOME``: ``collections/<name>/shard/`` holds Qdrant's
segments and write-ahead log, ``collections/<name>/meta.json`` ragline's
metadata, replaced atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ragline.rag import edge_shards
from ragline.rag.bm25 import SparseVector
from ragline.rag.pending import split_filters
from ragline.rag.transport import (
    ROUGH_HNSW_EF,
    Filters,
    Fusion,
    Hit,
    QuerySpec,
    StoredPoint,
    VectorNames,
    dense_vector,
    stored_point,
)

_SCROLL_PAGE = 1024


def edge_filter(filters: Filters | None) -> qe.Filter | None:
    """Translate ``{payload_key: value | [values]}`` into an Edge filter (all must match).

    A key starting with ``!`` (:data:`ragline.rag.pending.NOT`) must not match.
    """
    if not filters:
        return None
    must, must_not = split_filters(filters)
    return qe.Filter(must=_edge_conditions(must) or None,
                     must_not=_edge_conditions(must_not) or None)


def _edge_conditions(filters: Filters) -> list[Any]:
    """One Edge field condition per key: the value, or any of a list of values."""
    conditions: list[Any] = []
    for key, value in filters.items():
        match: Any = (qe.MatchValue(value) if isinstance(value, str | int | bool)
                      else qe.MatchAny(list[Any](value)))
        conditions.append(qe.FieldCondition(key=key, match=match))
    return conditions


def _fused(fusion: Fusion) -> Any:
    """The Edge scoring query that fuses prefetch 0 (dense) and prefetch 1 (BM25)."""
    if fusion.method == "dbsf":
        return qe.Fusion.Dbsf()
    if fusion.method == "rrf":
        return qe.Fusion.Rrf(k=fusion.rrf_k,
                             weights=list(fusion.weights) if fusion.weights else None)
    ex = qe.Expression
    dense, bm25 = ex.Variable("$score[0]"), ex.Variable("$score[1]")
    w_dense, w_bm25 = fusion.convex_weights
    saturated = ex.Div(bm25, ex.Sum([bm25, ex.Constant(fusion.saturation)]), 0.0)
    return qe.Formula(
        ex.Sum([ex.Mult([ex.Constant(w_dense), dense]), ex.Mult([ex.Constant(w_bm25), saturated])]),
        {"$score[0]": 0.0, "$score[1]": 0.0})


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(vector.indices, vector.values)


class EdgeTransport:
    """A :class:`~ragline.rag.transport.Transport` over a Qdrant Edge shard in ``directory``.

    Points carry the vectors named by ``names`` (``dense`` and ``bm25`` by default).
    """

    def __init__(self, directory: Path, *, quantize: bool = True,
                 names: VectorNames = VectorNames(), lock_wait_s: float = 10.0) -> None:
        self.directory = directory
        self.quantize = quantize
        self.names = names
        self.lock_wait_s = lock_wait_s
        self.where = str(directory.parent)
        self._shard: qe.EdgeShard | None = None

    @property
    def _meta_path(self) -> Path:
        return self.directory / "meta.json"

    @property
    def shard(self) -> qe.EdgeShard:
        """The open shard, loaded on first use and shared with this process's other users.

        Raises :class:`~ragline.errors.IndexBusy` when another process holds it
        for longer than ``lock_wait_s``.
        """
        if self._shard is None:
            self._shard = edge_shards.acquire(self.directory, name=self.directory.name,
                                              wait_s=self.lock_wait_s)
        return self._shard

    def exists(self) -> bool:
        """Whether the shard and its metadata are on disk."""
        return self._meta_path.exists() and (self.directory / "shard").exists()

    def create(self, dimension: int, meta: dict[str, Any]) -> None:
        """Create the shard with the named vectors and a keyword index on ``doc_id``.

        With ``quantize``, dense vectors also get an int8 copy kept in RAM: searches
        scan it and rescore the best candidates with the full vectors (on 100k
        random 384-d vectors: 4x faster queries, 4x faster HNSW build).
        """
        quantization = (qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
                        if self.quantize else None)
        sparse = self.names.sparse
        config = qe.EdgeConfig(
            vectors={self.names.dense: qe.EdgeVectorParams(size=dimension,
                                                           distance=qe.Distance.Cosine)},
            sparse_vectors=({sparse: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
                            if sparse is not None else {}),
            quantization_config=quantization,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.close()
        self._shard = edge_shards.acquire(
            self.directory, name=self.directory.name, wait_s=self.lock_wait_s,
            create=lambda path: qe.EdgeShard.create(path, config))
        self._shard.update(qe.UpdateOperation.create_field_index(
            "doc_id", qe.PayloadSchemaType.Keyword))
        self.write_meta(meta)

    def read_meta(self) -> dict[str, Any]:
        """The metadata file's content."""
        result: dict[str, Any] = json.loads(self._meta_path.read_text(encoding="utf-8"))
        return result

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write the metadata to a temporary file, fsync it, then rename it into place."""
        tmp = self._meta_path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self._meta_path)

    def upsert(self, points: list[StoredPoint]) -> None:
        """Write points (vectors and payload) in one update operation."""
        if points:
            self.shard.update(qe.UpdateOperation.upsert_points([
                qe.Point(p.id, self._vectors(p), p.payload) for p in points]))

    def _vectors(self, point: StoredPoint) -> dict[str, Any]:
        vectors: dict[str, Any] = {self.names.dense: point.dense}
        if point.sparse is not None and self.names.sparse is not None:
            vectors[self.names.sparse] = _sparse(point.sparse)
        return vectors

    def delete(self, point_ids: list[str]) -> None:
        """Delete the points with these ids."""
        if point_ids:
            self.shard.update(qe.UpdateOperation.delete_points(list(point_ids)))

    def payloads(self, point_ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        """Payload fields of the points that exist among ``point_ids``."""
        if not point_ids:
            return {}
        records = self.shard.retrieve(list(point_ids), with_payload=fields, with_vector=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def scroll(self, filters: Filters | None,
               fields: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Page through matching points in id order."""
        offset: Any = None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(
                offset=offset, limit=_SCROLL_PAGE, filter=edge_filter(filters),
                with_payload=fields or False, with_vector=False))
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def points(self, batch_size: int) -> Iterator[list[StoredPoint]]:
        """Page through every point with its vectors and the full payload, in id order."""
        offset: Any = None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(
                offset=offset, limit=batch_size, with_payload=True, with_vector=True))
            page = [stored_point(str(r.id), r.vector, r.payload, self.names) for r in records]
            if page:
                yield page
            if offset is None:
                return

    def set_sparse(self, vectors: list[tuple[str, SparseVector]]) -> None:
        """Replace the BM25 vectors of existing points, leaving dense vectors as they are."""
        sparse = self.names.sparse
        if vectors and sparse is not None:
            self.shard.update(qe.UpdateOperation.update_vectors(
                [qe.PointVectors(pid, {sparse: _sparse(v)}) for pid, v in vectors]))

    def _request(self, spec: QuerySpec) -> qe.QueryRequest:
        flt = edge_filter(spec.filters)
        vectors: Any = [self.names.dense] if spec.with_dense else False
        searches = []
        if spec.dense is not None:
            searches.append(qe.Query.Nearest(spec.dense, using=self.names.dense))
        if spec.sparse is not None:
            searches.append(qe.Query.Nearest(_sparse(spec.sparse), using=self.names.sparse))
        if len(searches) == 1:
            return qe.QueryRequest(limit=spec.limit, query=searches[0], filter=flt,
                                   with_payload=spec.with_payload, with_vector=vectors)
        rough = qe.SearchParams(hnsw_ef=ROUGH_HNSW_EF, quantization=qe.QuantizationSearchParams(
            rescore=False)) if spec.rough else None
        prefetches = [qe.Prefetch(limit=depth, query=q, filter=flt,
                                  params=rough if number == 0 else None)
                      for number, (q, depth) in enumerate(zip(searches, spec.depths, strict=True))]
        return qe.QueryRequest(limit=spec.limit, prefetches=prefetches,
                               query=_fused(spec.fusion), filter=flt,
                               with_payload=spec.with_payload, with_vector=vectors)

    def query(self, specs: list[QuerySpec]) -> list[list[Hit]]:
        """Run the searches as one planned batch."""
        results = self.shard.query_batch(qe.QueryBatchRequest([self._request(s) for s in specs]))
        return [[Hit(str(p.id), float(p.score), p.payload,
                     dense_vector(p.vector, self.names) if spec.with_dense else None)
                 for p in points] for spec, points in zip(specs, results, strict=True)]

    def count(self) -> int:
        """Exact number of points."""
        return int(self.shard.count(qe.CountRequest(exact=True)))

    def optimize(self) -> None:
        """Merge segments and build the HNSW graph (blocks until done)."""
        self.shard.optimize()

    def close(self) -> None:
        """Flush pending writes and release the shard (closed when no one else here uses it)."""
        if self._shard is not None:
            self._shard = None
            edge_shards.release(self.directory)

