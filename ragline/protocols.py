"""Protocols between layers: ``Embedder`` (models implement, rag uses), ``Index`` (rag implements).

Keeping them here (cross-cutting, like ``types``) lets ``ragline.rag`` accept an
embedder without importing ``ragline.models``, and lets ingest, the query side,
the pipeline and the LangChain adapter take any index rather than
:class:`~ragline.rag.index.QdrantIndex`, so the layering of the package holds:
a lower layer never imports a higher one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragline.types import Chunk, ScoredChunk, SearchMode

Vectors = npt.NDArray[np.float32]
FilterValue = str | int | bool | Sequence[str] | Sequence[int]
Filters = Mapping[str, FilterValue]
"""Search filters: payload key -> value, or a list of values meaning any of them."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors; documents and queries may differ."""

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed_documents(self, texts: list[str]) -> Vectors:
        """Embed passages; returns an array of shape ``(len(texts), dimension)``."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; returns an array of shape ``(dimension,)``."""
        ...


@runtime_checkable
class Index(Protocol):
    """A collection of chunks that can be written and searched (dense, BM25 or hybrid).

    :class:`~ragline.rag.index.QdrantIndex` implements it over either transport.
    Reading or writing a collection that does not exist raises
    :class:`~ragline.errors.CollectionNotFound` (``exists`` says beforehand).
    """

    @property
    def name(self) -> str:
        """The collection's name."""
        ...

    @property
    def where(self) -> str:
        """Where the collection lives, for messages (a folder, or a Qdrant URL)."""
        ...

    @property
    def embedder(self) -> Embedder:
        """The model that embeds this collection's chunks and queries."""
        ...

    def exists(self) -> bool:
        """Whether the collection has been created."""
        ...

    def count(self) -> int:
        """Number of chunks stored."""
        ...

    def version(self) -> str:
        """The content version: it changes on every write that can change a search result."""
        ...

    def search(self, query: str, k: int = 5, filters: Filters | None = None,
               mode: SearchMode = "hybrid", *, query_vector: Vectors | None = None,
               explain: bool = False) -> list[ScoredChunk]:
        """The ``k`` best chunks for ``query``, best first (``explain``: name every retriever)."""
        ...

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors | None = None, *,
               on_progress: Callable[[int], None] | None = None,
               batch_size: int = ..., queue_depth: int = ...,
               on_written: Callable[[list[Chunk]], None] | None = None,
               pending: AbstractSet[str] = ...) -> int:
        """Embed (unless ``vectors`` are given) and store chunks; returns how many were written.

        ``pending`` documents are hidden from search before any point is written
        (see :meth:`mark_pending`).
        """
        ...

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete every chunk of these documents; returns how many chunks were removed."""
        ...

    def delete_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Delete chunks by chunk id; returns how many existed."""
        ...

    def chunk_ids(self, doc_id: str) -> set[str]:
        """Ids of the chunks stored for one document."""
        ...

    def doc_ids(self) -> set[str]:
        """Ids of every document with at least one chunk stored."""
        ...

    def mark_pending(self, doc_ids: Iterable[str]) -> None:
        """Hide these documents from search while they are being written."""
        ...

    def clear_pending(self, doc_ids: Iterable[str]) -> None:
        """Make these documents searchable again."""
        ...

    def optimize(self) -> None:
        """Build search structures after a bulk load."""
        ...

    def close(self) -> None:
        """Flush and release the collection."""
        ...
