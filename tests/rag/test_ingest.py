"""Ingestion: what is pruned, what is kept, how an interrupted run recovers, worker processes."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from ragline.config import Settings
from ragline.errors import InvalidInput
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import ingest_paths
from ragline.rag.loaders import load_document
from tests.rag.embedders import FailingEmbedder


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


def many_chunks(folder: Path) -> RecursiveChunker:
    """Three files of short sentences and a chunker that makes about a dozen chunks of each."""
    for name in ("x", "y", "z"):
        (folder / f"{name}.txt").write_text(" ".join(
            f"Note {i} of {name} says {name}{i} is filed under shelf {i % 7}." for i in range(12)))
    return RecursiveChunker(size_tokens=16, overlap_tokens=0)


def stats(index: QdrantIndex) -> tuple[int, int, float | None, bool]:
    meta = index.metadata()
    return meta["points"], meta["total_len"], meta["avg_len"], meta["dirty"]


# Failing early leaves a mean BM25 length far from the final one; failing late leaves one
# within avg_len_tolerance of it, which the repair keeps so that the rerun ends on it.
@pytest.mark.parametrize("fail_on", [3, 9], ids=["early", "late"])
def test_an_embedder_error_mid_way_propagates_and_a_rerun_finishes_the_job(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder,
        folder: Path, fail_on: int) -> None:
    chunker = many_chunks(folder)
    settings = make_settings()
    flaky = FailingEmbedder(embedder, fail_on=fail_on, error=RuntimeError("the embedder crashed"))
    index = QdrantIndex.from_settings(settings, collection="flaky", embedder=flaky)
    written: list[int] = []
    with pytest.raises(RuntimeError, match="the embedder crashed"):
        ingest_paths([folder], index=index, chunker=chunker, batch_size=4,
                     on_progress=lambda done, total: written.append(done))
    # The batches embedded before the error were written; the metadata says so once
    # repaired, which the same index object does on its next use.
    stored = 4 * (fail_on - 1)
    assert written[-1] == stored
    assert index.count() == stored
    points, _, _, dirty = stats(index)
    assert (points, dirty) == (stored, False)

    flaky.fail_on = 0  # works from now on
    report = ingest_paths([folder], index=index, chunker=chunker, batch_size=4)
    clean = QdrantIndex.from_settings(settings, collection="clean", embedder=embedder)
    reference = ingest_paths([folder], index=clean, chunker=chunker)
    assert report.chunks_added == reference.chunks_added - stored
    assert index.doc_ids() == clean.doc_ids()
    for doc_id in clean.doc_ids():
        assert index.chunk_ids(doc_id) == clean.chunk_ids(doc_id)
    assert stats(index) == stats(clean)
    hit = index.search("which shelf is y11 filed under", k=1)[0]
    assert hit.chunk.id == clean.search("which shelf is y11 filed under", k=1)[0].chunk.id
    assert "y11" in hit.chunk.text


def test_progress_counts_every_written_chunk_once(index: QdrantIndex, folder: Path) -> None:
    chunker = many_chunks(folder)
    seen: list[tuple[int, int]] = []
    report = ingest_paths([folder], index=index, chunker=chunker, batch_size=5, queue_depth=1,
                          on_progress=lambda done, total: seen.append((done, total)))
    total = report.chunks_added
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    steps = [b[0] - a[0] for a, b in pairwise(seen)]
    assert len(steps) == -(-total // 5) and all(0 < step <= 5 for step in steps)
    assert {t for _, t in seen} == {total}


def test_worker_processes_load_the_same_chunks(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder,
        folder: Path) -> None:
    chunker = many_chunks(folder)
    (folder / "broken.txt").write_bytes(b"\x00\x01binary")
    settings = make_settings()
    one = QdrantIndex.from_settings(settings, collection="one", embedder=embedder)
    two = QdrantIndex.from_settings(settings, collection="two", embedder=embedder)
    serial = ingest_paths([folder], index=one, chunker=chunker)
    parallel = ingest_paths([folder], index=two, chunker=chunker, workers=2)
    assert (parallel.files, parallel.new_documents, parallel.chunks_added, parallel.skipped) == (
        serial.files, serial.new_documents, serial.chunks_added, serial.skipped)
    assert [reason for _, reason in parallel.skipped] == [
        "binary data (contains NUL bytes), not UTF-8 text; save it as UTF-8"]
    for doc_id in one.doc_ids():
        assert two.chunk_ids(doc_id) == one.chunk_ids(doc_id)


def test_workers_must_be_positive(index: QdrantIndex, folder: Path) -> None:
    with pytest.raises(InvalidInput, match="workers"):
        ingest_paths([folder], index=index, chunker=RecursiveChunker(), workers=0)
