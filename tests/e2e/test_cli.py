"""The installed ``ragline`` command, driven in subprocesses on a temporary folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import run_ragline

pytestmark = pytest.mark.e2e

GUIDE = """# Storage

ragline keeps its index in a Qdrant Edge shard under the .ragline folder.

## Moving it

Set RAGLINE_HOME to move the index somewhere else.
"""


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_ragline(args, cwd, check=check)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "guide.md").write_text(GUIDE)
    (tmp_path / "corpus" / "pets.txt").write_text("Cats sleep for most of the day.")
    (tmp_path / "fast.yaml").write_text("generation:\n  provider: extractive\n")
    return tmp_path


def ask_json(cwd: Path, question: str) -> dict[str, object]:
    done = run(["ask", question, "--json", "--config", "fast.yaml"], cwd)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_ingest_ask_reingest_change_delete(workdir: Path) -> None:
    first = run(["ingest", "corpus"], workdir)
    assert "ingest summary" in first.stdout
    assert "chunks added" in first.stdout

    result = ask_json(workdir, "How do I move the index somewhere else?")
    assert set(result) == {"answer", "citations", "sources", "route", "query_id", "cost",
                           "support", "cache", "timings_ms"}
    assert "RAGLINE_HOME" in str(result["answer"])
    citations = result["citations"]
    assert isinstance(citations, list) and citations
    sources = result["sources"]
    assert isinstance(sources, list)
    cited = sources[citations[0]["marker"] - 1]
    assert cited["heading_path"] == ["Storage", "Moving it"]
    assert cited["source"].endswith("corpus/guide.md")
    cost = result["cost"]
    assert isinstance(cost, dict)
    assert cost["total_usd"] == 0.0
    # the extractive answer quotes its passages word for word: the check embeds nothing
    assert cost["by_stage"] == {"embed": 0.0, "generate": 0.0}
    support = result["support"]
    assert isinstance(support, dict) and support["judge"] == "offline"
    assert support["citation_recall"] == 1.0 and support["unsupported"] == []

    search = run(["search", "cats", "--json", "--k", "50"], workdir)
    before = json.loads(search.stdout)["results"]

    (workdir / "corpus" / "pets.txt").write_text("Parrots repeat words they hear.")
    run(["ingest", "corpus"], workdir)
    texts = [r["text"] for r in json.loads(
        run(["search", "parrots cats", "--json", "--k", "50"], workdir).stdout)["results"]]
    assert any("Parrots" in t for t in texts) and not any("Cats" in t for t in texts)
    assert len(texts) == len(before)

    run(["delete", "corpus/pets.txt"], workdir)
    texts = [r["text"] for r in json.loads(
        run(["search", "parrots", "--json", "--k", "50"], workdir).stdout)["results"]]
    assert texts and not any("Parrots" in t for t in texts)


def test_reingest_reports_nothing_to_do(workdir: Path) -> None:
    run(["ingest", "corpus"], workdir)
    done = run(["ingest", "corpus"], workdir)
    rows = {line.strip("│ ").split("│")[0].strip(): line.split("│")[-2].strip()
            for line in done.stdout.splitlines() if line.count("│") == 3}
    assert rows["unchanged documents"] == "2"
    assert rows["chunks added"] == "0"
    assert rows["chunks removed"] == "0"


def test_search_queries_file_writes_json_lines(workdir: Path) -> None:
    run(["ingest", "corpus"], workdir)
    (workdir / "queries.txt").write_text("where is the index\n\ncats\n")
    done = run(["search", "--queries", "queries.txt", "--k", "2", "--mode", "bm25"], workdir)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["where is the index", "cats"]
    for line in lines:
        assert 1 <= len(line["results"]) <= 2
        assert set(line["results"][0]) == {"chunk_id", "doc_id", "source", "score", "text"}
    assert "Cats" in lines[1]["results"][0]["text"]


def test_ingest_skips_bad_files_and_carries_on(workdir: Path) -> None:
    (workdir / "corpus" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (workdir / "corpus" / "empty.md").write_text("   \n")
    done = run(["ingest", "corpus"], workdir)
    assert "broken.pdf" in done.stderr and "empty.md" in done.stderr
    assert "skipped" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["ask", "", "--config", "fast.yaml"], "question is empty"),
    (["ask", "anything", "--collection", "nope", "--config", "fast.yaml"],
     "collection 'nope' does not exist"),
    (["search", "x", "--config", "bad.yaml"], "retrieval.k: Input should be greater than 0"),
    (["search", "x", "--config", "typo.yaml"], "retrieval.top_k: unknown key"),
    (["ingest", "missing-folder"], "does not exist"),
])
def test_user_errors_exit_2_with_a_message(workdir: Path, args: list[str],
                                           message: str) -> None:
    (workdir / "bad.yaml").write_text("retrieval:\n  k: 0\n")
    (workdir / "typo.yaml").write_text("retrieval:\n  top_k: 3\n")
    run(["ingest", "corpus"], workdir)
    done = run(args, workdir, check=False)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_answers_three_questions_with_sources_and_declines_a_fourth(
        tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    shutil.copytree(docs, tmp_path / "docs")
    done = run(["demo", "--docs", "docs"], tmp_path)
    routes = re.findall(r"^route: (.*)$", done.stdout, flags=re.MULTILINE)
    assert len(routes) == 4
    assert routes[-1] == "abstained (no passage mentions 'Lisbon')"
    assert "I don't have enough information in the indexed documents" in done.stdout
    assert routes.count("local:SmolLM2-135M-Instruct") >= 2  # copied answers stand
    assert done.stdout.count("of which generation") == 4
    assert "docs/retrieval.md" in done.stdout
    assert "[1]" in done.stdout


def test_index_export_to_an_unreachable_server_exits_2(workdir: Path) -> None:
    run(["ingest", "corpus", "--collection", "notes"], workdir)
    done = run(["index", "export", "notes", "--url", "http://127.0.0.1:9"], workdir, check=False)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "cannot use the Qdrant server at http://127.0.0.1:9" in message
    assert "Traceback" not in done.stderr


def test_costs_report_and_plot(workdir: Path) -> None:
    run(["ingest", "corpus"], workdir)
    ask_json(workdir, "How do I move the index somewhere else?")
    ask_json(workdir, "Where is the index kept?")

    by_stage = json.loads(run(["costs", "--by", "stage", "--json", "--since", "1d"],
                              workdir).stdout)
    stages = {row["key"]: row for row in by_stage}
    assert set(stages) == {"embed", "generate"}  # verbatim quotes: no judge embeddings
    assert stages["generate"]["calls"] == 2 and stages["generate"]["queries"] == 2
    assert stages["embed"]["queries"] == 2  # the two questions; the ingest run is no query
    assert stages["embed"]["calls"] == 3

    table = run(["costs", "--by", "day", "--plot", "costs.png"], workdir)
    assert "cost by day" in table.stdout and "per 1k q" in table.stdout
    assert (workdir / "costs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    future = run(["costs", "--since", "2999-01-01"], workdir)
    assert "no model calls recorded" in future.stdout
    bad = run(["costs", "--since", "last tuesday"], workdir, check=False)
    assert bad.returncode == 2 and "--since 'last tuesday'" in bad.stderr
