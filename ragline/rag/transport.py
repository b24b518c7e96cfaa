"""The seam between :class:`~ragline.rag.index.QdrantIndex` and a Qdrant engine.

Two implementations: :class:`~ragline.rag.edge.EdgeTransport` (Qdrant Edge,
in-process, on-disk shard) and :class:`~ragline.rag.server.ClientTransport`
(qdrant-client: a server, a cluster, or ``:memory:``). Both store points with
a dense vector and an optional sparse vector (IDF modifier), named by
:class:`VectorNames` (``dense`` and ``bm25`` unless configured otherwise), and
the chunk payload, and both fuse hybrid queries inside Qdrant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ragline.protocols import Filters, FilterValue
from ragline.rag.bm25 import SparseVector

__all__ = [
    "DENSE",
    "ROUGH_HNSW_EF",
    "SPARSE",
    "FilterValue",
    "Filters",
    "Fusion",
    "Hit",
    "QuerySpec",
    "StoredPoint",
    "Transport",
    "VectorNames",
    "dense_vector",
    "stored_point",
]

# ragline's default vector names, also the retriever names in ``ScoredChunk.retrievers``.
DENSE = "dense"
SPARSE = "bm25"
ROUGH_HNSW_EF = 32  # HNSW beam width of a ``rough`` dense search (Qdrant's default is 128)


@dataclass(frozen=True, slots=True)
class VectorNames:
    """The names of a collection's vectors.

    ``dense`` may be ``""``, Qdrant's unnamed default vector (what LangChain's
    ``QdrantVectorStore`` uses); ``sparse`` is None for a collection without a
    sparse vector, which can then only be searched dense.
    """

    dense: str = DENSE
    sparse: str | None = SPARSE


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One point as written: id, its vectors (``sparse`` None when it has none) and payload."""

    id: str
    dense: list[float]
    sparse: SparseVector | None
    payload: dict[str, Any]


def stored_point(point_id: str, vector: Any, payload: dict[str, Any] | None,
                 names: VectorNames) -> StoredPoint:
    """A point read back from Qdrant, picking the vectors named by ``names``.

    ``vector`` is what the engine returned: vectors by name, or a bare list when
    the point only has the unnamed default vector.
    """
    vectors = _by_name(vector)
    sparse = vectors.get(names.sparse) if names.sparse is not None else None
    return StoredPoint(
        point_id, dense_vector(vector, names) or [],
        SparseVector(list(sparse.indices), list(sparse.values)) if sparse is not None else None,
        dict(payload or {}))


@dataclass(frozen=True, slots=True)
class Hit:
    """One query result: point id, score and (when asked for) payload."""

    id: str
    score: float
    payload: dict[str, Any] | None
    dense: list[float] | None = None


def dense_vector(vector: Any, names: VectorNames) -> list[float] | None:
    """The dense vector named by ``names`` in what the engine returned for a hit, if any."""
    found = _by_name(vector).get(names.dense)
    return [float(x) for x in found] if found is not None else None


def _by_name(vector: Any) -> dict[str, Any]:
    """A point's vectors as the engine returned them, by name (``""``: a bare unnamed vector)."""
    return {"": vector} if isinstance(vector, list) else dict(vector or {})


@dataclass(frozen=True, slots=True)
class Fusion:
    """How Qdrant fuses the dense and BM25 candidate lists of a hybrid search.

    ``rrf``: sum over lists of ``1 / (rrf_k - 1 + rank / weight)``, rank counted
    from 1 — with weight 1 the classic ``1 / (rrf_k + rank - 1)``; a weight of 2
    makes a list's 4th hit count like its 2nd. ``dbsf``: each list's scores mapped
    linearly so that its mean ± 3 sample standard deviations become 0 and 1, then
    summed. ``convex``: a Qdrant formula over the two scores,
    ``w_dense * cosine + w_bm25 * s / (s + saturation)`` with ``s`` the BM25 score
    (so the BM25 part lies in [0, 1) like a cosine), and 0 for a list that did not
    find the point. ``weights`` are (dense, bm25), equal when None; ``dbsf`` takes
    none. (Formulas as Qdrant computes them; tests/rag/test_fusion.py checks them
    by hand.)
    """

    method: Literal["rrf", "dbsf", "convex"] = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    saturation: float = 10.0

    @property
    def convex_weights(self) -> tuple[float, float]:
        """The (dense, bm25) weights of the convex formula."""
        return self.weights or (0.5, 0.5)


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A search: a dense vector, a sparse vector, or both (fused inside Qdrant).

    ``depths`` are the (dense, bm25) prefetch sizes of a hybrid search;
    ``with_dense`` returns each hit's stored dense vector in :attr:`Hit.dense`.
    ``rough`` trades accuracy for speed in the dense search (a small HNSW beam,
    quantised scores not rescored): enough to pick feedback documents.
    """

    dense: list[float] | None
    sparse: SparseVector | None
    limit: int
    depths: tuple[int, int] = (50, 50)
    fusion: Fusion = Fusion()
    filters: Filters | None = None
    with_payload: bool = True
    with_dense: bool = False
    rough: bool = False


class Transport(Protocol):
    """What the index needs from a Qdrant engine."""

    where: str
    names: VectorNames

    def exists(self) -> bool:
        """Whether the collection has been created."""
        ...

    def create(self, dimension: int, meta: dict[str, Any]) -> None:
        """Create the collection with the named vectors, a doc_id index and ``meta``."""
        ...

    def index_keyword(self, key: str) -> None:
        """Add a keyword index on payload ``key``, so filters on it need not read every
        candidate's payload; best made before points are stored."""
        ...

    def read_meta(self) -> dict[str, Any]:
        """The collection's ragline metadata (embedder, BM25 statistics).

        Empty for a collection ragline did not create. Raises
        :class:`~ragline.errors.ConfigError` where the engine tells the
        collection lacks a vector named in :attr:`names`.
        """
        ...

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the collection's ragline metadata atomically."""
        ...

    def upsert(self, points: list[StoredPoint]) -> None:
        """Insert or replace points."""
        ...

    def delete(self, point_ids: list[str]) -> None:
        """Delete points by id; unknown ids are ignored."""
        ...

    def payloads(self, point_ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        """Payload ``fields`` of the given points that exist, by id."""
        ...

    def points(self, batch_size: int) -> Iterator[list[StoredPoint]]:
        """Every point with its vectors and full payload, in pages of ``batch_size``."""
        ...

    def scroll(self, filters: Filters | None,
               fields: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point matching ``filters``, as (id, payload restricted to ``fields``)."""
        ...

    def set_sparse(self, vectors: list[tuple[str, SparseVector]]) -> None:
        """Replace the BM25 vectors of existing points (nothing to do without a sparse vector)."""
        ...

    def query(self, specs: list[QuerySpec]) -> list[list[Hit]]:
        """Run several searches as one batch; one hit list per spec, best first."""
        ...

    def count(self) -> int:
        """Number of points in the collection."""
        ...

    def optimize(self) -> None:
        """Build search structures after a bulk load (no-op where the server does it)."""
        ...

    def close(self) -> None:
        """Flush and release the collection."""
        ...
