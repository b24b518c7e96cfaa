"""Choosing the semantic cache's similarity threshold for a user-set error rate.

A cache *serves* a new question from a stored one when their similarity is at least the
threshold and the verifier (:mod:`ragline.cache.verify`) accepts the pair. A *false hit*
is a served pair that is not a duplicate; the **false-hit rate** is false hits over
served pairs (``1 - precision``), and the **hit rate** served pairs over all pairs.

:func:`calibrate_threshold` takes labelled (similarity, verified-accept, is-duplicate)
triples from a calibration split and returns the lowest threshold whose *upper
confidence bound* of the false-hit rate (Wilson score or Clopper-Pearson, one-sided, at
``confidence``) is at most ``max_error_rate``. The bound, not the observed rate, is what
makes the choice conservative: on fresh data from the same distribution the realised
rate stays under the target with high probability. :func:`evaluate` reports the realised
rates of a threshold on a test split; :func:`best_static_threshold` is the hindsight
oracle (the lowest threshold meeting the rate on the data given);
:func:`entry_threshold` moves one cache entry's threshold by the outcomes verified for
it (a simple, vCache-like online rule); and
:func:`precision_at_recall` / :func:`recall_at_precision` read a precision-recall curve.
Pure numpy; no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Bound", "Calibration", "Labelled", "Outcome", "best_static_threshold",
           "calibrate_threshold", "clopper_pearson_upper", "entry_threshold", "evaluate",
           "precision_at_recall", "recall_at_precision", "wilson_upper"]

Bound = Literal["wilson", "clopper-pearson"]
_MAX_CANDIDATES = 2000  # thresholds tried by calibrate_threshold (quantiles when more)


@dataclass(frozen=True)
class Labelled:
    """Labelled cache decisions: one row per (stored question, new question) pair.

    ``similarity`` is the cosine of the pair, ``accepted`` the verifier's decision (all
    True for plain cosine) and ``duplicate`` whether serving would be right.
    """

    similarity: npt.NDArray[np.float64]
    accepted: npt.NDArray[np.bool_]
    duplicate: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, similarity: object, accepted: object, duplicate: object) -> Labelled:
        """Build from array-likes, checking that the three have one length."""
        sim = np.asarray(similarity, dtype=np.float64)
        acc = np.asarray(accepted, dtype=bool)
        dup = np.asarray(duplicate, dtype=bool)
        if not sim.shape == acc.shape == dup.shape or sim.ndim != 1:
            raise ValueError("similarity, accepted and duplicate must be 1-d, one length")
        return cls(sim, acc, dup)

    def scores(self) -> npt.NDArray[np.float64]:
        """Similarity where the verifier accepts, ``-inf`` (never served) where it rejects."""
        return np.where(self.accepted, self.similarity, -np.inf)

    def subset(self, index: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Labelled:
        """The rows picked by ``index``."""
        return Labelled(self.similarity[index], self.accepted[index], self.duplicate[index])


@dataclass(frozen=True)
class Outcome:
    """What a threshold does on labelled pairs."""

    threshold: float
    served: int
    false_hits: int
    total: int
    duplicates: int

    @property
    def false_hit_rate(self) -> float:
        """False hits over served pairs (0 when nothing is served)."""
        return self.false_hits / self.served if self.served else 0.0

    @property
    def hit_rate(self) -> float:
        """Served pairs over all pairs."""
        return self.served / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        """Right hits over served pairs (1 when nothing is served)."""
        return 1.0 - self.false_hit_rate

    @property
    def recall(self) -> float:
        """Right hits over all duplicate pairs."""
        return (self.served - self.false_hits) / self.duplicates if self.duplicates else 0.0


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold: the outcome on the calibration split and its bound."""

    outcome: Outcome
    upper_bound: float
    max_error_rate: float
    confidence: float
    bound: Bound

    @property
    def threshold(self) -> float:
        """The similarity a hit needs (``inf`` when no threshold meets the rate)."""
        return self.outcome.threshold


