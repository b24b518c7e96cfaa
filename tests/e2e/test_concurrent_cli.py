"""One process ingests while others ask and search the same embedded index."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from tests.constants import RAGLINE

pytestmark = pytest.mark.e2e

TOPICS = ["harbour", "glacier", "orchard", "lighthouse", "volcano", "library", "market",
          "observatory", "vineyard", "canyon"]


def write_corpus(root: Path) -> None:
    """Forty files of distinct sentences: enough that ingest takes a while."""
    for number in range(40):
        topic = TOPICS[number % len(TOPICS)]
        folder = root / ("first" if number < 2 else "rest")
        folder.mkdir(parents=True, exist_ok=True)
        paragraphs = [f"Note {number}.{p}: the {topic} keeper wrote entry {p * 7 + number} about "
                      f"the {TOPICS[(number + p) % len(TOPICS)]} and its {p + 3} visitors."
                      for p in range(40)]
        (folder / f"{topic}-{number}.txt").write_text("\n\n".join(paragraphs))


def env_for(home: Path, lock_wait_s: float) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120", "RAGLINE_HOME": str(home),
            "RAGLINE_INDEX__LOCK_WAIT_S": str(lock_wait_s)}


def stored(home: Path) -> set[tuple[str, str]]:
    settings = load_settings(home=str(home))
    with QdrantIndex.from_settings(settings, embedder=SentenceTransformerEmbedder()) as index:
        return {(str(p["doc_id"]), str(p["chunk_id"]))
                for _, p in index.transport.scroll(None, ["doc_id", "chunk_id"])}


def test_readers_answer_or_get_index_busy_while_ingest_runs(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    (tmp_path / "fast.yaml").write_text(
        "generation:\n  provider: extractive\n  verify: none\nrerank:\n  model: null\n")
    home = tmp_path / "home"
    subprocess.run([*RAGLINE, "ingest", "corpus/first"], cwd=tmp_path, check=True,
                   env=env_for(home, 60), capture_output=True, timeout=300)

    ingest = subprocess.Popen([*RAGLINE, "ingest", "corpus"], cwd=tmp_path,
                              env=env_for(home, 120), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    calls: list[subprocess.CompletedProcess[str]] = []
    commands = [["search", "glacier keeper", "--json"],
                ["ask", "What did the harbour keeper write?", "--json", "--config", "fast.yaml"]]
    while ingest.poll() is None or len(calls) < 2:
        calls.append(subprocess.run([*RAGLINE, *commands[len(calls) % 2]], cwd=tmp_path,
                                    env=env_for(home, 1), capture_output=True, text=True,
                                    timeout=300))
    _, ingest_err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, ingest_err
    assert "Traceback" not in ingest_err

    busy = 0
    for call in calls:
        assert "Traceback" not in call.stderr, call.stderr
        if call.returncode == 0:
            json.loads(call.stdout)  # a whole answer or result list
        else:
            assert call.returncode == 2, call.stderr
            assert "is in use by `ragline ingest`" in call.stderr, call.stderr
            busy += 1
    print(f"{len(calls)} calls while ingesting, {busy} got IndexBusy")

    clean = tmp_path / "clean"
    subprocess.run([*RAGLINE, "ingest", "corpus"], cwd=tmp_path, check=True,
                   env=env_for(clean, 60), capture_output=True, timeout=300)
    assert stored(home) == stored(clean)
