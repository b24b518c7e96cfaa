"""`ragline ingest` of a folder holding every kind of bad file beside good ones.

Links that loop or lead nowhere, a named pipe, a link to /dev/zero, a file over
``ingest.max_file_mb``, a corrupt PDF, non-UTF-8 text and an empty file are each
skipped with their reason; the good files are indexed; the run ends (exit 0).
The subprocess timeout only keeps a hang from blocking the suite.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from tests.rag.test_loaders import make_pdf

pytestmark = pytest.mark.e2e

HANG = 300  # seconds; a run that takes this long is stuck on a file

GOOD = {
    "notes.txt": "Otters hold hands while they sleep.",
    "guide.md": "# Kelp\n\nKelp forests shelter otters from storms.",
    "page.html": "<html><body><p>Sea urchins eat kelp.</p></body></html>",
}
LINK_REASONS = {
    "loop-a.txt": "symbolic link loop: following its links leads back to itself, never to a file",
    "loop-b.txt": "symbolic link loop: following its links leads back to itself, never to a file",
    "broken.txt": "broken symbolic link: its target does not exist",
    "pipe.txt": "not a regular file: it is a named pipe (FIFO); "
                "only regular files (or links to them) are read",
    "zero.txt": "not a regular file: it is a character device; "
                "only regular files (or links to them) are read",
    "big.txt": "file is 0.1 MB, over ingest.max_file_mb (0.05 MB); "
               "raise ingest.max_file_mb in a --config file to index it",
    "latin.txt": "not valid UTF-8 text (byte 0xe9 at offset 3); convert it to UTF-8",
    "empty.txt": "holds no text",
}


def hostile_folder(folder: Path) -> None:
    folder.mkdir()
    for name, text in GOOD.items():
        (folder / name).write_text(text)
    (folder / "report.pdf").write_bytes(make_pdf([["Sea otters use rocks as tools."]]))
    (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
    (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
    (folder / "broken.txt").symlink_to(folder / "missing.txt")
    os.mkfifo(folder / "pipe.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    (folder / "big.txt").write_text("otter " * 20_000)  # 120,000 bytes, over 0.05 MB
    (folder / "latin.txt").write_bytes("caf\u00e9".encode("latin-1"))
    (folder / "empty.txt").write_text("")
    (folder / "corrupt.pdf").write_bytes(b"this is not a pdf at all")


def test_a_hostile_folder_is_ingested_with_every_bad_file_reported(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    folder = tmp_path / "hostile"
    hostile_folder(folder)
    config = tmp_path / "small-files.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\ningest: {{max_file_mb: 0.05}}\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ragline", "ingest", "hostile", "--config", str(config)],
            cwd=tmp_path, capture_output=True, text=True, timeout=HANG,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"})
    finally:
        # unblock a reader stuck opening the pipe (the code before the fix was)
        with contextlib.suppress(OSError):
            os.close(os.open(folder / "pipe.txt", os.O_WRONLY | os.O_NONBLOCK))
    assert done.returncode == 0, done.stderr
    skipped = {line.split(": ", 1)[0].removeprefix("skipped hostile/"): line.split(": ", 1)[1]
               for line in done.stderr.splitlines() if line.startswith("skipped ")}
    assert skipped.pop("corrupt.pdf").startswith("not a readable PDF: ")
    assert skipped == LINK_REASONS
    for noise in ("invalid pdf header", "EOF marker not found", "Traceback"):
        assert noise not in done.stderr

    settings = load_settings(config)
    with QdrantIndex.from_settings(settings, embedder=embedder) as index:
        assert index.doc_ids() == {str((folder / name).resolve())
                                   for name in [*GOOD, "report.pdf"]}
        hit = index.search("what do otters use as tools", k=1)[0]
        assert hit.chunk.doc_id == str((folder / "report.pdf").resolve())
