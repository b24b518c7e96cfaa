"""A killed ingest is finished by the next run: same points, ids and BM25 stats as a clean run."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ragline.app.pipeline import RAGPipeline
from ragline.config import load_settings
from ragline.models.extractive import ExtractiveModel
from ragline.rag.index import QdrantIndex

pytestmark = pytest.mark.e2e

# What `ragline ingest` runs, plus one progress line per written batch for the test to poll.
INGEST = """
import sys
from pathlib import Path
from ragline.app.pipeline import RAGPipeline
from ragline.config import load_settings
from ragline.models.extractive import ExtractiveModel

settings = load_settings(Path(sys.argv[1]))
with RAGPipeline.from_settings(settings, generator=ExtractiveModel(), rerank=False) as pipeline:
    pipeline.ingest([Path(sys.argv[2])],
                    on_progress=lambda done, total: print(done, total, flush=True))
"""
DEADLINE = 300.0  # seconds; only reached when something hangs


def write_corpus(folder: Path) -> None:
    """24 files of 12 sentences of 4 lengths: one chunk per sentence, 288 chunks to embed."""
    folder.mkdir()
    for n in range(24):
        (folder / f"shelf-{n:02d}.txt").write_text(" ".join(
            f"Box {n}-{i} on shelf {n} holds item{n}x{i}"
            + "".join(f", gear{k}" for k in range(i % 4)) + "." for i in range(12)))


def progress_lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The child's stdout lines as they come; None once it is closed."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def kill_after_some_writes(config: Path, corpus: Path, log: Path) -> tuple[int, int]:
    """Start the ingest, SIGKILL it once two batches are written; return (written, total)."""
    with log.open("w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", INGEST, str(config), str(corpus)],
                                 stdout=subprocess.PIPE, stderr=stderr, text=True,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = progress_lines(child)
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                pytest.fail(f"ingest ended before it was killed:\n{log.read_text()}")
            done, total = (int(n) for n in line.split())
            assert done < total, "ingest finished before it was killed; use a bigger corpus"
            if done >= 64:
                child.send_signal(signal.SIGKILL)
                return done, total
    finally:
        child.kill()
        child.wait(timeout=DEADLINE)


def test_a_killed_ingest_resumes_to_the_state_of_a_clean_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    config = tmp_path / "small-batches.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n"
                      "chunker: {size_tokens: 24, overlap_tokens: 0}\n"
                      "ingest: {batch_size: 32, queue_depth: 1}\n")
    written, total = kill_after_some_writes(config, corpus, tmp_path / "killed.log")
    meta = json.loads((tmp_path / "home" / "collections" / "default" / "meta.json").read_text())
    assert meta["dirty"] is True  # the kill interrupted a write
    assert len(meta["pending"]) == 24  # and every document it was writing is hidden

    resumed = subprocess.run(
        [sys.executable, "-m", "ragline", "ingest", str(corpus), "--config", str(config),
         "--workers", "2"],
        capture_output=True, text=True, timeout=DEADLINE,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"})
    assert resumed.returncode == 0, resumed.stderr
    added = int(re.search(r"chunks added\D+(\d+)", resumed.stdout)[1])  # type: ignore[index]
    assert 0 < added <= total - written  # what was written before the kill is not redone

    settings = load_settings(config)
    with RAGPipeline.from_settings(settings, collection="clean", generator=ExtractiveModel(),
                                   rerank=False) as clean_run:
        assert clean_run.ingest([corpus]).chunks_added == total
        clean = clean_run.index
        with QdrantIndex.from_settings(settings, embedder=clean.embedder) as index:
            assert index.count() == clean.count() == total
            assert index.doc_ids() == clean.doc_ids()
            for doc_id in clean.doc_ids():
                assert index.chunk_ids(doc_id) == clean.chunk_ids(doc_id)
            fields = ("points", "total_len", "avg_len", "dirty", "pending")
            got, expected = index.metadata(), clean.metadata()
            assert {f: got[f] for f in fields} == {f: expected[f] for f in fields}
            assert (got["dirty"], got["pending"]) == (False, [])
            query = "which box holds item23x7"
            hit = index.search(query, k=1)[0]
            assert hit.chunk.id == clean.search(query, k=1)[0].chunk.id
            assert "item23x7" in hit.chunk.text
