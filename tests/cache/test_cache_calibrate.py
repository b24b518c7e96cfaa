"""Threshold calibration for a maximum false-hit rate (ragline.cache.calibrate)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragline.cache.calibrate import (
    Labelled,
    best_static_threshold,
    calibrate_threshold,
    clopper_pearson_upper,
    entry_threshold,
    evaluate,
    precision_at_recall,
    recall_at_precision,
    wilson_upper,
)


def synthetic(n: int, seed: int) -> Labelled:
    """Duplicates score higher on average; the verifier rejects 30 % of the non-duplicates."""
    rng = np.random.default_rng(seed)
    duplicate = rng.random(n) < 0.4
    similarity = np.where(duplicate, rng.normal(0.85, 0.07, n), rng.normal(0.6, 0.09, n))
    accepted = ~(~duplicate & (rng.random(n) < 0.3))
    return Labelled.of(similarity, accepted, duplicate)


@pytest.mark.parametrize("bound", ["wilson", "clopper-pearson"])
def test_threshold_meets_the_rate_on_calibration_and_in_the_population(bound: str) -> None:
    calibration = calibrate_threshold(synthetic(20000, 1), 0.05, bound=bound)  # type: ignore[arg-type]
    assert math.isfinite(calibration.threshold)
    assert calibration.upper_bound <= 0.05
    assert calibration.outcome.false_hit_rate <= calibration.upper_bound
    assert calibration.outcome.served > 1000
    # the rate the bound controls is the population's: estimated on a large fresh sample
    fresh = evaluate(synthetic(200000, 99), calibration.threshold)
    assert fresh.false_hit_rate <= 0.05
    # ... and the bound costs little: the population's best threshold serves about as much
    assert fresh.served >= 0.95 * best_static_threshold(synthetic(200000, 99), 0.05).served


def test_the_bound_is_conservative() -> None:
    data = synthetic(4000, 3)
    calibrated = calibrate_threshold(data, 0.05)
    oracle = best_static_threshold(data, 0.05)
    # the bound serves less than the observed-rate optimum on the same data
    assert calibrated.threshold >= oracle.threshold
    assert calibrated.outcome.served <= oracle.served
    assert oracle.false_hit_rate <= 0.05


def test_bounds_lie_above_the_observed_rate_and_shrink_with_n() -> None:
    for upper in (wilson_upper, clopper_pearson_upper):
        assert upper(0, 0) == 1.0
        assert upper(5, 100) > 0.05
        assert upper(50, 1000) < upper(5, 100)
        assert upper(0, 100) > 0.0
    # the exact bound for 0 errors in n is 1 - alpha ** (1 / n)
    assert clopper_pearson_upper(0, 59) == pytest.approx(1 - 0.05 ** (1 / 59), abs=1e-6)
    assert clopper_pearson_upper(3, 100) >= wilson_upper(3, 100) - 0.01


def test_no_threshold_meets_an_impossible_rate() -> None:
    data = Labelled.of([0.9, 0.8, 0.7], [True, True, True], [False, False, True])
    calibration = calibrate_threshold(data, 0.05)
    assert calibration.threshold == math.inf
    assert calibration.outcome.served == 0


def test_rejected_pairs_are_never_served() -> None:
    data = Labelled.of([0.99, 0.9, 0.5], [False, True, True], [False, True, False])
    outcome = evaluate(data, 0.0)
    assert (outcome.served, outcome.false_hits) == (2, 1)
    assert outcome.hit_rate == pytest.approx(2 / 3)
    assert outcome.recall == 1.0


def test_precision_recall_readings() -> None:
    data = Labelled.of([0.9, 0.8, 0.7, 0.6], [True] * 4, [True, False, True, False])
    assert precision_at_recall(data, 0.5) == 1.0
    assert precision_at_recall(data, 1.0) == pytest.approx(2 / 3)
    assert recall_at_precision(data, 0.9) == 0.5
    assert recall_at_precision(data, 0.6) == 1.0


def test_shapes_and_rates_are_checked() -> None:
    with pytest.raises(ValueError):
        Labelled.of([0.1, 0.2], [True], [False, True])
    with pytest.raises(ValueError):
        calibrate_threshold(synthetic(10, 0), 0.0)


def test_an_entry_threshold_starts_at_the_base_and_rises_above_a_wrong_outcome() -> None:
    assert entry_threshold([], 0.9, floor=0.8) == 0.9
    assert entry_threshold([(0.93, False)], 0.9, floor=0.8) == pytest.approx(0.935)
    assert entry_threshold([(0.85, False)], 0.9, floor=0.8) == 0.9  # below the base: no change


def test_an_entry_threshold_falls_only_on_enough_correct_outcomes_below_the_base() -> None:
    right = [(0.88, True), (0.87, True), (0.86, True), (0.89, True)]
    assert entry_threshold(right, 0.9, floor=0.8, min_evidence=5) == 0.9
    assert entry_threshold([*right, (0.85, True)], 0.9, floor=0.8, min_evidence=5) == 0.85
    assert entry_threshold([*right, (0.7, True)], 0.9, floor=0.8, min_evidence=5) == 0.8
    # a wrong outcome above the evidence keeps the threshold above it
    mixed = [*right, (0.85, True), (0.875, False)]
    assert entry_threshold(mixed, 0.9, floor=0.8, min_evidence=1) == 0.89
    assert entry_threshold(mixed, 0.9, floor=0.8, min_evidence=2) == 0.9  # one right above it
    assert entry_threshold([(0.95, True)] * 9, 0.9, floor=0.8) == 0.9  # above the base: no news
