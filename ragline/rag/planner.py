"""Query planning: the Qdrant queries one search runs, and the ranked chunks they return.

A search is one query (dense, BM25, or both fused inside Qdrant). Hybrid
search with :class:`Feedback` on first runs a cheap fused query to move the
query vector towards its best hits (pseudo-relevance feedback). With
``explain``, a hybrid search also runs each retriever alone, in the same batch,
to tell which retrievers found each fused hit (``ScoredChunk.retrievers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragline.errors import InvalidInput
from ragline.protocols import Filters, Vectors
from ragline.rag.bm25 import SparseVector
from ragline.rag.transport import DENSE, SPARSE, Fusion, Hit, QuerySpec
from ragline.types import SEARCH_MODES, Chunk, ScoredChunk, SearchMode

_DEFAULT_RETRIEVERS = {"dense": (DENSE,), "bm25": (SPARSE,), "hybrid": ("hybrid",)}


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


def check_search(query: str, k: int, mode: str, *, sparse: bool, collection: str) -> None:
    """Raise :class:`~ragline.errors.InvalidInput` for a search that cannot run."""
    if not query.strip():
        raise InvalidInput("the query is empty; pass some text to search for")
    if mode not in SEARCH_MODES:
        raise InvalidInput(f"mode must be one of {SEARCH_MODES}, but got {mode!r}")
    if k <= 0:
        raise InvalidInput(f"k must be > 0, but got {k}")
    if mode != "dense" and not sparse:
        raise InvalidInput(
            f"mode {mode!r} needs BM25 vectors, but collection {collection!r} is configured "
            "without a sparse vector (index.sparse_vector: null); search with mode 'dense'")


@dataclass(frozen=True, slots=True)
class Plan:
    """How to search: candidate depths, fusion and feedback (the index's settings)."""

    candidates: int
    bm25_candidates: int
    fusion: Fusion
    feedback: Feedback

    def specs(self, k: int, mode: SearchMode, dense: Vectors | None, sparse: SparseVector | None,
              filters: Filters | None, explain: bool,
              run: Callable[[list[QuerySpec]], list[list[Hit]]]) -> list[QuerySpec]:
        """The queries of one search; ``dense`` is the query vector when ``mode`` uses it.

        ``run`` runs the feedback query, when there is one.
        """
        dense_list = (np.asarray(dense, dtype=np.float32).tolist()
                      if dense is not None else None)
        # Fusion can only return what the prefetches found: each is at least k deep.
        depths = (max(self.candidates, k), max(self.bm25_candidates, k))
        if mode == "hybrid" and self.feedback.docs and dense_list is not None:
            first = QuerySpec(dense_list, sparse, self.feedback.docs, depths, self.fusion,
                              filters, with_payload=False, with_dense=True, rough=True)
            dense_list = self.fed_back(dense_list, run([first])[0])
        main = QuerySpec(dense_list, sparse, k, depths, self.fusion, filters)
        if mode != "hybrid" or not explain:
            return [main]
        return [main,
                QuerySpec(dense_list, None, depths[0], filters=filters, with_payload=False),
                QuerySpec(None, sparse, depths[1], filters=filters, with_payload=False)]

    def fed_back(self, dense: list[float], hits: list[Hit]) -> list[float]:
        """``dense`` moved towards the dense vectors of ``hits``."""
        found = [h.dense for h in hits if h.dense]
        if not found:
            return dense
        moved = (np.asarray(dense, dtype=np.float32)
                 + self.feedback.weight * np.asarray(found, dtype=np.float32).mean(axis=0))
        norm = float(np.linalg.norm(moved))
        return (moved / norm).tolist() if norm > 0 else dense


def ranked(results: Sequence[list[Hit]], mode: SearchMode,
           chunk: Callable[[Hit], Chunk]) -> list[ScoredChunk]:
    """The main query's hits as scored chunks, best first, ties broken by chunk id.

    Each names the retrievers that found it: from the ``explain`` queries
    (``results[1:]``) when they ran, else the mode's own (``("hybrid",)`` for hybrid).
    """
    found_by: dict[str, list[str]] = {}
    for retriever, hits in zip((DENSE, SPARSE), results[1:], strict=False):
        for hit in hits:
            found_by.setdefault(hit.id, []).append(retriever)
    default = _DEFAULT_RETRIEVERS[mode]
    scored = [ScoredChunk(chunk(h), h.score,
                          tuple(found_by[h.id]) if h.id in found_by else default)
              for h in results[0]]
    scored.sort(key=lambda s: (-s.score, s.chunk.id))
    return scored
