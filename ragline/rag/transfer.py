"""Copy a collection between transports (Qdrant Edge shard <-> Qdrant server), as stored.

Points travel with their vectors (dense, and BM25 when the collection has one)
and their full payload, and the collection's ragline metadata (embedder, BM25
statistics) comes along: nothing is embedded or re-encoded. The target is marked
``dirty`` while the copy runs, so an interrupted copy is detected and repaired
when the index next opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragline.errors import ForeignCollection, InvalidInput
from ragline.rag.index import QdrantIndex


def _target_meta(source: QdrantIndex, target: QdrantIndex) -> dict[str, Any]:
    """The source's metadata, checked against what the target index will accept later."""
    if source.is_foreign():
        raise ForeignCollection(source.name, source.transport.where)
    meta = source.metadata()
    if meta.get("embedder") != target.embedder_name:
        raise InvalidInput(
            f"collection {source.name!r} was built with {meta.get('embedder')!r} but the "
            f"target is configured for {target.embedder_name!r}; use the same embedder.model")
    if meta.get("bm25") != target.bm25_identity():
        raise InvalidInput(
            f"collection {source.name!r} was built with BM25 settings {meta.get('bm25')} but "
            f"the target is configured with {target.bm25_identity()}; use the same index.bm25")
    return meta


def copy_collection(source: QdrantIndex, target: QdrantIndex, *, batch_size: int = 512,
                    on_progress: Callable[[int, int], None] | None = None) -> int:
    """Copy every point and the metadata of ``source`` into ``target``; returns the count.

    Refuses (:class:`~ragline.errors.InvalidInput`) a target that already holds
    points or was made for another vector size, and a source ragline did not
    create (:class:`~ragline.errors.ForeignCollection`); raises
    :class:`~ragline.errors.CollectionNotFound` when the source does not exist.
    ``on_progress`` gets (points copied, points in total) after each batch.
    """
    if batch_size <= 0:
        raise InvalidInput(f"batch_size must be > 0, but got {batch_size}")
    meta = _target_meta(source, target)
    dimension = int(meta.get("dimension") or source.embedder.dimension)
    meta["dimension"] = dimension
    dirty = {**meta, "dirty": True}
    if target.transport.exists():
        if target.transport.count() > 0:
            raise InvalidInput(
                f"collection {target.name!r} in {target.transport.where} already holds points; "
                "copy into a new collection name or delete that one first")
        existing = target.transport.read_meta().get("dimension")
        if existing is not None and int(existing) != dimension:
            raise InvalidInput(
                f"collection {target.name!r} in {target.transport.where} holds {existing}-d "
                f"vectors but {source.name!r} has {dimension}-d ones; copy into a new name")
        target.transport.write_meta(dirty)
    else:
        target.transport.create(dimension, dirty)
    target.forget_metadata()  # re-read (and checked) on next use
    total = source.transport.count()
    copied = 0
    if on_progress is not None:
        on_progress(0, total)
    for page in source.transport.points(batch_size):
        target.transport.upsert(page)
        copied += len(page)
        if on_progress is not None:
            on_progress(copied, max(total, copied))
    target.optimize()
    target.transport.write_meta({**meta, "dirty": False})
    return copied
