"""Write-behind: produce batches in the calling thread while a writer thread stores earlier ones.

Ingest embeds a window of chunks (CPU-bound, mostly in native code that
releases the GIL) and then BM25-encodes and writes it to Qdrant. Running the
writes in a second thread, fed through a bounded queue, lets window *n* be
written while the model embeds window *n + 1*; the bound keeps memory at a
few windows however many chunks there are.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def write_behind(batches: Iterable[T], write: Callable[[T], None], *, depth: int = 2) -> None:
    """Pull every batch from ``batches`` here and ``write`` each one, in order, in a writer thread.

    At most ``depth`` produced batches wait for the writer; producing blocks
    while the queue is full. When this returns, every batch has been written.
    If producing fails (or is interrupted), the batches already produced are
    still written, the writer thread is joined, and the producer's exception
    propagates. If a write fails, producing stops before the next batch, later
    batches are discarded, and the writer's exception propagates. No thread
    outlives the call.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, but got {depth}")
    pending: queue.Queue[object] = queue.Queue(maxsize=depth)
    failures: list[BaseException] = []

    def drain() -> None:
        while (item := pending.get()) is not _DONE:
            if failures:
                continue  # keep taking items so the producer never blocks on a full queue
            try:
                write(item)  # type: ignore[arg-type]  # every item but _DONE is a T
            except BaseException as exc:  # re-raised in the caller's thread
                failures.append(exc)

    writer = threading.Thread(target=drain, name="ragline-write-behind", daemon=True)
    writer.start()
    try:
        produced = iter(batches)
        while not failures:
            try:
                batch = next(produced)
            except StopIteration:
                break
            pending.put(batch)
    finally:
        pending.put(_DONE)
        writer.join()
    if failures:
        raise failures[0]
