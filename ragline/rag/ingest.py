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
BM25-encoded and written (see :meth:`~ragline.protocols.Index.upsert`).

A document being written is *pending* (:mod:`ragline.rag.pending`): none of its
chunks is searchable until all its new chunks are written and its stale ones
deleted. Ctrl-C (KeyboardInterrupt) stops the run after the batches already
embedded are written, un-hides the documents that were completed and raises
:class:`IngestInterrupted` with the report so far; a run killed outright leaves
its documents pending, and the next run finishes and un-hides them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

from ragline.errors import DocumentLoadError, InvalidInput
from ragline.protocols import Index
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.loaders import iter_files, load_document
from ragline.types import Chunk, Document

Progress = Callable[[int, int], None]
DocumentProgress = Callable[[str, int, int], None]
LARGE_DOCUMENT_CHUNKS = 1000
"""Documents with at least this many chunks to write get their own progress calls."""


class Chunker(Protocol):
    """Splits a document into chunks (``RecursiveChunker``, ``SemanticChunker``)."""

    def split(self, document: Document) -> list[Chunk]:
        """The document's chunks, in order."""
        ...


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did; ``skipped`` lists (path, reason) for files not indexed.

    ``chunks_planned`` is how many chunks the run set out to write. After an
    interruption (``interrupted``), ``chunks_added`` counts those written and
    ``partial`` lists the documents left partly written: pending, so not
    searchable, until a rerun finishes them. ``replaced`` lists the documents whose
    earlier content the run replaced or removed (what a cache built on them must drop).
    """

    files: int = 0
    new_documents: int = 0
    changed_documents: int = 0
    unchanged_documents: int = 0
    removed_documents: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    chunks_planned: int = 0
    partial: list[str] = field(default_factory=list)
    interrupted: bool = False
    replaced: list[str] = field(default_factory=list)

    @property
    def complete_documents(self) -> int:
        """Documents loaded by the run and fully indexed (all of them unless interrupted)."""
        return self.files - len(self.partial)


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`ingest_paths`; ``report`` says what was completed.

    A KeyboardInterrupt (not a :class:`~ragline.errors.RagLineError`): the user
    asked to stop, nothing failed, and code that handles Ctrl-C still sees one.
    """

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingest interrupted")
        self.report = report


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One file's outcome: its document and, when chunked where it was loaded, its chunks."""

    path: str
    document: Document | None = None
    chunks: list[Chunk] | None = None
    reason: str = ""


def _load_and_split(path: Path, chunker: Chunker | None,
                    max_file_mb: float | None = None) -> _Loaded:
    """Load one file and split it with ``chunker`` (None: the caller splits it)."""
    try:
        document = load_document(path, max_file_mb=max_file_mb)
    except DocumentLoadError as exc:  # returned, not raised: it must cross a process boundary
        return _Loaded(exc.path, reason=exc.reason)
    return _Loaded(str(path), document, chunker.split(document) if chunker is not None else None)


def _load_all(files: list[Path], chunker: Chunker, workers: int,
              max_file_mb: float | None) -> list[_Loaded]:
    """Every file loaded (and chunked) in order, in ``workers`` processes when more than one.

    Only the recursive chunker travels to the workers: it is small and pure
    CPU. Other chunkers (the semantic one holds an embedding model) split the
    loaded documents in this process.
    """
    if workers <= 1 or len(files) <= 1:
        return [_load_and_split(f, chunker, max_file_mb) for f in files]
    shipped = chunker if isinstance(chunker, RecursiveChunker) else None
    workers = min(workers, len(files))
    # spawn, not fork: this process may already run the embedding model's threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(partial(_load_and_split, chunker=shipped,
                                     max_file_mb=max_file_mb), files,
                             chunksize=max(1, len(files) // (4 * workers))))


@dataclass(slots=True)
class _Plan:
    """What a run writes: chunks to add, stale chunk ids, and per document the chunks to write."""

    to_add: list[Chunk] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    stale_docs: set[str] = field(default_factory=set)
    planned: dict[str, int] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)
    known: bool = False  # the collection existed before the run

    @property
    def writing(self) -> set[str]:
        """Documents this run writes to (new chunks, stale chunks or both): pending meanwhile."""
        return set(self.planned) | self.stale_docs


def _plan(loaded: list[_Loaded], index: Index, chunker: Chunker,
          report: IngestReport) -> _Plan:
    """Compare each loaded document's chunks with the stored ones; count documents in ``report``."""
    plan = _Plan(known=index.exists())
    for item in loaded:
        if item.document is None:
            report.skipped.append((item.path, item.reason))
            continue
        document = item.document
        plan.loaded.add(document.id)
        chunks = item.chunks if item.chunks is not None else chunker.split(document)
        stored = index.chunk_ids(document.id) if plan.known else set()
        fresh = {c.id for c in chunks}
        if stored == fresh:
            report.unchanged_documents += 1
            continue
        if stored:
            report.changed_documents += 1
            report.replaced.append(document.id)
        else:
            report.new_documents += 1
        added = [c for c in chunks if c.id not in stored]
        plan.to_add.extend(added)
        if added:
            plan.planned[document.id] = len(added)
        if stored - fresh:
            plan.stale.extend(stored - fresh)
            plan.stale_docs.add(document.id)
    report.files = len(plan.loaded)
    report.chunks_planned = len(plan.to_add)
    return plan


