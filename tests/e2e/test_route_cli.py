"""``ragline route``: train, calibrate and score through the installed command.

Needs the ``route`` sub-app mounted in :mod:`ragline.cli`. One small synthetic outcome
file (40 prompts: the weak model fails the hard half, the strong one answers all) and one
router trained on it serve the whole module.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import run_ragline

pytestmark = pytest.mark.e2e

WEAK, STRONG = "gpt-4o-mini", "gpt-4o"  # both in the shipped price catalogue
EASY = [f"What is {a} plus {a + 3}?" for a in range(1, 11)] + [
    f"Say good morning to {name}." for name in ("Ann", "Bob", "Cleo", "Dan", "Eve", "Fay",
                                                "Gus", "Hal", "Ivy", "Jo")]
HARD = [f"Prove that every compact {kind} manifold of dimension {n} admits a Morse function "
        f"whose critical points bound its Betti numbers." for kind in ("smooth", "Kähler")
        for n in range(3, 8)] + [
    f"Derive the asymptotic variance of the {stat} estimator under heteroskedastic errors "
    f"with {k} instruments." for stat in ("GMM", "two-stage least squares")
    for k in (2, 3, 4, 5, 6)]

NOISE = (6, 16)  # EASY[6], EASY[16] fail on the weak model; HARD[6], HARD[16] do not


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_ragline(["route", *args], cwd, check=check, columns=200)


def value(stdout: str, label: str) -> str:
    """The value of a row of a summary table."""
    for line in stdout.splitlines():
        if line.strip().startswith(label + "  "):
            return line.strip()[len(label):].strip()
    raise AssertionError(f"no {label!r} row in:\n{stdout}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder with outcomes.csv and router.joblib (knn), and the train command's output."""
    folder = tmp_path_factory.mktemp("route")
    with (folder / "outcomes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", WEAK, STRONG])
        # Mostly: the weak model answers the easy half, only the strong one the hard half.
        writer.writerows([prompt, str(n not in NOISE), "True"] for n, prompt in enumerate(EASY))
        writer.writerows([prompt, str(n in NOISE), "True"] for n, prompt in enumerate(HARD))
    (folder / "contaminated.jsonl").write_text(json.dumps({"eval_prompt": EASY[0]}) + "\n")
    done = run(["train", "outcomes.csv", "--weak", WEAK, "--strong", STRONG, "--router", "knn",
                "--exclude", "contaminated.jsonl"], folder)
    return folder, done.stdout


def test_train_reports_what_it_trained(trained: tuple[Path, str]) -> None:
    folder, stdout = trained
    assert (folder / "router.joblib").is_file()
    assert value(stdout, "kind") == "knn"
    assert value(stdout, "rows") == "39"  # one prompt excluded as contaminated
    assert value(stdout, "embedder") == "all-MiniLM-L6-v2"
    assert len(value(stdout, "data hash")) == 64
    assert float(value(stdout, "APGR (in-sample)")) > 0.6
    float(value(stdout, "threshold").split()[0])


def test_calibrate_then_score_round_trip(trained: tuple[Path, str]) -> None:
    folder, _ = trained
    done = run(["calibrate", "--router", "router.joblib", "--data", "outcomes.csv",
                "--exclude", "contaminated.jsonl", "--min-pgr", "0.9",
                "--out", "calibrated.joblib"], folder)
    assert float(value(done.stdout, "PGR")) >= 0.9
    assert 0.3 <= float(value(done.stdout, "strong fraction")) <= 0.7
    threshold = float(value(done.stdout, "threshold"))
    assert "in-sample" in done.stderr  # calibrated on data it was trained on

    lines = [{"prompt": EASY[3]}, {"turns": ["hello", HARD[2]]}, {},
             {"turns": [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": EASY[12]},
                        {"role": "assistant", "content": "Good morning!"}]},
             {"prompt": HARD[14]}]
    text = "\n".join(json.dumps(line) for line in lines)
    (folder / "prompts.jsonl").write_text(text.replace("{}", ""))  # a blank line is skipped
    scored = run(["score", "prompts.jsonl", "--router", "calibrated.joblib", "--json"], folder)
    rows = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 4, 5]
    assert [row["tier"] for row in rows] == ["weak", "strong", "weak", "strong"]
    assert [row["model"] for row in rows] == [WEAK, STRONG, WEAK, STRONG]
    for row in rows:
        assert set(row) == {"line", "strong_score", "tier", "model", "reason"}
        assert (row["strong_score"] >= threshold) == (row["tier"] == "strong")
        assert row["reason"].startswith("knn: strong_score")


def test_calibrate_to_a_strong_fraction_and_to_a_budget(trained: tuple[Path, str]) -> None:
    folder, _ = trained
    done = run(["calibrate", "--router", "router.joblib", "--data", "outcomes.csv",
                "--strong-fraction", "0.25", "--out", "quarter.joblib"], folder)
    assert abs(float(value(done.stdout, "strong fraction")) - 0.25) <= 0.05

    budget = run(["calibrate", "--router", "router.joblib", "--data", "outcomes.csv",
                  "--budget-usd", "0.0015", "--out", "budget.joblib"], folder)
    per_request = float(value(budget.stdout, "cost per request").lstrip("$"))
    assert 0 < per_request <= 0.0015
    all_weak, all_strong = (float(v.strip().lstrip("$"))
                            for v in value(budget.stdout, "all weak / all strong").split("/"))
    assert all_weak < per_request < all_strong

    priced = run(["calibrate", "--router", "router.joblib", "--data", "outcomes.csv",
                  "--budget-usd", "0.002", "--weak-price", "0.24", "--strong-price", "24.7",
                  "--out", "paper-prices.joblib"], folder)
    all_weak, all_strong = (float(v.strip().lstrip("$"))
                            for v in value(priced.stdout, "all weak / all strong").split("/"))
    assert all_strong / all_weak == pytest.approx(24.7 / 0.24)
    assert 0.0 < float(value(priced.stdout, "strong fraction")) < 0.5


@pytest.mark.parametrize("args, message", [
    (["calibrate", "--router", "router.joblib", "--data", "outcomes.csv",
      "--strong-fraction", "0.3", "--min-pgr", "0.8"],
     "give exactly one of --strong-fraction, --min-pgr and --budget-usd"),
    (["score", "bad.jsonl", "--router", "router.joblib", "--json"],
     "bad.jsonl:2: not JSON"),
    (["score", "turns.jsonl", "--router", "router.joblib", "--json"],
     "turns.jsonl:1: turn 2 is neither a string nor a {role, content} message"),
    (["score", "good.jsonl", "--router", "router.joblib", "--config", "other-embedder.yaml"],
     "the router was trained on embeddings of 'all-MiniLM-L6-v2', not 'other/embedder'"),
    (["score", "good.jsonl", "--router", "missing.joblib"], "missing.joblib: no such router"),
])
def test_user_errors_exit_2_with_a_message(trained: tuple[Path, str], args: list[str],
                                           message: str) -> None:
    folder, _ = trained
    (folder / "good.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    (folder / "bad.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n{prompt: oops}\n")
    (folder / "turns.jsonl").write_text(json.dumps({"turns": ["hi", 3]}) + "\n")
    (folder / "other-embedder.yaml").write_text("embedder:\n  model: other/embedder\n")
    done = run(args, folder, check=False)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
