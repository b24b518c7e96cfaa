"""Metrics: retrieval (pytrec_eval), answer overlap and similarity, RAGAS through a Judge."""

from ragline.evals.metrics.answer import (
    exact_match,
    normalize_answer,
    semantic_similarity,
    token_f1,
)
from ragline.evals.metrics.ragas import answer_relevancy, context_precision, context_recall
from ragline.evals.metrics.retrieval import (
    mean_retrieval_metrics,
    retrieval_metrics,
    retrieval_metrics_batch,
)

__all__ = ["answer_relevancy", "context_precision", "context_recall", "exact_match",
           "mean_retrieval_metrics", "normalize_answer", "retrieval_metrics",
           "retrieval_metrics_batch", "semantic_similarity", "token_f1"]
