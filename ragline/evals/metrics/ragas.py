"""RAGAS context and answer metrics, computed through a :class:`~ragline.verify.types.Judge`.

Definitions follow RAGAS (Es et al., 2023, and the ``ragas`` library):

- **context recall**: the share of the reference answer's sentences that the
  retrieved contexts, taken together, support (``judge.support``).
- **context precision**: with ``v_k`` = 1 when context k is relevant
  (``judge.relevance(question, context) >= threshold``), the mean of
  precision@k over the relevant positions: ``sum_k(precision@k * v_k) / sum_k(v_k)``;
  0 when no context is relevant. Relevance is judged per context against the
  question (RAGAS's reference-free variant).
- **answer relevancy**: RAGAS has an LLM write questions that the answer would
  answer and averages their embedding cosine with the real question; pass those
  as ``generated_questions``. Without them (offline) it is the embedding cosine
  of the question and the answer itself: a cruder, deterministic proxy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragline.protocols import Embedder
from ragline.text import sentences
from ragline.verify.types import Judge


def context_recall(reference_answer: str, contexts: Sequence[str], judge: Judge) -> float | None:
    """Share of the reference's sentences supported by ``contexts``; None without a reference."""
    claims = [reference_answer[s:e] for s, e in sentences(reference_answer)]
    if not claims:
        return None
    if not contexts:
        return 0.0
    return sum(judge.support(claim, contexts).supported for claim in claims) / len(claims)


def context_precision(question: str, contexts: Sequence[str], judge: Judge, *,
                      threshold: float = 0.5) -> float | None:
    """Mean precision@k over the relevant ranks of ``contexts``; None when there are none."""
    if not contexts:
        return None
    relevant = [judge.relevance(question, context) >= threshold for context in contexts]
    hits = 0
    total = 0.0
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def answer_relevancy(question: str, answer: str, embedder: Embedder, *,
                     generated_questions: Sequence[str] = ()) -> float:
    """Mean cosine of ``question`` with ``generated_questions`` (RAGAS), or with ``answer``."""
    others = list(generated_questions) or [answer]
    vectors = np.asarray(embedder.embed_documents([question, *others]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    unit = vectors / norms[:, None]
    return float(np.mean(unit[1:] @ unit[0]))
