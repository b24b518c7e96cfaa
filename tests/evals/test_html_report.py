"""HTML report (summary, plots, highlighted problems) and paired comparison of runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.evals.compare import compare
from ragline.evals.errors import EvalError
from ragline.evals.gates import check_gates, parse_thresholds
from ragline.evals.report import write_html
from ragline.evals.results import CaseRow, RunResult


def make_run(values: list[float], *, name: str = "faithfulness",
             details: dict[str, object] | None = None) -> RunResult:
    rows = [CaseRow(id=f"c{n}", question=f"q{n}?", answer=f"a{n} <b>", metrics={name: v},
                    details=details if n == 0 and details else {})
            for n, v in enumerate(values)]
    return RunResult.of(suite="s", config=None, judge="offline", rows=rows)


def test_html_has_summary_plots_and_highlighted_problems(tmp_path: Path) -> None:
    run = make_run([0.2, 0.9, 1.0], details={"unsupported_claims": ["The moon is cheese."],
                                              "broken_citations": ["[7]"]})
    page = write_html(run, tmp_path / "out" / "report.html").read_text()
    assert "<td>faithfulness</td>" in page and "0.700" in page
    assert 'class="unsupported">unsupported: The moon is cheese.' in page
    assert 'class="broken">broken citation: [7]' in page
    assert "data:image/png;base64," in page
    assert "a0 &lt;b&gt;" in page  # answers are escaped


def test_compare_gives_a_seeded_paired_bootstrap_interval() -> None:
    a = make_run([0.5, 0.6, 0.7, 0.8, 0.9, 0.5, 0.6, 0.7])
    b = make_run([0.7, 0.8, 0.9, 1.0, 1.0, 0.7, 0.8, 0.9])
    (delta,) = compare(a, b)
    assert delta.metric == "faithfulness" and delta.pairs == 8
    assert delta.delta == pytest.approx(0.1875)
    assert 0 < delta.ci_low <= delta.delta <= delta.ci_high
    assert compare(a, b) == [delta]  # same seed, same interval
    (same,) = compare(a, a)
    assert (same.delta, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)


def test_gates_thresholds_and_regressions() -> None:
    assert parse_thresholds("faithfulness=0.9, citation_recall=0.8") == {
        "faithfulness": 0.9, "citation_recall": 0.8}
    with pytest.raises(EvalError, match="metric=value"):
        parse_thresholds("faithfulness")
    good = make_run([0.9, 1.0, 0.95, 0.9, 1.0, 0.95])
    worse = make_run([0.5, 0.6, 0.55, 0.5, 0.6, 0.55])
    assert check_gates(good, {"faithfulness": 0.9}).passed
    failed = check_gates(worse, {"faithfulness": 0.9}, baseline=good)
    assert [line.split(":")[0] for line in failed.failures] == ["faithfulness"] * 2
    assert "regressed from 0.950 to 0.550" in failed.failures[1]
    assert check_gates(worse, baseline=good, tolerance=0.5).passed
    assert check_gates(good, baseline=worse).passed
