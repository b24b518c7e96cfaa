"""Output people read: ``ragline costs`` at 80 and 40 columns, piped; CSV; the cost plot;
the missing cross-encoder said once a day, and as a fact in ``ragline demo``.

Every command runs in a subprocess (stdout is a pipe, not a terminal) over a real
SQLite ledger in a temporary ragline home.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from ragline.cost.ledger import CallRecord, Ledger
from tests.e2e.harness import run_ragline

pytestmark = pytest.mark.e2e

MISSING = "nobody/no-such-cross-encoder"
FIGURES = ("43,200,000", "6,900,000", "27,300,000", "14,400,000", "1,000,000",
           "$3,703.703673", "$1,234,567.891", "$37.037034", "unknown")


def run(args: list[str], cwd: Path, columns: int = 120,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_ragline(args, cwd, check=check, columns=columns)


def record(home: Path, calls: list[CallRecord]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with Ledger(f"sqlite:///{home / 'ledger.sqlite'}") as ledger:
        ledger.record_many(calls)


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A ledger with eight-digit token counts, four-digit dollars and an unpriced model."""
    record(tmp_path / "home", [
        *(CallRecord(stage="generate", provider="openai", model="gpt-4o-mini-2024-07-18",
                     cost_usd=Decimal("1234.567891"), savings_usd=Decimal("12.345678"),
                     input_tokens=14_400_000, output_tokens=2_300_000,
                     cache_read_tokens=9_100_000, query_id=f"q{n}",
                     route_reason="routed:cheap") for n in range(3)),
        CallRecord(stage="generate", provider="custom", model="my-unpriced-model",
                   cost_usd=None, input_tokens=14_400_000, output_tokens=1_000_000,
                   query_id="q9"),
    ])
    return tmp_path


@pytest.mark.parametrize("columns", [80, 40])
@pytest.mark.parametrize("by", ["model", "route"])
def test_costs_never_cut_a_figure_nor_drop_a_column(big: Path, columns: int, by: str) -> None:
    shown = run(["costs", "--by", by], big, columns=columns).stdout
    assert "…" not in shown and "..." not in shown
    lines = shown.splitlines()
    assert all(len(line) <= columns for line in lines)
    for figure in FIGURES:  # each figure whole, on one line
        assert any(figure in line for line in lines), (figure, shown)
    for label in ("calls", "queries", "input tokens", "output tokens", "cached tokens",
                  "cost", "cost per 1k queries", "saved by caching", "unpriced calls"):
        assert any(line.startswith(label) for line in lines), (label, shown)
    assert "gpt-4o-mini-2024-07-18" in shown.replace("\n", "")
    assert "left out of cost (not free)" in " ".join(shown.split())


def test_costs_keep_the_table_where_it_fits_and_sign_money_first(big: Path) -> None:
    shown = run(["costs"], big, columns=200).stdout
    header = next(line for line in shown.splitlines() if "per 1k q" in line)
    assert header.split() == ["model", "calls", "queries", "in", "out", "cached", "cost",
                              "per", "1k", "q", "saved", "unpriced"]
    assert all(figure in shown for figure in FIGURES)
    # the default strongest tier is a $0 local model: routing "saved" a negative amount
    assert "saved -$3,703.703673" in shown and "$-" not in shown


def test_costs_csv_has_a_header_and_the_json_figures(big: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run(["costs", "--csv"], big, columns=40).stdout)))
    objects = json.loads(run(["costs", "--json"], big).stdout)
    assert [row["key"] for row in rows] == ["gpt-4o-mini-2024-07-18", "my-unpriced-model"]
    assert rows == [{key: "" if value is None else str(value) for key, value in item.items()}
                    for item in objects]
    priced, unpriced = rows
    assert (priced["input_tokens"], priced["unpriced_calls"]) == ("43200000", "0")
    assert Decimal(priced["cost_usd"]) == Decimal("3703.703673")
    assert "E" not in priced["cost_per_1k_queries"]
    assert unpriced["unpriced_calls"] == "1"

    both = run(["costs", "--csv", "--json"], big, check=False)
    assert both.returncode == 2 and "give --json or --csv, not both" in both.stderr


def test_costs_plot_of_free_calls_draws_tokens_into_a_new_folder(tmp_path: Path) -> None:
    record(tmp_path / "home", [
        CallRecord(stage="embed", provider="local", model="all-MiniLM-L6-v2", cost_usd=0,
                   input_tokens=1_200, query_id="q1"),
        CallRecord(stage="generate", provider="local", model="SmolLM2-135M-Instruct",
                   cost_usd=0, input_tokens=900, output_tokens=80, query_id="q1")])
    done = run(["costs", "--plot", "charts/2026/costs.png"], tmp_path)
    assert (tmp_path / "charts" / "2026" / "costs.png").read_bytes()[:4] == b"\x89PNG"
    assert "all calls were free: tokens per day drawn in charts/2026/costs.png" in done.stderr

    (tmp_path / "taken").write_text("a file, not a folder")
    bad = run(["costs", "--plot", "taken/costs.png"], tmp_path, check=False)
    assert bad.returncode == 2, bad.stderr
    assert "cannot write the cost plot to taken/costs.png" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "guide.md").write_text(
        "# Storage\n\nragline keeps its index in a Qdrant Edge shard.\n\n## Moving it\n\n"
        "Set RAGLINE_HOME to move the index somewhere else.\n")
    (tmp_path / "missing.yaml").write_text(
        f"generation:\n  provider: extractive\nrerank:\n  model: {MISSING}\n")
    return tmp_path


def test_a_missing_cross_encoder_is_said_once_a_day(corpus: Path) -> None:
    run(["ingest", "corpus", "--config", "missing.yaml"], corpus)
    question = ["ask", "How do I move the index?", "--config", "missing.yaml"]
    first, second = run(question, corpus), run(question, corpus)
    assert f"reranker {MISSING} is not available offline" in first.stderr
    assert "not available offline" not in second.stderr, second.stderr
    assert "RAGLINE_HOME" in second.stdout
    notices = json.loads((corpus / "home" / "notices.json").read_text())
    assert list(notices) == [f"reranker-offline/default/{MISSING}"]


def test_the_demo_states_reranking_is_off_as_a_fact(corpus: Path) -> None:
    done = run(["demo", "--docs", "corpus", "--config", "missing.yaml"], corpus)
    assert (f"reranking: off (cross-encoder {MISSING} is not installed offline; see "
            "docs/retrieval.md, Reranking)") in " ".join(done.stdout.split())
    assert "not available offline" not in done.stderr
    assert done.stdout.count("route: ") == 4  # three answers and the question it declines
