"""RouteLLM's routing metrics and the thresholds that calibrate a router.

A router scores each prompt (higher = more likely to need the strong model); a
threshold sends the prompts scoring at least it to the strong model. With
``weak`` and ``strong`` the per-prompt qualities of the two models, routing the
set ``S`` to the strong model gives quality ``mean(weak) + sum_{i in S}(strong_i -
weak_i) / n``. The metrics follow RouteLLM (Ong et al., "RouteLLM: Learning to
Route LLMs with Preference Data", 2024, section 5.1):

- PGR (performance gap recovered) = (q_router - q_weak) / (q_strong - q_weak);
- APGR = PGR averaged over strong-call fractions from 0 to 100 % (here the exact
  area under the piecewise-linear PGR curve over k = 0..n strong calls);
- CPT(x) = the smallest strong-call fraction whose PGR reaches x.

Ties: prompts with equal scores cannot be told apart, so when a strong-call
count splits a group of tied prompts, the metrics credit the group's *mean* gain
per prompt (the expectation over any order within the group). The curve does not
depend on the input order. Thresholds move whole tie groups: a threshold routes
every prompt scoring at least it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ragline.errors import InvalidInput

__all__ = ["apgr", "cpt", "pgr_curve", "threshold_for_budget", "threshold_for_min_pgr",
           "threshold_for_strong_fraction"]

Floats = npt.NDArray[np.float64]
ArrayLike = Sequence[float] | npt.NDArray[Any]


def _arrays(scores: ArrayLike, *others: ArrayLike) -> tuple[Floats, ...]:
    """The inputs as float arrays of one common, non-zero length."""
    arrays = tuple(np.asarray(a, dtype=np.float64).reshape(-1) for a in (scores, *others))
    n = arrays[0].size
    if n == 0:
        raise InvalidInput("no scores to calibrate on")
    if any(a.size != n for a in arrays):
        raise InvalidInput(f"scores and qualities differ in length: {[a.size for a in arrays]}")
    if np.isnan(arrays[0]).any():
        raise InvalidInput("a router score is NaN")
    return arrays


def _order(scores: Floats) -> npt.NDArray[np.intp]:
    """Indices by descending score; equal scores keep input order (stable)."""
    return np.argsort(-scores, kind="stable")


def _gap(weak: Floats, strong: Floats) -> float:
    gap = float(strong.mean() - weak.mean())
    if gap == 0.0:
        raise InvalidInput("the strong and weak models have the same mean quality: "
                           "PGR is undefined")
    return gap


def _cumulative_gain(scores: Floats, weak: Floats, strong: Floats) -> Floats:
    """Total gain of routing the top k prompts to strong, k = 0..n, ties averaged."""
    order = _order(scores)
    sorted_scores = scores[order]
    gain = (strong - weak)[order]
    n = scores.size
    # Each tie group [start, end) shares its mean gain over its members.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], n]
    group_sums = np.add.reduceat(gain, starts)
    shared = np.repeat(group_sums / (ends - starts), ends - starts)
    cumulative: Floats = np.r_[0.0, np.cumsum(shared)]
    return cumulative


def pgr_curve(scores: ArrayLike, weak_quality: ArrayLike, strong_quality: ArrayLike,
              fractions: ArrayLike | None = None) -> tuple[Floats, Floats]:
    """``(fractions, pgr)``: the PGR of sending the top fraction of prompts, by score, to strong.

    Without ``fractions`` the curve has every strong-call count ``k = 0..n`` (so
    fractions ``k / n``). A fraction between two counts interpolates linearly.
    PGR is 0 at fraction 0 and 1 at fraction 1 and may leave [0, 1] in between.
    """
    s, weak, strong = _arrays(scores, weak_quality, strong_quality)
    n = s.size
    pgr = _cumulative_gain(s, weak, strong) / n / _gap(weak, strong)
    grid = np.arange(n + 1, dtype=np.float64) / n
    if fractions is None:
        return grid, pgr
    wanted = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if wanted.size and (wanted.min() < 0.0 or wanted.max() > 1.0):
        raise InvalidInput("strong-call fractions must lie in [0, 1]")
    return wanted, np.interp(wanted, grid, pgr)


def apgr(scores: ArrayLike, weak_quality: ArrayLike, strong_quality: ArrayLike) -> float:
    """The average PGR over strong-call fractions 0-100 % (area under the PGR curve).

    A random router scores 0.5 in expectation; a perfect one more than 0.5.
    """
    fractions, pgr = pgr_curve(scores, weak_quality, strong_quality)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2.0 * np.diff(fractions)))


def cpt(scores: ArrayLike, weak_quality: ArrayLike, strong_quality: ArrayLike,
        pgr_target: float) -> float:
    """The smallest strong-call fraction (``k / n``) whose PGR reaches ``pgr_target``.

    ``pgr_target`` is a fraction (0.5 for CPT(50 %)); above 1 it may never be
    reached, and then the result is 1.0 (every prompt to strong).
    """
    fractions, pgr = pgr_curve(scores, weak_quality, strong_quality)
    reached = np.flatnonzero(pgr >= pgr_target - 1e-12)
    return float(fractions[reached[0]]) if reached.size else 1.0


def _above(value: float) -> float:
    """The next float above ``value``: a threshold no score reaches."""
    return float(np.nextafter(value, np.inf))


def threshold_for_strong_fraction(scores: ArrayLike, fraction: float) -> float:
    """A threshold sending about ``fraction`` of the prompts to strong.

    The threshold is the ``round(fraction * n)``-th highest score, so at least
    that many prompts score at least it (more when the score is tied); for a
    count of 0 it lies just above the highest score.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput(f"strong fraction must lie in [0, 1], got {fraction}")
    (s,) = _arrays(scores)
    k = round(fraction * s.size)
    ordered = s[_order(s)]
    return _above(float(ordered[0])) if k == 0 else float(ordered[k - 1])


