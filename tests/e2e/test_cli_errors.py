"""Inputs that used to be silently misread, or crash with a traceback, give one clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import run_ragline

pytestmark = pytest.mark.e2e


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_ragline(args, cwd, columns=200, **env)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    (root / "corpus").mkdir()
    (root / "corpus" / "pets.txt").write_text("Cats sleep for most of the day.")
    (root / "fast.yaml").write_text("generation:\n  provider: extractive\n  verify: none\n"
                                    "rerank:\n  model: null\n")
    done = run(["ingest", "corpus"], root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("args, message", [
    (["search", "cats", "--k", "0"], "k must be at least 1, but got 0"),
    (["ask", "cats", "--k", "0", "--config", "fast.yaml"], "k must be at least 1, but got 0"),
    (["ask", "why" * 16_666 + "??", "--config", "fast.yaml"],
     "the question is 50,000 characters long; the limit is 4,000 "
     "(generation.max_question_chars)"),
    (["delete", "corpus/never-ingested.txt"],
     "not in collection 'default': corpus/never-ingested.txt; nothing was removed"),
    (["delete", "corpus/pets.txt", "--collection", "nope"], "collection 'nope' does not exist"),
    (["search", "cats", "--queries", "missing.txt"], "does not exist"),
    (["ask", "cats", "--config", "corpus"], "config file corpus cannot be read: Is a directory"),
    (["eval", "run", "corpus"], "suite file corpus is a folder"),
])
def test_bad_input_exits_2_with_one_clear_line(workdir: Path, args: list[str],
                                                message: str) -> None:
    done = run(args, workdir)
    assert done.returncode == 2, done.stderr
    assert message in one_line(done.stderr)
    assert "Traceback" not in done.stderr


def test_a_failed_delete_removes_nothing(workdir: Path) -> None:
    done = run(["delete", "corpus/pets.txt", "never-ingested"], workdir)
    assert done.returncode == 2
    assert "never-ingested" in one_line(done.stderr)
    found = run(["search", "cats", "--json"], workdir)
    assert "Cats sleep" in found.stdout  # pets.txt is still there


def test_a_mistyped_variable_is_named_with_the_closest_setting(workdir: Path) -> None:
    done = run(["search", "cats", "--json"], workdir, RAGLINE_RETRIEVAL_K="3")
    assert done.returncode == 0, done.stderr
    assert ("RAGLINE_RETRIEVAL_K matches no setting and is ignored; did you mean "
            "RAGLINE_RETRIEVAL__K?") in one_line(done.stderr)


def test_a_bad_variable_value_names_the_variable(workdir: Path) -> None:
    done = run(["search", "cats"], workdir, RAGLINE_RETRIEVAL__K="abc")
    assert done.returncode == 2
    assert "retrieval.k (RAGLINE_RETRIEVAL__K): Input should be a valid integer" in one_line(
        done.stderr)
    done = run(["search", "cats"], workdir, RAGLINE_ROUTING__TIERS="not json")
    assert done.returncode == 2
    assert "RAGLINE_ROUTING__TIERS" in one_line(done.stderr)
    assert "Traceback" not in done.stderr


def test_an_uncreatable_home_is_one_line_and_debug_shows_the_traceback(workdir: Path) -> None:
    done = run(["ingest", "corpus"], workdir, RAGLINE_HOME="/proc/nope")
    assert done.returncode == 2
    assert "/proc/nope" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # one message, wrapped at most
    debug = run(["--debug", "ingest", "corpus"], workdir, RAGLINE_HOME="/proc/nope")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
