"""Ctrl-C (a real SIGINT) stops `ragline ingest` with a report; the same command resumes it.

The large file's own progress lines tell the test when some of it is written;
then SIGINT. The run must exit 130 saying what was completed, leave the partly
written file unsearchable, and a rerun must end on the index a clean run builds.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.rag.pending import pending_ids

pytestmark = pytest.mark.e2e

DEADLINE = 300.0  # seconds; only reached when something hangs
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
BIG_LINE = re.compile(r"^corpus/z-big\.txt: ([\d,]+) of ([\d,]+) chunks written$")


def write_corpus(folder: Path) -> None:
    """Three one-sentence notes and a 1,000-sentence file: one chunk per sentence.

    1,000 chunks make the file large enough for its own progress lines.

    Every sentence has the same BM25 length, so the mean is the same whatever
    part of the corpus is stored, and a resumed index can equal a clean one.
    """
    folder.mkdir()
    for n in range(3):
        (folder / f"a-note-{n}.txt").write_text(
            f"Crate {n:04d} in aisle {n % 9} holds gizmo{n:04d} and spare bolts for line {n % 7}.")
    (folder / "z-big.txt").write_text(" ".join(
        f"Crate {i:04d} in aisle {i % 9} holds widget{i:04d} and spare bolts for line {i % 7}."
        for i in range(1000)))


def ingest(config: Path, cwd: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ragline", "ingest", "corpus", "--config", str(config),
            *extra]


def interrupt_once_the_big_file_is_partly_written(
        config: Path, cwd: Path) -> tuple[int, str, str]:
    """Run the ingest, SIGINT it after the big file's first progress line past 0."""
    child = subprocess.Popen(ingest(config, cwd), cwd=cwd, env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while (line := lines.get(timeout=DEADLINE)) is not None:
            seen.append(line)
            match = BIG_LINE.match(line.strip())
            if match and int(match[1].replace(",", "")) > 0:
                child.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("ingest ended before it was interrupted:\n" + "".join(seen))
        child.wait(timeout=DEADLINE)  # stderr is the pump's: communicate() would race it
        while (line := lines.get(timeout=DEADLINE)) is not None:
            seen.append(line)
        assert child.stdout is not None
        stdout = child.stdout.read()
    finally:
        child.kill()
        child.wait(timeout=DEADLINE)
    return child.returncode, stdout, "".join(seen)


def test_ctrl_c_reports_progress_hides_the_partial_file_and_a_rerun_finishes(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    write_corpus(tmp_path / "corpus")
    config = tmp_path / "small-batches.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n"
                      "chunker: {size_tokens: 24, overlap_tokens: 0}\n"
                      "ingest: {batch_size: 32, queue_depth: 1}\n")
    rc, stdout, stderr = interrupt_once_the_big_file_is_partly_written(config, tmp_path)
    assert rc == 130, stderr
    found = re.search(r"interrupted: 3 of 4 documents complete, ([\d,]+) of 1,003 chunks "
                      r"written", stderr)
    assert found, stderr
    written = int(found[1].replace(",", ""))
    assert 3 < written < 1003
    assert "partly written, not searchable until finished: corpus/z-big.txt" in stderr
    assert "Run the same command again to resume" in stderr
    assert "Traceback" not in stderr and "ingest summary" not in stdout

    settings = load_settings(config)
    big = str((tmp_path / "corpus" / "z-big.txt").resolve())
    with QdrantIndex.from_settings(settings, embedder=embedder) as index:
        assert index.count() == written  # closed cleanly: every written batch is there
        assert pending_ids(index) == {big}
        assert all(hit.chunk.doc_id != big for hit in index.search("widget0002", k=20))
        assert index.search("gizmo0001", k=1)[0].chunk.text.startswith("Crate 0001")

    resumed = subprocess.run(ingest(config, tmp_path), cwd=tmp_path, env=ENV,
                             capture_output=True, text=True, timeout=DEADLINE)
    assert resumed.returncode == 0, resumed.stderr
    added = re.search(r"chunks added\D+(\d+)", resumed.stdout)
    assert added and int(added[1]) == 1003 - written

    clean = subprocess.run(ingest(config, tmp_path, "--collection", "clean"), cwd=tmp_path,
                           env=ENV, capture_output=True, text=True, timeout=DEADLINE)
    assert clean.returncode == 0, clean.stderr
    with QdrantIndex.from_settings(settings, embedder=embedder) as index, \
            QdrantIndex.from_settings(settings, collection="clean", embedder=embedder) as ref:
        assert index.count() == ref.count() == 1003
        assert index.doc_ids() == ref.doc_ids()
        for doc_id in ref.doc_ids():
            assert index.chunk_ids(doc_id) == ref.chunk_ids(doc_id)
        fields = ("points", "total_len", "avg_len", "dirty", "pending")
        got, expected = index.metadata(), ref.metadata()
        assert {f: got[f] for f in fields} == {f: expected[f] for f in fields}
        assert (got["dirty"], got["pending"]) == (False, [])
        hit = index.search("widget0002", k=1)[0]
        assert hit.chunk.doc_id == big and "widget0002" in hit.chunk.text
        assert hit.chunk.id == ref.search("widget0002", k=1)[0].chunk.id
