"""Partly written documents are hidden from search, on both transports, until a run finishes them.

Ctrl-C is simulated by an embedder that raises KeyboardInterrupt on one call,
which is where a real Ctrl-C lands during ingest (the embedding model runs in
the main thread); tests/e2e/test_ingest_interrupt.py sends a real SIGINT.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.edge import edge_filter
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import IngestInterrupted, ingest_paths
from ragline.rag.loaders import load_document
from ragline.rag.pending import pending_ids, split_filters
from tests.rag.embedders import FailingEmbedder

CHUNKER = RecursiveChunker(size_tokens=12, overlap_tokens=0)


def write_folder(root: Path) -> Path:
    """Two one-chunk notes (short chunks: embedded first) and one long ledger of many chunks."""
    root.mkdir()
    (root / "cats.txt").write_text("Cats nap often.")
    (root / "dogs.txt").write_text("Dogs bark loud.")
    (root / "ledger.txt").write_text(" ".join(
        f"Ledger line {i} records that crate{i} shipped to harbour {i % 5} on schedule."
        for i in range(30)))
    return root


def doc_ids_found(index: QdrantIndex, query: str) -> set[str]:
    """Documents with a chunk among the 50 best hits of every search mode."""
    return {hit.chunk.doc_id for mode in ("dense", "bm25", "hybrid")
            for hit in index.search(query, k=50, mode=mode)}


def test_an_interrupted_document_is_not_searchable_until_the_next_run_finishes_it(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder,
        tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "notes")
    ledger = str((folder / "ledger.txt").resolve())
    cats = str((folder / "cats.txt").resolve())
    stopping = FailingEmbedder(embedder, fail_on=3, error=KeyboardInterrupt())
    index = QdrantIndex.from_settings(transport_settings, collection="notes", embedder=stopping)
    with pytest.raises(IngestInterrupted) as caught:
        ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4)
    report = caught.value.report
    planned = len(CHUNKER.split(load_document(folder / "ledger.txt"))) + 2
    # Two batches were embedded before Ctrl-C: both notes and 6 ledger chunks are stored.
    assert (report.interrupted, report.chunks_added, report.chunks_planned) == (True, 8, planned)
    assert (report.files, report.complete_documents, report.partial) == (3, 2, [ledger])
    assert index.count() == 8
    assert pending_ids(index) == {ledger}
    assert ledger not in doc_ids_found(index, "which harbour did crate3 ship to")
    assert cats in doc_ids_found(index, "cats nap")

    stopping.fail_on = 0  # works from now on
    resumed = ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4)
    assert resumed.chunks_added == planned - 8 and not resumed.interrupted
    assert pending_ids(index) == set()
    assert index.metadata()["pending"] == []
    hit = index.search("which harbour did crate3 ship to", k=1)[0]
    assert hit.chunk.doc_id == ledger and "crate3 " in hit.chunk.text
    assert index.chunk_ids(ledger) == {c.id for c in CHUNKER.split(load_document(
        folder / "ledger.txt"))}


def test_a_changed_document_is_hidden_whole_while_partly_rewritten(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder,
        tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "notes")
    ledger = str((folder / "ledger.txt").resolve())
    stopping = FailingEmbedder(embedder, fail_on=0, error=KeyboardInterrupt())
    index = QdrantIndex.from_settings(transport_settings, collection="notes", embedder=stopping)
    ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4)
    assert ledger in doc_ids_found(index, "crate7 harbour")
    (folder / "ledger.txt").write_text(" ".join(
        f"Ledger line {i} records that parcel{i} flew to airport {i % 3} late." for i in range(30)))
    stopping.calls, stopping.fail_on = 0, 2
    with pytest.raises(IngestInterrupted) as caught:
        ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4)
    assert caught.value.report.partial == [ledger]
    # Old chunks and some new ones are stored; none of them is found.
    assert ledger not in doc_ids_found(index, "crate7 harbour") | doc_ids_found(
        index, "parcel7 airport")

    stopping.fail_on = 0
    ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4)
    assert ledger in doc_ids_found(index, "parcel7 airport")
    assert all("crate" not in hit.chunk.text
               for hit in index.search("crate7 harbour", k=50, filters={"doc_id": ledger}))
    assert pending_ids(index) == set()


def test_a_killed_run_leaves_its_documents_hidden_and_the_next_run_clears_them(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder,
        tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "notes")
    ledger = str((folder / "ledger.txt").resolve())
    chunks = CHUNKER.split(load_document(folder / "ledger.txt"))
    index = QdrantIndex.from_settings(transport_settings, collection="notes", embedder=embedder)
    # What a run killed outright (no chance to clean up) leaves behind: half written, marked.
    index.upsert(chunks[:5], pending={ledger})
    assert index.search("crate3 harbour", k=5) == []
    report = ingest_paths([folder], index=index, chunker=CHUNKER)
    assert report.chunks_added == len(chunks) - 5 + 2
    assert pending_ids(index) == set()
    assert index.search("crate3 harbour", k=1)[0].chunk.doc_id == ledger


def test_large_documents_report_their_own_progress(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder,
        tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "notes")
    ledger = str((folder / "ledger.txt").resolve())
    planned = len(CHUNKER.split(load_document(folder / "ledger.txt")))
    index = QdrantIndex.from_settings(transport_settings, collection="notes", embedder=embedder)
    calls: list[tuple[str, int, int]] = []
    ingest_paths([folder], index=index, chunker=CHUNKER, batch_size=4,
                 large_document_chunks=10, on_document=lambda *call: calls.append(call))
    assert {doc for doc, _, _ in calls} == {ledger}  # the one-chunk notes are not large
    written = [done for _, done, _ in calls]
    assert written[0] == 0 and written[-1] == planned and written == sorted(set(written))
    assert all(total == planned for _, _, total in calls)
    assert 3 <= len(calls) <= 11  # at most one call per tenth, plus the start


def test_must_not_filters_translate_for_edge() -> None:
    assert split_filters({"doc_id": "a", "!doc_id": ["b", "c"]}) == (
        {"doc_id": "a"}, {"doc_id": ["b", "c"]})
    translated = edge_filter({"!doc_id": ["b"]})
    assert translated is not None and translated.must is None
    assert translated.must_not is not None and len(translated.must_not) == 1
