"""The similarity a semantic hit needs, from ``cache.semantic`` and a calibration table.

``cache.semantic.threshold`` sets the cosine outright. Left null, the threshold is the one
calibrated for ``cache.semantic.max_error_rate`` with the configured embedder: the lowest
cosine whose 95 % Wilson upper bound of the false-hit rate (wrong answers served / answers
served, lexical verification on) stays within the rate, found by ``benchmarks/cache.py``
on the calibration half of Quora Question Pairs (GPTCache's ``similiar_qqp_full`` set,
all 80,854 pairs split by pair with seed 0: 40,427 to calibrate) and checked on the other
half, where each realised false-hit rate stayed within its rate (0.075, 0.096, 0.140 and
0.190). A rate below every calibrated one is refused: with this embedder no single
threshold meets 0.05 on QQP, not even one chosen with hindsight on the test half, and
serving nothing would hide that.
To calibrate on your own traffic, label pairs of questions and use
:func:`ragline.cache.calibrate.calibrate_threshold`, then set ``threshold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragline.errors import ConfigError
from ragline.models.embedder import BUNDLED_MINILM

if TYPE_CHECKING:
    from ragline.config import Settings

CALIBRATED: dict[str, tuple[tuple[float, float], ...]] = {
    BUNDLED_MINILM: ((0.08, 0.972), (0.10, 0.955), (0.15, 0.917), (0.20, 0.875)),
}
"""Per embedder: (max error rate, threshold) pairs, lowest rate first."""


def semantic_threshold(settings: Settings) -> float:
    """The cosine a semantic hit needs under ``settings`` (see the module docstring).

    Raises :class:`ConfigError` when no threshold is set and none is calibrated for the
    embedder, or for a rate that low.
    """
    semantic = settings.cache.semantic
    if semantic.threshold is not None:
        return semantic.threshold
    embedder = settings.embedder.model
    table = CALIBRATED.get(embedder)
    if table is None:
        raise ConfigError(
            f"cache.semantic.threshold: no threshold is calibrated for embedder {embedder!r}; "
            "set cache.semantic.threshold (see docs/caching.md, 'Tuning the threshold')")
    meeting = [threshold for rate, threshold in table if rate <= semantic.max_error_rate]
    if not meeting:
        lowest = table[0][0]
        raise ConfigError(
            f"cache.semantic.max_error_rate: {semantic.max_error_rate} is below the lowest "
            f"rate calibrated for {embedder} ({lowest}); raise it to {lowest} or more, or "
            "set cache.semantic.threshold (see docs/caching.md, 'Tuning the threshold')")
    return min(meeting)