def _threshold_points(scores: Floats) -> tuple[Floats, npt.NDArray[np.intp]]:
    """Candidate thresholds (distinct scores, descending, after one above the top) and
    how many prompts each sends to strong."""
    distinct = np.unique(scores)[::-1]
    thresholds = np.r_[_above(float(distinct[0])), distinct]
    counts = np.searchsorted(np.sort(-scores), -thresholds, side="right")
    return thresholds, counts.astype(np.intp)


def threshold_for_min_pgr(scores: ArrayLike, weak_quality: ArrayLike,
                          strong_quality: ArrayLike, min_pgr: float) -> float:
    """The highest threshold (fewest strong calls) whose routing reaches PGR ``min_pgr``.

    Whole tie groups move together. Routing everything to strong has PGR 1, so
    any ``min_pgr <= 1`` is reachable; a larger one raises ``InvalidInput`` unless
    some threshold reaches it (a router can beat the strong model alone).
    """
    s, weak, strong = _arrays(scores, weak_quality, strong_quality)
    gap = _gap(weak, strong)
    thresholds, counts = _threshold_points(s)
    gain = np.r_[0.0, np.cumsum((strong - weak)[_order(s)])]
    pgr = gain[counts] / s.size / gap
    reached = np.flatnonzero(pgr >= min_pgr - 1e-12)
    if not reached.size:
        raise InvalidInput(f"no threshold reaches PGR {min_pgr} (the best is {pgr.max():.3f})")
    return float(thresholds[reached[0]])


def threshold_for_budget(scores: ArrayLike, weak_cost: ArrayLike, strong_cost: ArrayLike,
                         budget_usd_per_request: float) -> float:
    """The lowest threshold (most strong calls) whose mean cost per request fits the budget.

    ``weak_cost[i]`` and ``strong_cost[i]`` are what prompt ``i`` costs on each
    model (for a cascade, pass the weak attempt plus the strong call as the
    strong cost). Whole tie groups move together. Raises ``InvalidInput`` when
    even sending everything to the weak model exceeds the budget.
    """
    s, weak, strong = _arrays(scores, weak_cost, strong_cost)
    thresholds, counts = _threshold_points(s)
    extra = np.r_[0.0, np.cumsum((strong - weak)[_order(s)])]
    mean_cost = (weak.sum() + extra[counts]) / s.size
    fits = np.flatnonzero(mean_cost <= budget_usd_per_request + 1e-15)
    if not fits.size:
        raise InvalidInput(f"budget ${budget_usd_per_request:.6g} per request is below the "
                           f"all-weak cost ${weak.mean():.6g}")
    return float(thresholds[fits[-1]])
