"""ragline's BM25 (Qdrant Edge model + IDF modifier) against rank_bm25.BM25Okapi.

With the same tokenisation (``language: none``: lowercase words, no stemming or
stopwords) and the same k1, b and the corpus's real mean length, every score
equals BM25Okapi's once BM25Okapi uses Lucene's IDF, ln(1 + (N-n+0.5)/(n+0.5)) —
the one intended difference, since Okapi's own IDF goes negative for terms in
more than half the documents. Rankings then match BM25Okapi's own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.bm25 import Bm25Encoder
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk

CORPUS = [
    "The quick brown fox jumps over the lazy dog",
    "A fox is quick and brown and clever and quick",
    "Dogs and cats living together in one small house",
    "Rust is a systems language; Qdrant is written in Rust",
    "The lazy cat sleeps all day while the dog barks at the mailman",
    "Quick quick quick said the duck to the fox",
    "Languages like Python and Rust are popular",
    "Brown bears and brown foxes roam the northern forests of the country",
    "Search engines rank documents with BM25",
    "Dense retrieval embeds the query and every document",
]
QUERIES = ["quick fox", "rust language", "brown dog", "the lazy dog", "documents engines",
           "cats", "python rust quick"]


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class LuceneIdfBM25(BM25Okapi):  # type: ignore[misc]
    """BM25Okapi with the IDF Qdrant applies (the documented intended difference)."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def build_index(settings: Settings, embedder: SentenceTransformerEmbedder,
                texts: list[str]) -> QdrantIndex:
    index = QdrantIndex.from_settings(settings, collection="parity", embedder=embedder)
    index.upsert([Chunk.create(f"doc{i}", t, {}, 0) for i, t in enumerate(texts)],
                 vectors=np.ones((len(texts), embedder.dimension), dtype=np.float32))
    return index


@pytest.fixture
def plain_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(index={"bm25": {"language": "none", "avg_len_tolerance": 1e-9}})


def scores_by_doc(index: QdrantIndex, query: str) -> dict[str, float]:
    return {h.chunk.doc_id: h.score for h in index.search(query, k=50, mode="bm25")}


def test_length_counts_the_tokens_bm25_sees() -> None:
    plain = Bm25Encoder(language="none")
    for text in CORPUS:
        assert plain.length(text) == len(tokens(text))
    english = Bm25Encoder(language="english")
    assert english.length("the dogs are running") == 2  # stopwords dropped: dog, run


def test_scores_equal_bm25_with_lucene_idf(plain_settings: Settings,
                                           embedder: SentenceTransformerEmbedder) -> None:
    index = build_index(plain_settings, embedder, CORPUS)
    assert index.avg_len == pytest.approx(np.mean([len(tokens(t)) for t in CORPUS]))
    reference = LuceneIdfBM25([tokens(t) for t in CORPUS], k1=1.2, b=0.75)
    for query in QUERIES:
        expected = reference.get_scores(tokens(query))
        got = scores_by_doc(index, query)
        for i, score in enumerate(expected):
            assert got.get(f"doc{i}", 0.0) == pytest.approx(score, rel=1e-4, abs=1e-5), query
    index.close()


def test_rankings_match_bm25okapi(plain_settings: Settings,
                                  embedder: SentenceTransformerEmbedder) -> None:
    """Okapi's own IDF differs only by a per-term factor: one-term rankings are identical,
    and the best document agrees for every query of the fixture."""
    index = build_index(plain_settings, embedder, CORPUS)
    okapi = BM25Okapi([tokens(t) for t in CORPUS], k1=1.2, b=0.75)
    vocabulary = sorted({w for t in CORPUS for w in tokens(t)})
    for term in vocabulary:
        scores = okapi.get_scores([term])
        if np.all(scores <= 0):
            continue  # a term in over half the corpus: Okapi's IDF is clipped to a floor
        got = [int(h.chunk.doc_id[3:]) for h in index.search(term, k=50, mode="bm25")]
        assert set(got) == set(np.flatnonzero(scores)), term
        okapi_order = [scores[i] for i in got]  # non-increasing: same order up to ties
        assert okapi_order == sorted(okapi_order, reverse=True), term
    for query in QUERIES:
        scores = okapi.get_scores(tokens(query))
        best = int(index.search(query, k=1, mode="bm25")[0].chunk.doc_id[3:])
        assert scores[best] == pytest.approx(scores.max()), query
    index.close()


def test_avg_len_follows_the_collection_through_adds_and_deletes(
        plain_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    index = build_index(plain_settings, embedder, CORPUS[:3])
    longer = [t + " " + t + " " + t for t in CORPUS[3:]]
    index.upsert([Chunk.create(f"doc{i + 3}", t, {}, 0) for i, t in enumerate(longer)],
                 vectors=np.ones((len(longer), embedder.dimension), dtype=np.float32))
    everything = CORPUS[:3] + longer
    assert index.avg_len == pytest.approx(np.mean([len(tokens(t)) for t in everything]))
    # Stored vectors were re-encoded for the new mean: scores still equal the reference.
    reference = LuceneIdfBM25([tokens(t) for t in everything], k1=1.2, b=0.75)
    got = scores_by_doc(index, "quick fox")
    for i, score in enumerate(reference.get_scores(tokens("quick fox"))):
        assert got.get(f"doc{i}", 0.0) == pytest.approx(score, rel=1e-4, abs=1e-5)
    index.delete([f"doc{i}" for i in range(3, len(everything))])
    assert index.avg_len == pytest.approx(np.mean([len(tokens(t)) for t in CORPUS[:3]]))
    index.close()
