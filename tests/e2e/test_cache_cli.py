"""``ragline cache warm|lookup|stats|clear`` and ``ragline ask`` served from the cache, as a
user runs them (the extractive answerer: no language model to wait for)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.harness import run_ragline

CACHE_ON = {"RAGLINE_CACHE__MODE": "semantic", "RAGLINE_CACHE__SEMANTIC__THRESHOLD": "0.8",
            "RAGLINE_GENERATION__PROVIDER": "extractive", "RAGLINE_GENERATION__VERIFY": "none"}
QUESTION = "How does hybrid search work?"


def test_warm_then_ask_lookup_stats_and_clear(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "search.md").write_text("# Search\n\nHybrid search fuses BM25 and dense results "
                                    "inside Qdrant.\n")
    (docs / "cats.md").write_text("# Cats\n\nCats sleep for most of the day.\n")
    (tmp_path / "warm.txt").write_text(f"# questions to keep ready\n{QUESTION}\n"
                                       "Why do cats sleep so much?\n")
    (tmp_path / "probe.jsonl").write_text(
        json.dumps({"question": "How does the hybrid search work?"}) + "\n"
        + json.dumps({"question": "How does hybrid search not work?"}) + "\n")
    run_ragline(["ingest", str(docs)], tmp_path, check=True, **CACHE_ON)

    warmed = run_ragline(["cache", "warm", "warm.txt"], tmp_path, check=True, **CACHE_ON)
    assert "2 questions: 2 answered and cached, 0 already cached" in warmed.stdout

    asked = run_ragline(["ask", QUESTION, "--json"], tmp_path, check=True, **CACHE_ON)
    answer = json.loads(asked.stdout)
    assert answer["cache"] == "exact" and answer["cost"]["total_usd"] == 0
    assert answer["sources"] and answer["route"].endswith("(cache hit)")

    looked = run_ragline(["cache", "lookup", "--queries", "probe.jsonl", "--json"], tmp_path,
                         check=True, **CACHE_ON)
    paraphrase, negated = (json.loads(line) for line in looked.stdout.splitlines())
    assert paraphrase["hit"] == "semantic" and paraphrase["question"] == QUESTION
    assert paraphrase["similarity"] >= 0.8
    assert negated["hit"] is None and negated["question"] is None
    assert any(r["question"] == QUESTION and "negation" in r["reason"]
               for r in negated["rejected"])

    stats = json.loads(run_ragline(["cache", "stats", "--json"], tmp_path, check=True,
                                   **CACHE_ON).stdout)
    assert (stats["exact_entries"], stats["semantic_entries"]) == (2, 2)
    assert stats["ledger"]["exact_hits"] == 1 and stats["semantic_threshold"] == 0.8

    by_cache = run_ragline(["costs", "--by", "cache", "--csv"], tmp_path, check=True,
                           **CACHE_ON)
    assert any(line.startswith("exact,1,1,") for line in by_cache.stdout.splitlines())

    cleared = run_ragline(["cache", "clear"], tmp_path, check=True, **CACHE_ON)
    assert "removed 2 cached answers" in cleared.stdout
    again = json.loads(run_ragline(["ask", QUESTION, "--json"], tmp_path, check=True,
                                   **CACHE_ON).stdout)
    assert again["cache"] == "miss"


def test_cache_commands_say_when_the_cache_is_off(tmp_path: Path) -> None:
    done = run_ragline(["cache", "stats"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the answer cache is off (cache.mode: off)" in done.stderr
