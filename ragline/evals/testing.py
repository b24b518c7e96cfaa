"""Helpers for users' own tests: evaluate a system in a test and assert on its metrics.

::

    from ragline.evals.testing import assert_metrics, evaluate

    def test_my_bot(tmp_path):
        result = evaluate(my_bot, cases, judge, metrics=standard_metrics(), run_dir=tmp_path)
        assert_metrics(result, {"recall@k": 0.8, "token_f1": 0.5})
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ragline.evals.case_metrics import CaseMetric, standard_metrics
from ragline.evals.gates import check_gates
from ragline.evals.results import RunResult
from ragline.evals.runner import Answerer, run_suite
from ragline.evals.suites import Suite
from ragline.evals.types import EvalCase
from ragline.verify.types import Judge


def evaluate(answerer: Answerer, cases: Sequence[EvalCase], judge: Judge, *,
             metrics: Sequence[CaseMetric] | None = None, run_dir: Path | str | None = None,
             name: str = "test", concurrency: int = 1) -> RunResult:
    """Run ``cases`` against ``answerer`` (default metrics: :func:`standard_metrics`).

    Without ``run_dir`` the checkpoint and judge cache go to a temporary folder
    that is removed afterwards, so nothing is resumed.
    """
    chosen = standard_metrics() if metrics is None else metrics
    suite = Suite(name, tuple(cases))
    if run_dir is not None:
        return run_suite(suite, answerer, judge, metrics=chosen, run_dir=run_dir,
                         concurrency=concurrency)
    with tempfile.TemporaryDirectory(prefix="ragline-eval-") as folder:
        return run_suite(suite, answerer, judge, metrics=chosen, run_dir=folder,
                         concurrency=concurrency)


def assert_metrics(result: RunResult, thresholds: Mapping[str, float]) -> None:
    """Fail with one line per metric under its threshold, and the three weakest cases of each.

    ``thresholds`` maps metric names to minimum means, e.g. ``{"recall@k": 0.8}``.
    """
    report = check_gates(result, dict(thresholds))
    if report.passed:
        return
    lines = [f"eval {result.suite!r} (judge {result.judge}) missed its thresholds:"]
    for failure in report.failures:
        lines.append(f"  {failure}")
        name = failure.partition(":")[0]
        scored = sorted((row.metrics[name], row.id) for row in result.cases
                        if name in row.metrics)
        lines.extend(f"      case {case_id}: {value:.3f}" for value, case_id in scored[:3])
    raise AssertionError("\n".join(lines))
