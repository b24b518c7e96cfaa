"""The seam between :class:`~ragline.rag.index.QdrantIndex` and a Qdrant engine.

Two implementations: :class:`~ragline.rag.edge.EdgeTransport` (Qdrant Edge,
in-process, on-disk shard) and :class:`~ragline.rag.server.ClientTransport`
(qdrant-client: a server, a cluster, or ``:memory:``). Both store points with
a named dense vector ``dense``, a named sparse vector ``bm25`` (IDF modifier)
and the chunk payload, and both fuse hybrid queries inside Qdrant.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ragline.rag.bm25 import SparseVector

DENSE = "dense"
SPARSE = "bm25"
FilterValue = str | int | bool | Sequence[str] | Sequence[int]
Filters = Mapping[str, FilterValue]


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One point as written: id, both vectors and the payload."""

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    """One query result: point id, score and (when asked for) payload."""

    id: str
    score: float
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Fusion:
    """How Qdrant fuses the dense and BM25 candidate lists of a hybrid search.

    ``rrf``: sum over lists of ``1 / (rrf_k - 1 + rank / weight)``, rank counted
    from 1 — with weight 1 the classic ``1 / (rrf_k + rank - 1)``; a weight of 2
    makes a list's 4th hit count like its 2nd. ``weights`` are (dense, bm25),
    equal when None. ``dbsf``: each list's scores mapped linearly so that its mean
    ± 3 sample standard deviations become 0 and 1, then summed. (Formulas as
    Qdrant computes them; tests/rag/test_fusion.py checks them by hand.)
    """

    method: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A search: a dense vector, a sparse vector, or both (fused inside Qdrant).

    ``depths`` are the (dense, bm25) prefetch sizes of a hybrid search.
    """

    dense: list[float] | None
    sparse: SparseVector | None
    limit: int
    depths: tuple[int, int] = (50, 50)
    fusion: Fusion = Fusion()
    filters: Filters | None = None
    with_payload: bool = True


class Transport(Protocol):
    """What the index needs from a Qdrant engine."""

    where: str

    def exists(self) -> bool:
        """Whether the collection has been created."""
        ...

    def create(self, dimension: int, meta: dict[str, Any]) -> None:
        """Create the collection with the named vectors, a doc_id index and ``meta``."""
        ...

    def read_meta(self) -> dict[str, Any]:
        """The collection's ragline metadata (embedder, BM25 statistics)."""
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
        """Every point with both vectors and its full payload, in pages of ``batch_size``."""
        ...

    def scroll(self, filters: Filters | None,
               fields: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point matching ``filters``, as (id, payload restricted to ``fields``)."""
        ...

    def set_sparse(self, vectors: list[tuple[str, SparseVector]]) -> None:
        """Replace the BM25 vectors of existing points."""
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
