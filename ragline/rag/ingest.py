"""Ingestion: files -> documents -> chunks -> embedded points, idempotent and resumable.

A document's chunk ids are hashes of (document id, position, text), so an
unchanged file yields the ids already stored and costs no embedding. A changed
file gets its new chunks written first and its stale chunks deleted after, so
an interrupted run never loses what was indexed and a rerun finishes the job.
Directories are synchronised: a document stored from under an ingested
directory whose file no longer exists is removed (``prune=False`` keeps it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ragline.rag.index import QdrantIndex
from ragline.rag.loaders import load_documents
from ragline.types import Chunk, Document

Progress = Callable[[int, int], None]


class Chunker(Protocol):
    """Splits a document into chunks (``RecursiveChunker``, ``SemanticChunker``)."""

    def split(self, document: Document) -> list[Chunk]:
        """The document's chunks, in order."""
        ...


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did; ``skipped`` lists (path, reason) for files not indexed."""

    files: int = 0
    new_documents: int = 0
    changed_documents: int = 0
    unchanged_documents: int = 0
    removed_documents: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _pruned(paths: Sequence[Path], index: QdrantIndex, loaded: set[str]) -> list[str]:
    roots = [str(p.resolve()) + "/" for p in paths if p.is_dir()]
    if not roots:
        return []
    return sorted(doc_id for doc_id in index.doc_ids()
                  if doc_id not in loaded and doc_id.startswith(tuple(roots))
                  and not Path(doc_id).exists())


def ingest_paths(paths: Sequence[Path], *, index: QdrantIndex, chunker: Chunker,
                 prune: bool = True, on_progress: Progress | None = None) -> IngestReport:
    """Load, chunk, embed and store every supported file under ``paths``.

    ``on_progress(done, total)`` is called as chunks are embedded and written.
    Unreadable, empty or corrupt files are reported in ``IngestReport.skipped``
    and never abort the run.
    """
    started = time.perf_counter()
    loaded = load_documents(paths)
    report = IngestReport(files=len(loaded.documents), skipped=list(loaded.skipped))
    known = index.exists()
    to_add: list[Chunk] = []
    stale: list[str] = []
    for document in loaded.documents:
        chunks = chunker.split(document)
        stored = index.chunk_ids(document.id) if known else set()
        fresh = {c.id for c in chunks}
        if stored == fresh:
            report.unchanged_documents += 1
            continue
        if stored:
            report.changed_documents += 1
        else:
            report.new_documents += 1
        to_add.extend(c for c in chunks if c.id not in stored)
        stale.extend(stored - fresh)

    total = len(to_add)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    if on_progress is not None:
        on_progress(0, total)
    report.chunks_added = index.upsert(to_add, on_progress=advance)
    report.chunks_removed = index.delete_chunks(stale)
    if prune and known:
        gone = _pruned(paths, index, {d.id for d in loaded.documents})
        report.removed_documents = len(gone)
        report.chunks_removed += index.delete(gone)
    if report.chunks_added:
        index.optimize()
    report.seconds = time.perf_counter() - started
    return report
