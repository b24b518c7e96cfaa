"""``ragline eval run`` and ``ragline eval compare`` in subprocesses, on a 2-file corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.cli import app

pytestmark = pytest.mark.e2e

MOUNTED = any(group.name == "eval" for group in app.registered_groups)
EVAL = [sys.executable, "-m", *(["ragline", "eval"] if MOUNTED else ["ragline.cli_eval"])]
SUITE = """name: tiny
config: fast.yaml
doc_root: corpus
cases:
  - id: move
    question: How do I move the index somewhere else?
    reference_answer: Set RAGLINE_HOME to move the index somewhere else.
    relevant_doc_ids: [guide.md]
  - id: cats
    question: How long do cats sleep?
    reference_answer: Cats sleep for most of the day.
    relevant_doc_ids: [pets.txt]
"""


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "160",
           "RAGLINE_HOME": str(cwd / "home")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_eval_run_gates_and_compare(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "guide.md").write_text(
        "# Storage\n\nragline keeps its index in a Qdrant Edge shard.\n\n## Moving it\n\n"
        "Set RAGLINE_HOME to move the index somewhere else.\n")
    (tmp_path / "corpus" / "pets.txt").write_text("Cats sleep for most of the day.")
    (tmp_path / "fast.yaml").write_text(
        "generation:\n  provider: extractive\nrerank:\n  model: null\n")
    (tmp_path / "suite.yaml").write_text(SUITE)
    ingest = run([sys.executable, "-m", "ragline", "ingest", "corpus", "--config", "fast.yaml"],
                 tmp_path)
    assert ingest.returncode == 0, ingest.stderr

    passed = run([*EVAL, "run", "suite.yaml", "--out", "runs/a.json", "--html", "report.html",
                  "--fail-under", "faithfulness=0.9,citation_recall=0.8,hit_rate@k=1.0"], tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    result = json.loads((tmp_path / "runs" / "a.json").read_text())
    assert (result["suite"], result["judge"]) == ("tiny", "offline")
    assert [row["id"] for row in result["cases"]] == ["move", "cats"]
    assert result["means"]["hit_rate@k"] == 1.0
    assert "RAGLINE_HOME" in result["cases"][0]["answer"]
    assert "<h1>Eval: tiny</h1>" in (tmp_path / "report.html").read_text()

    failed = run([*EVAL, "run", "suite.yaml", "--out", "runs/a.json",
                  "--fail-under", "exact_match=1.0", "--baseline", "runs/a.json"], tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "gate failed" in failed.stderr and "exact_match" in failed.stderr

    bad = run([*EVAL, "run", "suite.yaml", "--fail-under", "exact_match"], tmp_path)
    assert bad.returncode == 2 and "metric=value" in bad.stderr

    compared = run([*EVAL, "compare", "runs/a.json", "runs/a.json"], tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "hit_rate@k" in compared.stdout and "+0.000" in compared.stdout
