"""Collection metadata: what ragline records about a collection, and the check on opening it.

A ragline collection records its ``format``, the ``embedder`` that built it, the
BM25 identity (language, k1, b, tokeniser), the point ``layout`` (vector names
and payload keys), the BM25 length statistics (``total_len``, ``points``,
``avg_len``, see :mod:`ragline.rag.bm25_stats`), a ``dirty`` flag set during
writes, the ``pending`` documents (:mod:`ragline.rag.pending`) and the ``version``, a
counter every metadata write raises (upserts, deletes, pending marks, BM25 repairs), so
anything derived from the collection's content (a cached answer) can tell it is stale. A collection
without a format was made by another tool: it is *foreign*, searchable but never
written (see :mod:`ragline.rag.payload` for how its points read as chunks).
"""

from __future__ import annotations

from typing import Any

from ragline.errors import ConfigError
from ragline.rag.payload import PayloadKeys
from ragline.rag.transport import VectorNames

FORMAT = 1
VERSION = "version"


def is_foreign(meta: dict[str, Any]) -> bool:
    """Whether collection metadata lacks ragline's own (every ragline collection has a format)."""
    return "format" not in meta


def layout(names: VectorNames, keys: PayloadKeys) -> dict[str, Any]:
    """The point layout as recorded in collection metadata, keyed like ``index.*`` settings."""
    return {"dense_vector": names.dense, "sparse_vector": names.sparse,
            "text_key": keys.text, "metadata_key": keys.metadata}


DEFAULT_LAYOUT = layout(VectorNames(), PayloadKeys())  # collections made before it was recorded


def new_meta(*, embedder: str, dimension: int, bm25: dict[str, Any],
             point_layout: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a new, empty ragline collection."""
    return {"format": FORMAT, "embedder": embedder, "dimension": dimension, "bm25": bm25,
            "avg_len": None, "total_len": 0, "points": 0, "dirty": False,
            "layout": point_layout}


def version_of(meta: dict[str, Any]) -> int:
    """The collection's version counter (0 for a collection written before it existed)."""
    return int(meta.get(VERSION) or 0)


def bumped(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with its version counter raised by one: what every metadata write stores."""
    return {**meta, VERSION: version_of(meta) + 1}


def older_tokenizer(stored: Any, current: dict[str, Any]) -> bool:
    """Whether a stored BM25 identity differs from ``current`` only in its (older) tokeniser."""
    return (isinstance(stored, dict) and stored.get("tokenizer") != current["tokenizer"]
            and {**stored, "tokenizer": current["tokenizer"]} == current)


def check(meta: dict[str, Any], *, name: str, embedder: str, bm25: dict[str, Any],
          point_layout: dict[str, Any]) -> bool:
    """Check a ragline collection's metadata against this index's configuration.

    Raises :class:`~ragline.errors.ConfigError` when the embedder, the BM25
    settings or the layout differ. Returns whether the stored BM25 vectors come
    from an older tokeniser (the only difference that is repaired, not refused).
    """
    if meta.get("embedder") != embedder:
        raise ConfigError(
            f"embedder.model: collection {name!r} was built with {meta.get('embedder')!r} "
            f"but the configuration says {embedder!r}; "
            "use the same model or ingest into a new collection")
    older = older_tokenizer(meta.get("bm25"), bm25)
    if meta.get("bm25") != bm25 and not older:
        raise ConfigError(
            f"index.bm25: collection {name!r} was built with {meta.get('bm25')} "
            f"but the configuration says {bm25}; "
            "use the same settings or ingest into a new collection")
    stored = meta.get("layout", DEFAULT_LAYOUT)
    if stored != point_layout:
        raise ConfigError(
            f"index: collection {name!r} was built with {stored} "
            f"but the configuration says {point_layout}; use the same "
            "index.dense_vector, sparse_vector, text_key and metadata_key, "
            "or ingest into a new collection")
    return older
