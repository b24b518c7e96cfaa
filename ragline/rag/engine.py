"""What the two transports share: filter translation, paging, and the shape of query requests.

:class:`~ragline.rag.edge.EdgeTransport` (qdrant-edge) and
:class:`~ragline.rag.server.ClientTransport` (qdrant-client) speak the same
engine through two Python APIs whose objects differ but line up one for one.
The engine-neutral decisions live here, once: which filter conditions a
:data:`~ragline.rag.transport.Filters` mapping means (``!key`` must not match,
see :mod:`ragline.rag.pending`; a list means any of), when a :class:`QuerySpec`
is one search or a fusion of prefetches, which prefetch gets the ``rough``
parameters, how a :class:`Fusion` becomes a fused query, and how to page
through a scroll. Each transport supplies a :class:`QueryDialect`, the
constructors of its own API's objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ragline.rag.bm25 import SparseVector
from ragline.rag.pending import split_filters
from ragline.rag.transport import Filters, FilterValue, Fusion, QuerySpec, VectorNames

R = TypeVar("R")


def pages(fetch: Callable[[Any], tuple[Sequence[R], Any]]) -> Iterator[Sequence[R]]:
    """Every page of a scroll: ``fetch(offset)`` returns (records, next offset or None).

    The first call gets offset None; empty pages are skipped.
    """
    offset: Any = None
    while True:
        records, offset = fetch(offset)
        if records:
            yield records
        if offset is None:
            return


class QueryDialect(ABC):
    """One engine API's constructors; builds filters, fused queries and query requests."""

    def __init__(self, names: VectorNames) -> None:
        self.names = names

    # -- the constructors each API supplies ------------------------------------------------

    @abstractmethod
    def match(self, key: str, value: str | int | bool) -> Any:
        """A condition: payload ``key`` equals ``value``."""

    @abstractmethod
    def match_any(self, key: str, values: list[Any]) -> Any:
        """A condition: payload ``key`` equals one of ``values``."""

    @abstractmethod
    def make_filter(self, must: list[Any] | None, must_not: list[Any] | None) -> Any:
        """A filter of conditions that must all match and conditions that must not."""

    @abstractmethod
    def rrf(self, k: int, weights: list[float] | None) -> Any:
        """Weighted reciprocal-rank fusion of the prefetches."""

    @abstractmethod
    def dbsf(self) -> Any:
        """Distribution-based score fusion of the prefetches."""

    @abstractmethod
    def convex(self, w_dense: float, w_bm25: float, saturation: float) -> Any:
        """The formula ``w_dense * $score[0] + w_bm25 * s / (s + saturation)``, s = $score[1]."""

    @abstractmethod
    def search(self, vector: list[float] | SparseVector, using: str | None) -> Any:
        """One nearest-neighbour search with ``vector`` over the vector named ``using``."""

    @abstractmethod
    def rough(self) -> Any:
        """Search parameters of a ``rough`` dense search (small HNSW beam, no rescoring)."""

    @abstractmethod
    def single(self, search: Any, spec: QuerySpec, flt: Any, with_vector: Any) -> Any:
        """A request running one search."""

    @abstractmethod
    def prefetch(self, search: Any, depth: int, flt: Any, params: Any) -> Any:
        """A prefetch of ``depth`` candidates for a fused request."""

    @abstractmethod
    def fused_request(self, prefetches: list[Any], query: Any, spec: QuerySpec, flt: Any,
                      with_vector: Any) -> Any:
        """A request fusing ``prefetches`` with the fused ``query``."""

    # -- what is the same for every engine -------------------------------------------------

    def conditions(self, filters: dict[str, FilterValue]) -> list[Any]:
        """One field condition per key: the value, or any of a list of values."""
        return [self.match(key, value) if isinstance(value, str | int | bool)
                else self.match_any(key, list[Any](value)) for key, value in filters.items()]

    def filter(self, filters: Filters | None) -> Any:
        """``{payload_key: value | [values]}`` as a filter, or None; ``!key`` must not match."""
        if not filters:
            return None
        must, must_not = split_filters(filters)
        return self.make_filter(self.conditions(must) or None,
                                self.conditions(must_not) or None)

    def fused(self, fusion: Fusion) -> Any:
        """The query fusing prefetch 0 (dense) and prefetch 1 (BM25) as ``fusion`` says."""
        if fusion.method == "dbsf":
            return self.dbsf()
        if fusion.method == "rrf":
            return self.rrf(fusion.rrf_k, list(fusion.weights) if fusion.weights else None)
        w_dense, w_bm25 = fusion.convex_weights
        return self.convex(w_dense, w_bm25, fusion.saturation)

    def request(self, spec: QuerySpec) -> Any:
        """The request for ``spec``: one search, or dense and BM25 prefetches fused."""
        flt = self.filter(spec.filters)
        with_vector: Any = [self.names.dense] if spec.with_dense else False
        searches = []
        if spec.dense is not None:
            searches.append(self.search(spec.dense, self.names.dense))
        if spec.sparse is not None:
            searches.append(self.search(spec.sparse, self.names.sparse))
        if len(searches) == 1:
            return self.single(searches[0], spec, flt, with_vector)
        rough = self.rough() if spec.rough else None
        prefetches = [self.prefetch(search, depth, flt, rough if number == 0 else None)
                      for number, (search, depth) in enumerate(
                          zip(searches, spec.depths, strict=True))]
        return self.fused_request(prefetches, self.fused(spec.fusion), spec, flt, with_vector)
