"""Fit the abstention check's weights and threshold on the tune half of SQuAD-500.

Run through ``python benchmarks/answers.py --calibrate``. Every question is answered
with abstention off; the features of :func:`ragline.verify.abstention.evidence` are
read from the retrieved passages and the answer's confidence. A logistic regression
(scikit-learn, L2, C=1) is fitted on the tune half's questions that the two rules
leave, over the first three features: the model's confidence (the fourth) got a weight
of -0.03 when it was included, separates answerable from unanswerable questions no
better than chance (AUC 0.505 alone), and would move the check after generation, so
its weight is 0; the threshold is the lowest that declines at most 10 % of the tune half's
answerable questions (rules included). The held-out half is then scored with those
constants, and a 5-fold cross-validated AUC over all questions is printed too.
Paste the printed constants into ``ragline/verify/abstention.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.verify.abstention import evidence

MAX_FALSE_ABSTAIN = 0.10


def _features(settings: Settings, cases: Sequence[Any]) -> list[dict[str, Any]]:
    """Per case: the features, whether a rule declines it, its half and gold."""
    off = settings.model_copy(update={"generation": settings.generation.model_copy(
        update={"abstain": "off"})})
    rows = []
    with RAGPipeline.from_settings(off, collection="squad", notices=False) as pipeline:
        pipeline.model.warm_up()
        for case in cases:
            prepared = pipeline.prepare(case.question, k=None, mode=None, filters=None)
            if prepared.request is None:
                continue
            response = pipeline.model.generate(prepared.request)
            seen = evidence(case.question, prepared.request.passages, response.confidence)
            ruled = not seen.any_overlap or bool(seen.unknown_names)
            rows.append({"x": seen.features(), "ruled": ruled, "half": case.half,
                         "unanswerable": not case.answers})
    return rows


def calibrate(settings: Settings, cases: Sequence[Any]) -> None:
    """Fit, choose the threshold, and print the constants and the held-out rates."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    rows = _features(settings, cases)
    tune = [r for r in rows if r["half"] == "tune" and not r["ruled"]]
    x = np.array([r["x"][:3] for r in tune])
    y = np.array([r["unanswerable"] for r in tune], dtype=int)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    weights = (*(float(w) for w in fitted.coef_[0]), 0.0)
    bias = float(fitted.intercept_[0])

    def probability(row: dict[str, Any]) -> float:
        """The fitted model's probability; 1 for a question a rule declines."""
        if row["ruled"]:
            return 1.0
        z = bias + sum(w * v for w, v in zip(weights, row["x"], strict=True))
        return float(1 / (1 + np.exp(-z)))

    tune_answerable = sorted(probability(r) for r in rows
                             if r["half"] == "tune" and not r["unanswerable"])
    threshold = float(np.quantile(tune_answerable, 1 - MAX_FALSE_ABSTAIN))
    every = np.array([r["x"][:3] for r in rows if not r["ruled"]])
    gold = np.array([r["unanswerable"] for r in rows if not r["ruled"]], dtype=int)
    cv = cross_val_predict(LogisticRegression(C=1.0, max_iter=1000), every, gold, cv=5,
                           method="predict_proba")[:, 1]
    print(f"\nWEIGHTS = {tuple(round(w, 4) for w in weights)}")
    print(f"BIAS = {bias:.4f}")
    print(f"DEFAULT_THRESHOLD = {threshold:.4f}")
    print(f"5-fold AUC over the questions the rules leave: {roc_auc_score(gold, cv):.3f}")
    for half in ("tune", "held-out"):
        part = [r for r in rows if r["half"] == half]
        declined = [probability(r) > threshold for r in part]
        unanswerable = [d for d, r in zip(declined, part, strict=True) if r["unanswerable"]]
        answerable = [d for d, r in zip(declined, part, strict=True) if not r["unanswerable"]]
        print(f"{half}: declines {np.mean(unanswerable):.3f} of {len(unanswerable)} "
              f"unanswerable, {np.mean(answerable):.3f} of {len(answerable)} answerable "
              f"(rules alone: {np.mean([r['ruled'] for r in part]):.3f} of all)")
