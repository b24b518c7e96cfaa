"""SQuAD exact match and F1 (official normalisation), and embedding similarity."""

from __future__ import annotations

import pytest

from ragline.evals.metrics.answer import (
    exact_match,
    normalize_answer,
    semantic_similarity,
    token_f1,
)
from ragline.models.embedder import SentenceTransformerEmbedder


def test_normalisation_drops_case_punctuation_articles() -> None:
    assert normalize_answer("The  Eiffel-Tower, in Paris!") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_takes_the_best_reference() -> None:
    assert exact_match("the Denver Broncos", ["Broncos", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


def test_token_f1_by_hand() -> None:
    # prediction {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("The cat sat", ["a cat sat down"]) == pytest.approx(0.8)
    assert token_f1("dog", ["cat"]) == 0.0
    assert token_f1("x y", ["z", "x y"]) == 1.0


def test_unanswerable_questions_want_an_empty_answer() -> None:
    assert exact_match("", []) == 1.0
    assert token_f1("something", []) == 0.0


def test_semantic_similarity_ranks_paraphrases_higher(
        embedder: SentenceTransformerEmbedder) -> None:
    close = semantic_similarity("The index lives in a Qdrant shard.",
                                "ragline stores its index in Qdrant.", embedder)
    far = semantic_similarity("The index lives in a Qdrant shard.",
                              "Cats sleep most of the day.", embedder)
    assert close > far
    assert semantic_similarity("same text", "same text", embedder) == pytest.approx(1.0, abs=1e-5)