def wilson_upper(errors: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score upper bound of a binomial proportion (1 when ``n`` is 0)."""
    if n <= 0:
        return 1.0
    z = _normal_quantile(confidence)
    p = errors / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def clopper_pearson_upper(errors: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper bound: the p with P(X <= errors) = 1 - conf."""
    if n <= 0 or errors >= n:
        return 1.0
    alpha = 1.0 - confidence
    low, high = errors / n, 1.0
    for _ in range(60):  # bisection: the binomial CDF falls as p grows
        mid = (low + high) / 2
        if _binomial_cdf(errors, n, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    i = np.arange(k + 1, dtype=np.float64)
    log_terms = (math.lgamma(n + 1) - _lgamma(i + 1) - _lgamma(n - i + 1)
                 + i * math.log(p) + (n - i) * math.log1p(-p))
    peak = float(log_terms.max())
    return float(min(1.0, math.exp(peak) * np.exp(log_terms - peak).sum()))


def _lgamma(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.array([math.lgamma(v) for v in x], dtype=np.float64)


def _normal_quantile(q: float) -> float:
    """The standard normal quantile, by bisection on ``erf`` (enough for a bound)."""
    low, high = -10.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def evaluate(data: Labelled, threshold: float) -> Outcome:
    """What serving at ``similarity >= threshold`` (verifier accepting) does on ``data``."""
    served = data.scores() >= threshold
    return Outcome(float(threshold), int(served.sum()), int((served & ~data.duplicate).sum()),
                   len(data.similarity), int(data.duplicate.sum()))


def _sweep(data: Labelled) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                                    npt.NDArray[np.int64]]:
    """Distinct finite scores, descending, with served and false-hit counts at each."""
    scores = data.scores()
    order = np.argsort(-scores, kind="stable")
    ranked, wrong = scores[order], (~data.duplicate[order]).astype(np.int64)
    finite = np.isfinite(ranked)
    ranked, wrong = ranked[finite], wrong[finite]
    false_hits = np.cumsum(wrong)
    last = np.r_[ranked[1:] != ranked[:-1], True] if len(ranked) else np.zeros(0, bool)
    served = np.arange(1, len(ranked) + 1)
    return ranked[last], served[last], false_hits[last]


def calibrate_threshold(data: Labelled, max_error_rate: float, *, confidence: float = 0.95,
                        bound: Bound = "wilson") -> Calibration:
    """The lowest threshold whose false-hit-rate upper bound is at most ``max_error_rate``.

    Thresholds are tried at the distinct scores (at most 2,000 quantiles of them); when
    none meets the rate, the threshold is ``inf`` (never serve).
    """
    if not 0.0 < max_error_rate < 1.0:
        raise ValueError(f"max_error_rate must lie in (0, 1), not {max_error_rate}")
    thresholds, served, false_hits = _sweep(data)
    if len(thresholds) > _MAX_CANDIDATES:
        keep = np.unique(np.linspace(0, len(thresholds) - 1, _MAX_CANDIDATES).astype(int))
        thresholds, served, false_hits = thresholds[keep], served[keep], false_hits[keep]
    upper = wilson_upper if bound == "wilson" else clopper_pearson_upper
    best: tuple[float, float] | None = None
    for t, n, k in zip(thresholds, served, false_hits, strict=True):
        if k / n > max_error_rate:  # the bound lies above the observed rate: cannot pass
            continue
        ub = upper(int(k), int(n), confidence)
        if ub <= max_error_rate:
            best = (float(t), ub)
    threshold, ub = best if best is not None else (math.inf, 1.0)
    return Calibration(evaluate(data, threshold), ub, max_error_rate, confidence, bound)


def best_static_threshold(data: Labelled, max_error_rate: float) -> Outcome:
    """Hindsight oracle: the lowest threshold whose observed false-hit rate meets the rate."""
    thresholds, served, false_hits = _sweep(data)
    ok = np.flatnonzero(false_hits <= max_error_rate * served)
    return evaluate(data, float(thresholds[ok[-1]]) if len(ok) else math.inf)


def precision_at_recall(data: Labelled, recall: float) -> float:
    """The best precision of any threshold whose recall is at least ``recall`` (0 if none)."""
    _, served, false_hits = _sweep(data)
    total = int(data.duplicate.sum())
    hits = served - false_hits
    ok = hits >= recall * total
    return float((hits[ok] / served[ok]).max()) if total and ok.any() else 0.0


def recall_at_precision(data: Labelled, precision: float) -> float:
    """The best recall of any threshold whose precision is at least ``precision`` (0 if none)."""
    _, served, false_hits = _sweep(data)
    total = int(data.duplicate.sum())
    hits = served - false_hits
    ok = hits >= precision * served
    return float(hits[ok].max() / total) if total and ok.any() else 0.0


def entry_threshold(observations: Sequence[tuple[float, bool]], base: float, *,
                    floor: float, min_evidence: int = 5, margin: float = 0.005) -> float:
    """One entry's threshold, learned online from verified (similarity, correct) outcomes.

    Starts at ``base`` (the calibrated threshold). A wrong outcome at similarity ``s``
    raises it above ``s + margin``: this entry never again serves a question that close or
    further. ``min_evidence`` correct outcomes between a similarity ``s`` and ``base`` (with
    no wrong one at or above ``s``) lower it to ``s``, never under ``floor``. A simplified
    reading of vCache (Schroeder et al. 2025), which fits a per-entry sigmoid instead.
    """
    wrong = [s for s, correct in observations if not correct]
    raised = max(wrong) + margin if wrong else -math.inf
    below = sorted((s for s, correct in observations if correct and raised < s < base),
                   reverse=True)
    lowered = below[min_evidence - 1] if len(below) >= min_evidence > 0 else math.inf
    return max(floor, raised, min(base, lowered))
