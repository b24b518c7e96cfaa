"""qdrant-client transport: a Qdrant server or cluster by URL, or ``:memory:`` for tests.

Collections get the same vectors as the embedded shard (a cosine dense vector and
an optional sparse one with the IDF modifier, named ``dense`` and ``bm25`` unless
configured otherwise); ragline's metadata lives in Qdrant's collection metadata,
so every replica sees the same BM25 statistics. A collection made by another tool
(no ragline metadata) can be opened too, e.g. one built by LangChain.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ragline.errors import ConfigError
from ragline.rag.bm25 import SparseVector
from ragline.rag.engine import QueryDialect, pages
from ragline.rag.transport import (
    ROUGH_HNSW_EF,
    Filters,
    Hit,
    QuerySpec,
    StoredPoint,
    VectorNames,
    dense_vector,
    stored_point,
)

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models

_BATCH = 256
_SCROLL_PAGE = 1024


class _ClientDialect(QueryDialect):
    """qdrant-client's constructors for filters, fused queries and query requests."""

    def match(self, key: str, value: str | int | bool) -> Any:
        from qdrant_client import models

        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def match_any(self, key: str, values: list[Any]) -> Any:
        from qdrant_client import models

        return models.FieldCondition(key=key, match=models.MatchAny(any=values))

    def make_filter(self, must: list[Any] | None, must_not: list[Any] | None) -> Any:
        from qdrant_client import models

        return models.Filter(must=must, must_not=must_not)

    def rrf(self, k: int, weights: list[float] | None) -> Any:
        from qdrant_client import models

        return models.RrfQuery(rrf=models.Rrf(k=k, weights=weights))

    def dbsf(self) -> Any:
        from qdrant_client import models

        return models.FusionQuery(fusion=models.Fusion.DBSF)

    def convex(self, w_dense: float, w_bm25: float, saturation: float) -> Any:
        from qdrant_client import models

        saturated = models.DivExpression(div=models.DivParams(
            left="$score[1]", right=models.SumExpression(sum=["$score[1]", saturation]),
            by_zero_default=0.0))
        return models.FormulaQuery(
            formula=models.SumExpression(sum=[
                models.MultExpression(mult=[w_dense, "$score[0]"]),
                models.MultExpression(mult=[w_bm25, saturated])]),
            defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    def search(self, vector: list[float] | SparseVector, using: str | None) -> Any:
        """(query vector, vector name): qdrant-client passes them as two arguments."""
        from qdrant_client import models

        if isinstance(vector, SparseVector):
            return models.SparseVector(indices=vector.indices, values=vector.values), using
        return vector, using

    def rough(self) -> Any:
        from qdrant_client import models

        return models.SearchParams(hnsw_ef=ROUGH_HNSW_EF,
                                   quantization=models.QuantizationSearchParams(rescore=False))

    def single(self, search: Any, spec: QuerySpec, flt: Any, with_vector: Any) -> Any:
        from qdrant_client import models

        vector, using = search
        return models.QueryRequest(query=vector, using=using, limit=spec.limit, filter=flt,
                                   with_payload=spec.with_payload, with_vector=with_vector)

    def prefetch(self, search: Any, depth: int, flt: Any, params: Any) -> Any:
        from qdrant_client import models

        vector, using = search
        return models.Prefetch(query=vector, using=using, limit=depth, filter=flt,
                               params=params)

    def fused_request(self, prefetches: list[Any], query: Any, spec: QuerySpec, flt: Any,
                      with_vector: Any) -> Any:
        from qdrant_client import models

        return models.QueryRequest(prefetch=prefetches, query=query, limit=spec.limit,
                                   filter=flt, with_payload=spec.with_payload,
                                   with_vector=with_vector)


class ClientTransport:
    """A :class:`~ragline.rag.transport.Transport` over qdrant-client.

    Points carry the vectors named by ``names``. :meth:`close` closes ``client``
    only when ``close_client`` is true; pass False for a client the caller shares.
    """

    def __init__(self, client: QdrantClient, collection: str, *, quantize: bool = True,
                 names: VectorNames = VectorNames(), close_client: bool = True) -> None:
        self.client = client
        self.quantize = quantize
        self.collection = collection
        self.names = names
        self.close_client = close_client
        self.where = f"Qdrant at {_describe(client)}"
        self._dialect = _ClientDialect(names)

    def exists(self) -> bool:
        """Whether the collection exists on the server."""
        return bool(self.client.collection_exists(self.collection))

    def create(self, dimension: int, meta: dict[str, Any]) -> None:
        """Create the collection with the named vectors, a doc_id index and ``meta``.

        With ``quantize``, dense vectors get an int8 copy in RAM (searched, then rescored).
        """
        from qdrant_client import models

        quantization = (models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, always_ram=True)) if self.quantize else None)
        self.client.create_collection(
            self.collection,
            vectors_config={self.names.dense: models.VectorParams(
                size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config=(
                {self.names.sparse: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                if self.names.sparse is not None else None),
            quantization_config=quantization,
            metadata=meta,
        )
        self.index_keyword("doc_id")

    def index_keyword(self, key: str) -> None:
        """Add a keyword index on payload ``key`` (local mode has none, and says so)."""
        from qdrant_client import models

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.client.create_payload_index(self.collection, key,
                                             models.PayloadSchemaType.KEYWORD)

    def read_meta(self) -> dict[str, Any]:
        """The collection's metadata, after checking it has the vectors named by :attr:`names`."""
        config = self.client.get_collection(self.collection).config
        self._check_vectors(config.params)
        return dict(config.metadata or {})

    def _check_vectors(self, params: models.CollectionParams) -> None:
        dense = (set(params.vectors) if isinstance(params.vectors, dict)
                 else {""} if params.vectors is not None else set())
        if self.names.dense not in dense:
            raise ConfigError(
                f"index.dense_vector: collection {self.collection!r} has no dense vector named "
                f"{self.names.dense!r}; it has {sorted(dense)} ('' is the unnamed vector)")
        sparse = set(params.sparse_vectors or {})
        if self.names.sparse is not None and self.names.sparse not in sparse:
            raise ConfigError(
                f"index.sparse_vector: collection {self.collection!r} has no sparse vector "
                f"named {self.names.sparse!r}; it has {sorted(sparse)}. Set index.sparse_vector "
                "to one of them, or to null to search it dense only")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the collection's metadata."""
        self.client.update_collection(self.collection, metadata=meta)

    def upsert(self, points: list[StoredPoint]) -> None:
        """Upload points in batches, waiting for each to be applied."""
        from qdrant_client import models

        for start in range(0, len(points), _BATCH):
            self.client.upsert(self.collection, wait=True, points=[
                models.PointStruct(id=p.id, payload=p.payload, vector=self._vectors(p))
                for p in points[start:start + _BATCH]
            ])

    def _vectors(self, point: StoredPoint) -> dict[str, Any]:
        from qdrant_client import models

        vectors: dict[str, Any] = {self.names.dense: point.dense}
        if point.sparse is not None and self.names.sparse is not None:
            vectors[self.names.sparse] = models.SparseVector(indices=point.sparse.indices,
                                                             values=point.sparse.values)
        return vectors

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
        flt = self._dialect.filter(filters)
        for page in pages(lambda offset: self.client.scroll(
                self.collection, scroll_filter=flt, limit=_SCROLL_PAGE, offset=offset,
                with_payload=fields or False, with_vectors=False)):
            for record in page:
                yield str(record.id), dict(record.payload or {})

    def points(self, batch_size: int) -> Iterator[list[StoredPoint]]:
        """Page through every point with its vectors and the full payload."""
        for page in pages(lambda offset: self.client.scroll(
                self.collection, limit=batch_size, offset=offset, with_payload=True,
                with_vectors=True)):
            yield [stored_point(str(r.id), r.vector, r.payload, self.names) for r in page]

    def set_sparse(self, vectors: list[tuple[str, SparseVector]]) -> None:
        """Replace the BM25 vectors of existing points (nothing to do without a sparse vector)."""
        from qdrant_client import models

        sparse = self.names.sparse
        if sparse is None:
            return
        for start in range(0, len(vectors), _BATCH):
            self.client.update_vectors(self.collection, wait=True, points=[
                models.PointVectors(id=pid, vector={
                    sparse: models.SparseVector(indices=v.indices, values=v.values)})
                for pid, v in vectors[start:start + _BATCH]
            ])

    def query(self, specs: list[QuerySpec]) -> list[list[Hit]]:
        """Run the searches with the Query API in one batch call."""
        responses = self.client.query_batch_points(
            self.collection, requests=[self._dialect.request(s) for s in specs])
        return [[Hit(str(p.id), float(p.score), p.payload,
                     dense_vector(p.vector, self.names) if spec.with_dense else None)
                 for p in r.points] for spec, r in zip(specs, responses, strict=True)]

    def count(self) -> int:
        """Exact number of points."""
        return int(self.client.count(self.collection, exact=True).count)

    def optimize(self) -> None:
        """Nothing to do: the server optimises segments in the background."""

    def close(self) -> None:
        """Close the client's connections, unless the client is shared (``close_client``)."""
        if self.close_client:
            self.client.close()


def _describe(client: QdrantClient) -> str:
    init = getattr(client, "init_options", {}) or {}
    return str(init.get("location") or init.get("url") or init.get("path") or "server")
