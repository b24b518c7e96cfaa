"""Ingestion: files -> documents -> chunks -> embedded points, idempotent and resumable.

A document's chunk ids are hashes of (document id, position, text), so an
unchanged file yields the ids already stored and costs no embedding. A changed
file gets its new chunks written first and its stale chunks deleted after, so
an interrupted run never loses what was indexed and a rerun finishes the job:
chunks written before a crash or a kill are found by id and skipped, the rest
are embedded and written. Directories are synchronised: a document stored from
under an ingested directory whose file no longer exists is removed
(``prune=False`` keeps it).

Files are loaded and chunked first (in ``workers`` processes when more than
one), then embedded ``batch_size`` chunks at a time while earlier batches are
BM25-encoded and written (see :meth:`QdrantIndex.upsert`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

from ragline.errors import DocumentLoadError, InvalidInput
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.loaders import iter_files, load_document
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


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One file's outcome: its document and, when chunked where it was loaded, its chunks."""

    path: str
    document: Document | None = None
    chunks: list[Chunk] | None = None
    reason: str = ""


def _load_and_split(path: Path, chunker: Chunker | None) -> _Loaded:
    """Load one file and split it with ``chunker`` (None: the caller splits it)."""
    try:
        document = load_document(path)
    except DocumentLoadError as exc:  # returned, not raised: it must cross a process boundary
        return _Loaded(exc.path, reason=exc.reason)
    return _Loaded(str(path), document, chunker.split(document) if chunker is not None else None)


def _load_all(files: list[Path], chunker: Chunker, workers: int) -> list[_Loaded]:
    """Every file loaded (and chunked) in order, in ``workers`` processes when more than one.

    Only the recursive chunker travels to the workers: it is small and pure
    CPU. Other chunkers (the semantic one holds an embedding model) split the
    loaded documents in this process.
    """
    if workers <= 1 or len(files) <= 1:
        return [_load_and_split(f, chunker) for f in files]
    shipped = chunker if isinstance(chunker, RecursiveChunker) else None
    workers = min(workers, len(files))
    # spawn, not fork: this process may already run the embedding model's threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(partial(_load_and_split, chunker=shipped), files,
                             chunksize=max(1, len(files) // (4 * workers))))


def _pruned(paths: Sequence[Path], index: QdrantIndex, loaded: set[str]) -> list[str]:
    roots = [str(p.resolve()) + "/" for p in paths if p.is_dir()]
    if not roots:
        return []
    return sorted(doc_id for doc_id in index.doc_ids()
                  if doc_id not in loaded and doc_id.startswith(tuple(roots))
                  and not Path(doc_id).exists())


def ingest_paths(paths: Sequence[Path], *, index: QdrantIndex, chunker: Chunker,
                 prune: bool = True, on_progress: Progress | None = None, workers: int = 1,
                 batch_size: int = 1024, queue_depth: int = 2) -> IngestReport:
    """Load, chunk, embed and store every supported file under ``paths``.

    ``on_progress(done, total)`` is called as chunks are embedded and written
    (from the index's writer thread once writing starts). Unreadable, empty or
    corrupt files are reported in ``IngestReport.skipped`` and never abort the
    run. ``workers`` > 1 loads and chunks files in that many processes;
    ``batch_size`` and ``queue_depth`` are passed to :meth:`QdrantIndex.upsert`.
    A run that was killed part-way is finished by the next one, which embeds
    only the chunks that were not stored.
    """
    if workers < 1:
        raise InvalidInput(f"workers must be >= 1, but got {workers}")
    started = time.perf_counter()
    report = IngestReport()
    loaded = _load_all(list(iter_files(paths, report.skipped)), chunker, workers)
    loaded_ids: set[str] = set()
    known = index.exists()
    to_add: list[Chunk] = []
    stale: list[str] = []
    for item in loaded:
        if item.document is None:
            report.skipped.append((item.path, item.reason))
            continue
        document = item.document
        loaded_ids.add(document.id)
        chunks = item.chunks if item.chunks is not None else chunker.split(document)
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
    report.files = len(loaded_ids)

    total = len(to_add)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    if on_progress is not None:
        on_progress(0, total)
    report.chunks_added = index.upsert(to_add, on_progress=advance, batch_size=batch_size,
                                       queue_depth=queue_depth)
    report.chunks_removed = index.delete_chunks(stale)
    if prune and known:
        gone = _pruned(paths, index, loaded_ids)
        report.removed_documents = len(gone)
        report.chunks_removed += index.delete(gone)
    if report.chunks_added:
        index.optimize()
    report.seconds = time.perf_counter() - started
    return report
