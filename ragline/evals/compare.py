"""Paired comparison of two runs: per-metric mean delta with a seeded bootstrap 95 % CI.

Only cases present in both runs and measured by the metric in both are paired;
the interval is the 2.5th-97.5th percentile of the mean difference (B - A) over
``resamples`` resamplings of those pairs, with ``numpy.random.default_rng(seed)``,
so the same inputs always give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragline.evals.results import RunResult


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """``b_mean - a_mean`` over ``pairs`` paired cases and its 95 % bootstrap interval."""

    metric: str
    a_mean: float
    b_mean: float
    delta: float
    ci_low: float
    ci_high: float
    pairs: int


def compare(a: RunResult, b: RunResult, *, resamples: int = 2000,
            seed: int = 0) -> list[MetricDelta]:
    """One :class:`MetricDelta` per metric both runs measured on at least one shared case."""
    if resamples <= 0:
        raise ValueError(f"resamples must be > 0, but got {resamples}")
    rows_b = {row.id: row for row in b.cases}
    names = sorted(set(a.means) & set(b.means))
    deltas = []
    for name in names:
        pairs = np.array([(row.metrics[name], rows_b[row.id].metrics[name])
                          for row in a.cases
                          if row.id in rows_b and name in row.metrics
                          and name in rows_b[row.id].metrics], dtype=np.float64)
        if not len(pairs):
            continue
        diffs = pairs[:, 1] - pairs[:, 0]
        rng = np.random.default_rng(seed)
        means = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        deltas.append(MetricDelta(name, float(pairs[:, 0].mean()), float(pairs[:, 1].mean()),
                                  float(diffs.mean()), float(low), float(high), len(diffs)))
    return deltas