class _Tracker:
    """Counts written chunks, overall and per document, and reports progress as they come.

    Called from the index's writer thread; read by the caller once writing stopped.
    """

    def __init__(self, plan: _Plan, on_progress: Progress | None,
                 on_document: DocumentProgress | None, large: int) -> None:
        self.done = 0
        self.total = len(plan.to_add)
        self.planned = plan.planned
        self.written = dict.fromkeys(plan.planned, 0)
        self.on_progress = on_progress
        self.on_document = on_document
        self.large = {d for d, n in plan.planned.items() if n >= large} if on_document else set()

    def start(self) -> None:
        if self.on_progress is not None:
            self.on_progress(0, self.total)
        for doc_id in sorted(self.large):
            self._document(doc_id, 0)

    def advance(self, count: int) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    def chunks_written(self, chunks: list[Chunk]) -> None:
        for doc_id, count in Counter(c.doc_id for c in chunks).items():
            before = self.written[doc_id]
            self.written[doc_id] = after = before + count
            planned = self.planned[doc_id]
            # large documents: one call per tenth written, the last when it is complete
            if doc_id in self.large and (10 * after) // planned > (10 * before) // planned:
                self._document(doc_id, after)

    def _document(self, doc_id: str, written: int) -> None:
        assert self.on_document is not None
        self.on_document(doc_id, written, self.planned[doc_id])

    def unfinished(self) -> set[str]:
        """Documents with chunks still to write."""
        return {d for d, n in self.planned.items() if self.written[d] < n}


def _pruned(paths: Sequence[Path], index: Index, loaded: set[str]) -> list[str]:
    roots = [str(p.resolve()) + "/" for p in paths if p.is_dir()]
    if not roots:
        return []
    return sorted(doc_id for doc_id in index.doc_ids()
                  if doc_id not in loaded and doc_id.startswith(tuple(roots))
                  and not Path(doc_id).exists())


def ingest_paths(paths: Sequence[Path], *, index: Index, chunker: Chunker,
                 prune: bool = True, on_progress: Progress | None = None, workers: int = 1,
                 batch_size: int = 1024, queue_depth: int = 2, max_file_mb: float | None = None,
                 on_document: DocumentProgress | None = None,
                 large_document_chunks: int = LARGE_DOCUMENT_CHUNKS) -> IngestReport:
    """Load, chunk, embed and store every supported file under ``paths``.

    ``on_progress(done, total)`` is called as chunks are embedded and written (from the
    index's writer thread once writing starts); ``on_document(doc_id, written, planned)``
    for each document with at least ``large_document_chunks`` chunks to write: at the start,
    after each tenth of it is written, and when it is complete. Unreadable, empty, corrupt or
    special files (links that lead nowhere, pipes, devices) and files over ``max_file_mb``
    (None: no limit) are reported in ``IngestReport.skipped`` and never abort the run.
    ``workers`` > 1 loads and chunks files in that many processes; ``batch_size`` and
    ``queue_depth`` are passed to :meth:`~ragline.protocols.Index.upsert`. Hiding documents
    being written, resuming an interrupted run and Ctrl-C (:class:`IngestInterrupted`) work
    as the module docstring says.

    Long because this docstring documents every option; the code is 37 lines, the reason it
    is not split.
    """
    if workers < 1:
        raise InvalidInput(f"workers must be >= 1, but got {workers}")
    started = time.perf_counter()
    report = IngestReport()
    try:
        loaded = _load_all(list(iter_files(paths, report.skipped)), chunker, workers,
                           max_file_mb)
        plan = _plan(loaded, index, chunker, report)
    except KeyboardInterrupt as exc:  # nothing written yet
        report.interrupted = True
        report.seconds = time.perf_counter() - started
        raise IngestInterrupted(report) from exc
    tracker = _Tracker(plan, on_progress, on_document, large_document_chunks)
    stale_deleted = False
    try:
        index.mark_pending(plan.writing)  # an existing collection; upsert marks a new one
        tracker.start()
        report.chunks_added = index.upsert(plan.to_add, on_progress=tracker.advance,
                                           on_written=tracker.chunks_written,
                                           pending=plan.writing, batch_size=batch_size,
                                           queue_depth=queue_depth)
        report.chunks_removed = index.delete_chunks(plan.stale)
        stale_deleted = True
        gone = _pruned(paths, index, plan.loaded) if prune and plan.known else []
        report.removed_documents = len(gone)
        report.replaced.extend(gone)
        report.chunks_removed += index.delete(gone)
        index.clear_pending(plan.loaded | set(gone))
        if report.chunks_added:
            index.optimize()
    except BaseException as exc:
        _settle(index, plan, tracker, report, stale_deleted, exc)
        report.seconds = time.perf_counter() - started
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, IngestInterrupted):
            raise IngestInterrupted(report) from exc
        raise
    report.seconds = time.perf_counter() - started
    return report


def _settle(index: Index, plan: _Plan, tracker: _Tracker, report: IngestReport,
            stale_deleted: bool, exc: BaseException) -> None:
    """After a run stopped part-way: fill in ``report`` and un-hide the documents completed.

    A document is complete once all its new chunks are written and (for a
    changed one) its stale chunks deleted; the others stay pending.
    """
    report.interrupted = isinstance(exc, KeyboardInterrupt)
    report.chunks_added = tracker.done
    partial = tracker.unfinished() | (set() if stale_deleted else plan.stale_docs)
    report.partial = sorted(partial)
    try:
        index.clear_pending(plan.loaded - partial)
    except Exception as failure:  # the documents stay hidden until the next run: safe
        exc.add_note(f"ragline could not un-hide the documents completed: {failure}")
