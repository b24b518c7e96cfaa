"""Fusion inside Qdrant, checked against RRF, DBSF and the convex formula computed by hand
from the single lists, and pseudo-relevance feedback checked against its vector arithmetic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ragline.config import Settings
from ragline.errors import ConfigError
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk

TEXTS = [
    "Qdrant is a vector database written in Rust.",
    "Rust is a systems language with a strict compiler and a friendly community of users.",
    "Cats sleep a lot.",
    "Dogs like to walk in the park every single morning before breakfast, rain or shine.",
    "Vector search finds similar embeddings quickly.",
    "BM25 ranks documents by keywords.",
    "The park is full of dogs and cats on a sunny day.",
    "Databases store data on disk.",
    "A rust stain is not a database.",
    "Dogs bark.",
]
QUERY = "vector database in rust for dogs"


def build(make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder,
          transport: str, **index: object) -> QdrantIndex:
    settings = make_settings(index={"transport": transport, "url": ":memory:", "candidates": 10,
                                    "feedback": {"docs": 0, "weight": 2.0}, **index})
    idx = QdrantIndex.from_settings(settings, collection="fusion", embedder=embedder)
    idx.upsert([Chunk.create(f"d{i}", t, {}, 0) for i, t in enumerate(TEXTS)])
    return idx


def single_lists(idx: QdrantIndex) -> list[list[tuple[str, float]]]:
    lists = [[(h.chunk.doc_id, h.score) for h in idx.search(QUERY, k=10, mode=mode)]
             for mode in ("dense", "bm25")]
    for hits in lists:  # ranks are unambiguous only without ties
        scores = [s for _, s in hits]
        assert len(set(scores)) == len(scores)
    return lists


def fused(idx: QdrantIndex) -> dict[str, float]:
    return {h.chunk.doc_id: h.score for h in idx.search(QUERY, k=10, mode="hybrid")}


@pytest.mark.parametrize("transport", ["edge", "client"])
@pytest.mark.parametrize("weights", [None, (2.0, 1.0), (1.0, 3.0)])
def test_rrf_matches_the_hand_computed_sum(make_settings: Callable[..., Settings],
                                           embedder: SentenceTransformerEmbedder,
                                           transport: str,
                                           weights: tuple[float, float] | None) -> None:
    idx = build(make_settings, embedder, transport, fusion="rrf", rrf_k=60, weights=weights)
    expected: dict[str, float] = {}
    for weight, hits in zip(weights or (1.0, 1.0), single_lists(idx), strict=True):
        for rank, (doc, _) in enumerate(hits, start=1):
            expected[doc] = expected.get(doc, 0.0) + 1 / (60 - 1 + rank / weight)
    got = fused(idx)
    assert set(got) == set(expected)
    for doc, score in got.items():
        assert score == pytest.approx(expected[doc], rel=1e-5)
    idx.close()


@pytest.mark.parametrize("transport", ["edge", "client"])
def test_dbsf_matches_the_hand_computed_sum(make_settings: Callable[..., Settings],
                                            embedder: SentenceTransformerEmbedder,
                                            transport: str) -> None:
    idx = build(make_settings, embedder, transport, fusion="dbsf")
    expected: dict[str, float] = {}
    for hits in single_lists(idx):
        scores = np.array([s for _, s in hits])
        low = scores.mean() - 3 * scores.std(ddof=1)
        high = scores.mean() + 3 * scores.std(ddof=1)
        for doc, score in hits:
            expected[doc] = expected.get(doc, 0.0) + (score - low) / (high - low)
    got = fused(idx)
    for doc, score in got.items():
        assert score == pytest.approx(expected[doc], rel=1e-4)
    idx.close()


def test_fused_order_is_deterministic_with_ties_broken_by_chunk_id(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    idx = build(make_settings, embedder, "edge")
    hits = idx.search(QUERY, k=10, mode="hybrid")
    keys = [(-h.score, h.chunk.id) for h in hits]
    assert keys == sorted(keys)
    assert [h.chunk.id for h in idx.search(QUERY, k=10, mode="hybrid")] == [h.chunk.id
                                                                            for h in hits]
    idx.close()


@pytest.mark.parametrize("transport", ["edge", "client"])
@pytest.mark.parametrize("weights", [None, (0.3, 0.7)])
def test_convex_matches_the_hand_computed_formula(make_settings: Callable[..., Settings],
                                                  embedder: SentenceTransformerEmbedder,
                                                  transport: str,
                                                  weights: tuple[float, float] | None) -> None:
    idx = build(make_settings, embedder, transport, fusion="convex", weights=weights,
                bm25_saturation=4.0)
    dense, bm25 = (dict(hits) for hits in single_lists(idx))
    w_dense, w_bm25 = weights or (0.5, 0.5)
    expected = {doc: w_dense * dense.get(doc, 0.0)
                + w_bm25 * bm25.get(doc, 0.0) / (bm25.get(doc, 0.0) + 4.0)
                for doc in set(dense) | set(bm25)}
    got = fused(idx)
    assert set(got) == set(expected)
    for doc, score in got.items():
        assert score == pytest.approx(expected[doc], rel=1e-5)
    assert list(got) == sorted(expected, key=lambda d: (-expected[d], d))[:len(got)]
    idx.close()


@pytest.mark.parametrize("transport", ["edge", "client"])
def test_feedback_searches_again_with_the_moved_query_vector(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder,
        transport: str) -> None:
    idx = build(make_settings, embedder, transport, fusion="dbsf")
    first = [h.chunk.doc_id for h in idx.search(QUERY, k=2, mode="hybrid")]
    without = [h.score for h in idx.search(QUERY, k=10, mode="hybrid")]
    dense_only = [(h.chunk.doc_id, h.score) for h in idx.search(QUERY, k=10, mode="dense")]
    stored = {p.payload["doc_id"]: np.asarray(p.dense)
              for page in idx.transport.points(100) for p in page}
    query = np.asarray(embedder.embed_query(QUERY))
    moved = query + 1.5 * np.mean([stored[d] for d in first], axis=0)
    moved /= np.linalg.norm(moved)
    by_hand = [(h.chunk.doc_id, h.score)
               for h in idx.search(QUERY, k=10, mode="hybrid", query_vector=moved)]
    idx.close()

    fed = build(make_settings, embedder, transport, fusion="dbsf",
                feedback={"docs": 2, "weight": 1.5})
    got = [(h.chunk.doc_id, h.score) for h in fed.search(QUERY, k=10, mode="hybrid")]
    fed_dense = [(h.chunk.doc_id, h.score) for h in fed.search(QUERY, k=10, mode="dense")]
    fed.close()
    assert [d for d, _ in got] == [d for d, _ in by_hand]
    assert [s for _, s in got] == pytest.approx([s for _, s in by_hand], rel=1e-4)
    assert [s for _, s in got] != pytest.approx(without, rel=1e-4)  # feedback changed scores
    assert fed_dense == dense_only  # dense and bm25 modes search without feedback


def test_weights_need_rrf_or_convex_and_a_positive_weight(
        make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="weights apply to fusion 'rrf' and 'convex'"):
        make_settings(index={"fusion": "dbsf", "weights": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="at least one > 0"):
        make_settings(index={"fusion": "rrf", "weights": [0.0, 0.0]})
