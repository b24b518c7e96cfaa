"""Fusion inside Qdrant, checked against RRF and DBSF computed by hand from the single lists."""

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
                                    **index})
    idx = QdrantIndex.from_settings(settings, collection="fusion", embedder=embedder)
    idx.upsert([Chunk.create(f"d{i}", t, 0, {}) for i, t in enumerate(TEXTS)])
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


def test_weights_need_rrf_and_a_positive_weight(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="weights apply to fusion 'rrf' only"):
        make_settings(index={"fusion": "dbsf", "weights": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="at least one > 0"):
        make_settings(index={"weights": [0.0, 0.0]})
