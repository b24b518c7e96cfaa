"""Quality gates: minimum metric means, and no regression against a baseline run.

``parse_thresholds("faithfulness=0.9,citation_recall=0.8")`` reads the
``--fail-under`` option. :func:`check_gates` fails a metric whose mean is under
its threshold (or that the run did not measure), and, with a baseline, a
metric that regressed: its paired mean dropped by more than ``tolerance`` and
the bootstrap 95 % interval of the drop lies wholly below zero (see
:mod:`ragline.evals.compare`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragline.evals.compare import compare
from ragline.evals.errors import EvalError
from ragline.evals.results import RunResult


def parse_thresholds(text: str) -> dict[str, float]:
    """``name=value`` pairs separated by commas; raises :class:`EvalError` when malformed."""
    thresholds: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            thresholds[name.strip()] = float(value)
        except ValueError as exc:
            raise EvalError(f"--fail-under: {item!r} is not metric=value; write e.g. "
                            "faithfulness=0.9,citation_recall=0.8") from exc
    return thresholds


@dataclass(frozen=True, slots=True)
class GateReport:
    """The gate's verdict: ``failures`` holds one readable line per failed check."""

    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.failures


def check_gates(run: RunResult, thresholds: dict[str, float] | None = None, *,
                baseline: RunResult | None = None, tolerance: float = 0.0,
                seed: int = 0) -> GateReport:
    """Check ``run`` against ``thresholds`` and, when given, ``baseline``."""
    failures = []
    for name, minimum in (thresholds or {}).items():
        mean = run.means.get(name)
        if mean is None:
            measured = ", ".join(sorted(run.means)) or "none"
            failures.append(f"{name}: not measured by this run (measured: {measured})")
        elif mean < minimum:
            failures.append(f"{name}: mean {mean:.3f} is under the threshold {minimum:.3f}")
    if baseline is not None:
        for delta in compare(baseline, run, seed=seed):
            if delta.delta < -tolerance and delta.ci_high < 0:
                failures.append(
                    f"{delta.metric}: regressed from {delta.a_mean:.3f} to {delta.b_mean:.3f} "
                    f"(delta {delta.delta:+.3f}, 95% CI [{delta.ci_low:+.3f}, "
                    f"{delta.ci_high:+.3f}] over {delta.pairs} cases)")
    return GateReport(tuple(failures))
