"""qdrant-client transport: a Qdrant server or cluster by URL, or ``:memory:`` for tests.

Collections get the same named vectors as the embedded shard (``dense`` cosine,
``bm25`` sparse with the IDF modifier); ragline's metadata lives in Qdrant's
collection metadata, so every replica sees the same BM25 statistics.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ragline.rag.bm25 import SparseVector
from ragline.rag.transport import DENSE, SPARSE, Filters, Hit, QuerySpec, StoredPoint

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models

_BATCH = 256
_SCROLL_PAGE = 1024


class ClientTransport:
    """A :class:`~ragline.rag.transport.Transport` over qdrant-client."""

    def __init__(self, client: QdrantClient, collection: str, *, quantize: bool = True) -> None:
        self.client = client
        self.quantize = quantize
        self.collection = collection
        self.where = f"Qdrant at {_describe(client)}"

    def _filter(self, filters: Filters | None) -> models.Filter | None:
        from qdrant_client import models

        if not filters:
            return None
        conditions: list[Any] = []
        for key, value in filters.items():
            match: Any = (models.MatchValue(value=value) if isinstance(value, str | int | bool)
                          else models.MatchAny(any=list[Any](value)))
            conditions.append(models.FieldCondition(key=key, match=match))
        return models.Filter(must=conditions)

    def exists(self) -> bool:
        """Whether the collection exists on the server."""
        return bool(self.client.collection_exists(self.collection))

    def create(self, dimension: int, meta: dict[str, Any]) -> None:
        """Create the collection with dense + BM25 vectors, a doc_id index and ``meta``.

        With ``quantize``, dense vectors get an int8 copy in RAM (searched, then rescored).
        """
        from qdrant_client import models

        quantization = (models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, always_ram=True)) if self.quantize else None)
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=dimension,
                                                       distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            quantization_config=quantization,
            metadata=meta,
        )
        with warnings.catch_warnings():  # local mode says payload indexes do nothing there
            warnings.simplefilter("ignore", UserWarning)
            self.client.create_payload_index(self.collection, "doc_id",
                                             models.PayloadSchemaType.KEYWORD)

    def read_meta(self) -> dict[str, Any]:
        """The collection's metadata."""
        return dict(self.client.get_collection(self.collection).config.metadata or {})

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the collection's metadata."""
        self.client.update_collection(self.collection, metadata=meta)

    def upsert(self, points: list[StoredPoint]) -> None:
        """Upload points in batches, waiting for each to be applied."""
        from qdrant_client import models

        for start in range(0, len(points), _BATCH):
            self.client.upsert(self.collection, wait=True, points=[
                models.PointStruct(id=p.id, payload=p.payload, vector={
                    DENSE: p.dense,
                    SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                })
                for p in points[start:start + _BATCH]
            ])

    def delete(self, point_ids: list[str]) -> None:
        """Delete points by id."""
        from qdrant_client import models

        if point_ids:
            self.client.delete(self.collection, wait=True,
                               points_selector=models.PointIdsList(points=list(point_ids)))

    def payloads(self, point_ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        """Payload fields of the points that exist among ``point_ids``."""
        if not point_ids:
            return {}
        records = self.client.retrieve(self.collection, ids=list(point_ids),
                                       with_payload=fields, with_vectors=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def scroll(self, filters: Filters | None,
               fields: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Page through matching points."""
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection, scroll_filter=self._filter(filters), limit=_SCROLL_PAGE,
                offset=offset, with_payload=fields or False, with_vectors=False)
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def points(self, batch_size: int) -> Iterator[list[StoredPoint]]:
        """Page through every point with both vectors and the full payload."""
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=batch_size, offset=offset, with_payload=True,
                with_vectors=True)
            page = [_stored(record) for record in records]
            if page:
                yield page
            if offset is None:
                return

    def set_sparse(self, vectors: list[tuple[str, SparseVector]]) -> None:
        """Replace the BM25 vectors of existing points."""
        from qdrant_client import models

        for start in range(0, len(vectors), _BATCH):
            self.client.update_vectors(self.collection, wait=True, points=[
                models.PointVectors(id=pid, vector={
                    SPARSE: models.SparseVector(indices=v.indices, values=v.values)})
                for pid, v in vectors[start:start + _BATCH]
            ])

    def _request(self, spec: QuerySpec) -> models.QueryRequest:
        from qdrant_client import models

        flt = self._filter(spec.filters)
        searches: list[tuple[Any, str]] = []
        if spec.dense is not None:
            searches.append((spec.dense, DENSE))
        if spec.sparse is not None:
            searches.append((models.SparseVector(indices=spec.sparse.indices,
                                                 values=spec.sparse.values), SPARSE))
        if len(searches) == 1:
            vector, using = searches[0]
            return models.QueryRequest(query=vector, using=using, limit=spec.limit, filter=flt,
                                       with_payload=spec.with_payload)
        fusion = spec.fusion
        fused: Any = (models.FusionQuery(fusion=models.Fusion.DBSF) if fusion.method == "dbsf"
                      else models.RrfQuery(rrf=models.Rrf(
                          k=fusion.rrf_k,
                          weights=list(fusion.weights) if fusion.weights else None)))
        return models.QueryRequest(
            prefetch=[models.Prefetch(query=v, using=u, limit=depth, filter=flt)
                      for (v, u), depth in zip(searches, spec.depths, strict=True)],
            query=fused, limit=spec.limit, filter=flt, with_payload=spec.with_payload)

    def query(self, specs: list[QuerySpec]) -> list[list[Hit]]:
        """Run the searches with the Query API in one batch call."""
        responses = self.client.query_batch_points(self.collection,
                                                   requests=[self._request(s) for s in specs])
        return [[Hit(str(p.id), float(p.score), p.payload) for p in r.points] for r in responses]

    def count(self) -> int:
        """Exact number of points."""
        return int(self.client.count(self.collection, exact=True).count)

    def optimize(self) -> None:
        """Nothing to do: the server optimises segments in the background."""

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _stored(record: Any) -> StoredPoint:
    vectors: Any = record.vector if isinstance(record.vector, dict) else {}
    dense = vectors.get(DENSE) or []
    sparse = vectors.get(SPARSE)
    return StoredPoint(
        str(record.id), [float(x) for x in dense],
        SparseVector(list(sparse.indices), list(sparse.values)) if sparse is not None
        else SparseVector([], []),
        dict(record.payload or {}))


def _describe(client: QdrantClient) -> str:
    init = getattr(client, "init_options", {}) or {}
    return str(init.get("location") or init.get("url") or init.get("path") or "server")
