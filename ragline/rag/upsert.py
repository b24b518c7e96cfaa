"""The write path of an upsert: embed windows of chunks while a writer thread stores earlier ones.

Chunks are embedded ``batch_size`` at a time, shortest first (the model pads a
batch to its longest text), while a writer thread (:mod:`ragline.rag.writebehind`)
turns the windows already embedded into points and writes them; at most
``queue_depth`` windows wait for it, so memory stays at a few windows.
The index (:meth:`ragline.rag.index.QdrantIndex.upsert`) does the bookkeeping
around it: collection metadata, BM25 statistics, pending documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ragline.errors import InvalidInput
from ragline.protocols import Embedder, Vectors
from ragline.rag.transport import StoredPoint, Transport
from ragline.rag.writebehind import write_behind
from ragline.types import Chunk

EMBED_WINDOW = 1024
"""Default number of chunks embedded per model call."""


def checked(chunks: Sequence[Chunk], vectors: Vectors | None, *, batch_size: int,
            queue_depth: int) -> tuple[list[Chunk], Vectors | None]:
    """Validate an upsert's arguments; keep the last copy of each chunk id (and its vector)."""
    if vectors is not None and len(vectors) != len(chunks):
        raise InvalidInput(f"got {len(vectors)} vectors for {len(chunks)} chunks")
    if batch_size < 1 or queue_depth < 1:
        raise InvalidInput("batch_size and queue_depth must be >= 1, but got "
                           f"{batch_size} and {queue_depth}")
    keep = sorted({c.id: i for i, c in enumerate(chunks)}.values())  # last copy of an id wins
    if vectors is not None:
        vectors = np.asarray(vectors, dtype=np.float32)[keep]
    return [chunks[i] for i in keep], vectors


def embed_and_write(chunks: Sequence[Chunk], vectors: Vectors | None, *,
                    point: Callable[[int, list[float]], StoredPoint], embedder: Embedder,
                    transport: Transport, batch_size: int, queue_depth: int,
                    on_progress: Callable[[int], None] | None = None,
                    on_written: Callable[[list[Chunk]], None] | None = None) -> None:
    """Embed ``chunks`` (unless ``vectors`` are given) and write them as points.

    ``point(i, dense)`` builds the point of ``chunks[i]``. ``on_progress`` is
    called, from the writer thread, with the number of chunks written after each
    window, and ``on_written`` with those chunks. An error on either side stops
    both and propagates; windows already written stay written.
    """
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].text))

    def embedded() -> Iterator[tuple[list[int], Vectors]]:
        for start in range(0, len(order), batch_size):
            window = order[start:start + batch_size]
            yield window, (vectors[window] if vectors is not None else
                           embedder.embed_documents([chunks[i].text for i in window]))

    def write(batch: tuple[list[int], Vectors]) -> None:
        window, dense = batch
        transport.upsert([point(i, dense[j].tolist()) for j, i in enumerate(window)])
        if on_progress is not None:
            on_progress(len(window))
        if on_written is not None:
            on_written([chunks[i] for i in window])

    write_behind(embedded(), write, depth=queue_depth)
