"""Ingestion: what is pruned, what is kept, and how an interrupted run recovers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import ingest_paths
from ragline.rag.loaders import load_document


@pytest.fixture
def index(make_settings: Callable[..., Settings],
          embedder: SentenceTransformerEmbedder) -> QdrantIndex:
    return QdrantIndex.from_settings(make_settings(), collection="ingest", embedder=embedder)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\nAlpha notes about apples.")
    (root / "sub" / "b.txt").write_text("Beta notes about bananas.")
    return root


def test_progress_reports_every_chunk(index: QdrantIndex, folder: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = ingest_paths([folder], index=index, chunker=RecursiveChunker(),
                          on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, report.chunks_added)
    assert seen[-1] == (report.chunks_added, report.chunks_added)


def test_prune_only_touches_documents_under_the_ingested_folder(
        index: QdrantIndex, folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other.txt"
    elsewhere.write_text("Cherry notes about cherries.")
    chunker = RecursiveChunker()
    ingest_paths([folder, elsewhere], index=index, chunker=chunker)
    elsewhere.unlink()
    (folder / "sub" / "b.txt").unlink()
    kept = ingest_paths([folder], index=index, chunker=chunker, prune=False)
    assert kept.removed_documents == 0
    assert len(index.doc_ids()) == 3
    pruned = ingest_paths([folder], index=index, chunker=chunker)
    assert pruned.removed_documents == 1
    # other.txt was not under the folder: a later folder ingest leaves it alone.
    assert index.doc_ids() == {str((folder / "a.md").resolve()), str(elsewhere.resolve())}


def test_a_run_interrupted_after_some_writes_is_finished_by_the_next(
        index: QdrantIndex, folder: Path) -> None:
    chunker = RecursiveChunker(size_tokens=12, overlap_tokens=0)
    long_text = " ".join(f"Sentence {i} talks about topic {i}." for i in range(40))
    (folder / "long.txt").write_text(long_text)
    chunks = chunker.split(load_document(folder / "long.txt"))
    index.upsert(chunks[: len(chunks) // 2])  # what a killed run left behind
    report = ingest_paths([folder], index=index, chunker=chunker)
    assert report.chunks_added == 2 + len(chunks) - len(chunks) // 2
    assert index.chunk_ids(str((folder / "long.txt").resolve())) == {c.id for c in chunks}
    assert ingest_paths([folder], index=index, chunker=chunker).chunks_added == 0
