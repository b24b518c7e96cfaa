"""RouteLLM's metrics and the threshold calibrations, on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import InvalidInput
from ragline.routing.calibrate import (
    apgr,
    cpt,
    pgr_curve,
    threshold_for_budget,
    threshold_for_min_pgr,
    threshold_for_strong_fraction,
)

# Four prompts; gains strong - weak = [1, 1, 0, -1]; mean weak 0.5, strong 0.75, gap 0.25.
SCORES = [0.9, 0.7, 0.5, 0.1]
WEAK = [0.0, 0.0, 1.0, 1.0]
STRONG = [1.0, 1.0, 1.0, 0.0]


def test_pgr_curve_routes_the_top_scores_first() -> None:
    fractions, pgr = pgr_curve(SCORES, WEAK, STRONG)
    # cumulative gains 0, 1, 2, 2, 1 over n * gap = 1
    assert fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert pgr.tolist() == pytest.approx([0.0, 1.0, 2.0, 2.0, 1.0])


def test_pgr_curve_at_given_fractions_interpolates() -> None:
    _, pgr = pgr_curve(SCORES, WEAK, STRONG, fractions=[0.125, 0.5, 1.0])
    assert pgr.tolist() == pytest.approx([0.5, 2.0, 1.0])


def test_apgr_is_the_area_under_the_curve() -> None:
    # 0.25 * (0.5 + 1.5 + 2 + 1.5)
    assert apgr(SCORES, WEAK, STRONG) == pytest.approx(1.375)


def test_apgr_of_reversed_scores_is_worse() -> None:
    # order 3, 2, 1, 0: gains -1, 0, 1, 1 -> cumulative 0, -1, -1, 0, 1
    reversed_scores = [-s for s in SCORES]
    assert apgr(reversed_scores, WEAK, STRONG) == pytest.approx(0.25 * (-0.5 - 1 - 0.5 + 0.5))


def test_cpt_is_the_smallest_fraction_reaching_the_target() -> None:
    assert cpt(SCORES, WEAK, STRONG, 0.5) == 0.25
    assert cpt(SCORES, WEAK, STRONG, 1.5) == 0.5
    assert cpt(SCORES, WEAK, STRONG, 0.0) == 0.0
    assert cpt(SCORES, WEAK, STRONG, 3.0) == 1.0  # never reached


def test_ties_share_their_mean_gain_whatever_the_input_order() -> None:
    tied = [0.5, 0.5, 0.5, 0.5]
    _, pgr = pgr_curve(tied, WEAK, STRONG)
    assert pgr.tolist() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert apgr(tied, WEAK, STRONG) == pytest.approx(0.5)
    # a partial tie group {1, 2} (gains 1 and 0) contributes 0.5 per prompt
    partial = [1.0, 0.5, 0.5, 0.0]
    _, pgr = pgr_curve(partial, WEAK, STRONG)
    assert pgr.tolist() == pytest.approx([0.0, 1.0, 1.5, 2.0, 1.0])
    permutation = [2, 0, 3, 1]
    _, permuted = pgr_curve(np.array(partial)[permutation], np.array(WEAK)[permutation],
                            np.array(STRONG)[permutation])
    assert permuted.tolist() == pytest.approx(pgr.tolist())


def test_a_random_router_averages_about_one_half() -> None:
    rng = np.random.default_rng(0)
    weak = (rng.random(5000) < 0.6).astype(float)
    strong = (rng.random(5000) < 0.8).astype(float)
    values = [apgr(rng.random(5000), weak, strong) for _ in range(20)]
    assert float(np.mean(values)) == pytest.approx(0.5, abs=0.03)


def test_threshold_for_strong_fraction() -> None:
    assert threshold_for_strong_fraction(SCORES, 0.5) == 0.7
    assert threshold_for_strong_fraction(SCORES, 1.0) == 0.1
    above = threshold_for_strong_fraction(SCORES, 0.0)
    assert above > 0.9 and not any(s >= above for s in SCORES)
    # ties go together: the 2nd highest is tied with the 3rd, both are sent
    tied = [1.0, 0.5, 0.5, 0.0]
    assert threshold_for_strong_fraction(tied, 0.5) == 0.5
    assert sum(s >= 0.5 for s in tied) == 3
    with pytest.raises(InvalidInput):
        threshold_for_strong_fraction(SCORES, 1.5)


def test_threshold_for_min_pgr_takes_the_fewest_strong_calls() -> None:
    assert threshold_for_min_pgr(SCORES, WEAK, STRONG, 1.5) == 0.7  # k = 2, PGR 2
    assert threshold_for_min_pgr(SCORES, WEAK, STRONG, 1.0) == 0.9  # k = 1, PGR 1
    assert threshold_for_min_pgr(SCORES, WEAK, STRONG, 0.0) > 0.9  # nothing to strong
    # with a tie group {1, 2} the threshold cannot split it: k jumps from 1 to 3
    assert threshold_for_min_pgr([1.0, 0.5, 0.5, 0.0], WEAK, STRONG, 1.5) == 0.5
    with pytest.raises(InvalidInput, match=r"best is 2\.000"):
        threshold_for_min_pgr(SCORES, WEAK, STRONG, 2.5)


def test_threshold_for_budget_takes_the_most_strong_calls_that_fit() -> None:
    weak_cost, strong_cost = [1.0] * 4, [3.0] * 4
    # mean cost (4 + 2k) / 4 <= 2  ->  k <= 2
    assert threshold_for_budget(SCORES, weak_cost, strong_cost, 2.0) == 0.7
    assert threshold_for_budget(SCORES, weak_cost, strong_cost, 10.0) == 0.1
    assert threshold_for_budget(SCORES, weak_cost, strong_cost, 1.0) > 0.9
    # per-request costs: the top prompt is expensive on strong
    assert threshold_for_budget(SCORES, weak_cost, [9.0, 3.0, 3.0, 3.0], 2.9) > 0.9
    assert threshold_for_budget(SCORES, weak_cost, [9.0, 3.0, 3.0, 3.0], 3.0) == 0.9
    with pytest.raises(InvalidInput, match="all-weak cost"):
        threshold_for_budget(SCORES, weak_cost, strong_cost, 0.5)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="differ in length"):
        apgr([0.1, 0.2], [0.0], [1.0, 1.0])
    with pytest.raises(InvalidInput, match="same mean quality"):
        apgr([0.1, 0.2], [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(InvalidInput, match="no scores"):
        cpt([], [], [], 0.5)
    with pytest.raises(InvalidInput, match="NaN"):
        apgr([float("nan"), 0.2], [0.0, 0.0], [1.0, 1.0])
