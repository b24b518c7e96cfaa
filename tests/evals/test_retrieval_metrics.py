"""Retrieval metrics from pytrec_eval, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from ragline.evals.metrics.retrieval import (
    mean_retrieval_metrics,
    retrieval_metrics,
    retrieval_metrics_batch,
)


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


def test_mean_over_judged_queries_by_hand() -> None:
    runs = {"q1": ["a", "b"], "q2": ["z", "c"], "q3": ["a"]}
    relevant = {"q1": {"a": 3, "b": 1}, "q2": ["c", "d"], "q3": [], "q4": ["a"]}
    got = mean_retrieval_metrics(runs, relevant, k=2)
    # q3 has no judgement (left out); q4 retrieved nothing (0 everywhere)
    ndcg_q2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert got["ndcg@k"] == pytest.approx((1.0 + ndcg_q2 + 0.0) / 3)
    assert got["recall@k"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert got["mrr"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert got["hit_rate@k"] == pytest.approx(2 / 3)
    assert mean_retrieval_metrics(runs, {"q1": []}) == {}


def test_graded_ndcg_is_linear_gain_with_log2_discount() -> None:
    # the benchmark's conventions: gain = grade (not 2**grade - 1), 1/log2(rank + 1),
    # ideal = the judged grades sorted, judged documents never retrieved still count
    grades = {"a": 1, "b": 4, "c": 2, "d": 4}
    ranking = ["a", "x", "b", "c"]
    dcg = 1 + 4 / math.log2(4) + 2 / math.log2(5)
    idcg = 4 + 4 / math.log2(3) + 2 / math.log2(4) + 1 / math.log2(5)
    got = mean_retrieval_metrics({"q": ranking}, {"q": grades}, k=10)
    assert got["ndcg@k"] == pytest.approx(dcg / idcg)
    assert got["recall@k"] == 0.75
