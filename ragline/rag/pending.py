"""Pending documents: documents whose chunks are being written, hidden from search meanwhile.

Before ingest writes a new or changed document, its id is added to the list
``pending`` in the collection's metadata (in the same atomic metadata write
that marks the collection dirty, before any point is written). Searches exclude
every chunk of a pending document, so a document that is partly written (by a
run still going, or one interrupted or killed) is never searchable: neither its
new chunks nor, for a changed document, its old ones. A run clears a
document's mark once all its new chunks are written and its stale chunks
deleted; an interrupted run clears the marks of the documents it completed; the
next run writes what is missing (chunks already stored are found by id) and
clears the rest.

Filters name a payload key per condition, all of which must match; a key
starting with :data:`NOT` is a must-not condition on the rest of the key.
User filter keys never start with it (metadata keys are prefixed by the index).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from ragline.rag import collection_meta
from ragline.rag.transport import Filters, FilterValue

if TYPE_CHECKING:
    from ragline.rag.index import QdrantIndex

PENDING = "pending"
"""The collection-metadata key listing the ids of pending documents (sorted)."""
NOT = "!"
"""Prefix of a filter key that must *not* match."""


def split_filters(filters: Filters | None) -> tuple[dict[str, FilterValue],
                                                    dict[str, FilterValue]]:
    """``filters`` as (must, must_not) conditions by payload key, the ``!`` prefix removed."""
    must: dict[str, FilterValue] = {}
    must_not: dict[str, FilterValue] = {}
    for key, value in (filters or {}).items():
        if key.startswith(NOT):
            must_not[key[len(NOT):]] = value
        else:
            must[key] = value
    return must, must_not


def search_filters(filters: Filters | None, meta: dict[str, Any]) -> Filters | None:
    """``filters`` plus a must-not condition on the pending documents of ``meta``, if any."""
    pending = meta.get(PENDING)
    if not pending:
        return filters
    return {**(filters or {}), NOT + "doc_id": [str(doc_id) for doc_id in pending]}


def with_pending(meta: dict[str, Any], doc_ids: AbstractSet[str]) -> dict[str, Any]:
    """``meta`` with ``doc_ids`` added to its pending documents (``meta`` itself unchanged)."""
    if not doc_ids:
        return meta
    return {**meta, PENDING: sorted(set(meta.get(PENDING) or ()) | doc_ids)}


def pending_ids(index: QdrantIndex) -> set[str]:
    """Ids of the documents of ``index`` that are marked pending (read afresh)."""
    if not index.transport.exists():
        return set()
    return set(index.transport.read_meta().get(PENDING) or ())


def mark(index: QdrantIndex, doc_ids: Iterable[str]) -> None:
    """Mark documents pending in an existing ragline collection (nothing to do otherwise).

    Only the pending list changes: a dirty flag on disk stays as it is.
    """
    _update(index, set(doc_ids), add=True)


def clear(index: QdrantIndex, doc_ids: Iterable[str]) -> None:
    """Make documents searchable again: drop them from the pending list, if they are on it."""
    _update(index, set(doc_ids), add=False)


def _update(index: QdrantIndex, doc_ids: set[str], *, add: bool) -> None:
    transport = index.transport
    if not doc_ids or not transport.exists():
        return
    meta = transport.read_meta()
    if "format" not in meta:
        return  # a foreign collection: never written to
    before = set(meta.get(PENDING) or ())
    after = before | doc_ids if add else before - doc_ids
    if after == before:
        return
    # An empty list, not a missing key: a Qdrant server merges metadata updates.
    transport.write_meta(collection_meta.bumped({**meta, PENDING: sorted(after)}))
    index.forget_metadata()  # re-read on next use, with the new list
