"""Which similarity a semantic hit needs: set outright, or calibrated for an error rate."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ragline.cache.thresholds import CALIBRATED, semantic_threshold
from ragline.config import Settings
from ragline.errors import ConfigError
from ragline.models.embedder import BUNDLED_MINILM


def test_a_set_threshold_wins(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(cache={"semantic": {"threshold": 0.9, "max_error_rate": 0.01}})
    assert semantic_threshold(settings) == 0.9


def test_the_loosest_threshold_calibrated_within_the_rate(
        make_settings: Callable[..., Settings]) -> None:
    table = dict(CALIBRATED[BUNDLED_MINILM])
    for rate, expected in ((0.10, table[0.10]), (0.12, table[0.10]), (0.5, min(table.values()))):
        settings = make_settings(cache={"semantic": {"max_error_rate": rate}})
        assert semantic_threshold(settings) == expected
    assert [t for _, t in CALIBRATED[BUNDLED_MINILM]] == sorted(table.values(), reverse=True)


def test_a_rate_below_every_calibrated_one_is_refused_with_what_to_do(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(cache={"semantic": {"max_error_rate": 0.05}})
    with pytest.raises(ConfigError, match=r"0.05 is below the lowest rate calibrated .*"
                                          r"raise it to 0.08 or more, or set"):
        semantic_threshold(settings)


def test_an_embedder_without_a_calibration_needs_a_threshold(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(embedder={"model": "/models/my-embedder"})
    with pytest.raises(ConfigError, match="no threshold is calibrated for embedder"):
        semantic_threshold(settings)
