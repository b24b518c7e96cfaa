"""Retrieval metrics from pytrec_eval, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from ragline.evals.metrics.retrieval import retrieval_metrics, retrieval_metrics_batch


def test_binary_relevance_by_hand() -> None:
    # relevant c at rank 3 (a's second chunk is ignored); x never retrieved
    got = retrieval_metrics(["a", "b", "a", "c"], ["c", "x"], k=3)
    assert got["hit_rate@k"] == 1.0
    assert got["recall@k"] == 0.5
    assert got["mrr"] == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3)
    assert got["ndcg@k"] == pytest.approx((1 / math.log2(4)) / ideal)


def test_graded_relevance_by_hand() -> None:
    got = retrieval_metrics(["a", "b", "c"], {"b": 2, "c": 1}, k=2)
    assert (got["hit_rate@k"], got["recall@k"], got["mrr"]) == (1.0, 0.5, 0.5)
    assert got["ndcg@k"] == pytest.approx((2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_cutoff_misses_and_perfect_ranking() -> None:
    miss = retrieval_metrics(["a", "b", "c"], ["c"], k=2)
    assert (miss["hit_rate@k"], miss["recall@k"], miss["ndcg@k"]) == (0.0, 0.0, 0.0)
    assert miss["mrr"] == pytest.approx(1 / 3)  # the reciprocal rank looks at the whole list
    assert retrieval_metrics(["c", "d"], ["c", "d"], k=2) == {
        "hit_rate@k": 1.0, "recall@k": 1.0, "mrr": 1.0, "ndcg@k": 1.0}


def test_undefined_and_empty_cases() -> None:
    assert retrieval_metrics(["a"], []) == {}
    assert retrieval_metrics([], ["a"]) == dict.fromkeys(
        ("hit_rate@k", "recall@k", "mrr", "ndcg@k"), 0.0)
    batch = retrieval_metrics_batch({"q1": ["a"], "q2": ["b"]}, {"q1": ["a"], "q2": {"z": 0}})
    assert set(batch) == {"q1"}
    with pytest.raises(ValueError, match="k must be > 0"):
        retrieval_metrics(["a"], ["a"], k=0)
