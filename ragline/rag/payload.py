"""How a chunk is stored in a point's payload, and how a point reads back as a chunk.

A ragline point's payload holds ``chunk_id``, ``doc_id``, ``position``,
``bm25_len`` and the text and metadata under configurable keys
(:class:`PayloadKeys`). A point of a *foreign* collection (one ragline did not
create, e.g. built by LangChain's ``QdrantVectorStore``) becomes a chunk whose
id is the point id, whose ``doc_id`` is ``metadata["source"]`` (else the point
id) and whose position is 0. Nothing records which embedder built a foreign
collection: queries must use the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragline.errors import ConfigError, InvalidInput
from ragline.rag.bm25 import SparseVector
from ragline.rag.transport import StoredPoint
from ragline.types import Chunk

TOP_LEVEL_KEYS = ("doc_id", "chunk_id", "position")
"""Filter keys that match the chunk itself rather than its metadata."""


@dataclass(frozen=True, slots=True)
class PayloadKeys:
    """The payload keys holding a chunk's text and its metadata mapping."""

    text: str = "text"
    metadata: str = "metadata"


def to_point(point_id: str, chunk: Chunk, dense: list[float], sparse: SparseVector | None,
             length: int, keys: PayloadKeys) -> StoredPoint:
    """The point stored for ``chunk``: its vectors and its payload (``length``: BM25 length)."""
    return StoredPoint(point_id, dense, sparse, {
        "chunk_id": chunk.id, "doc_id": chunk.doc_id, keys.text: chunk.text,
        "position": chunk.position, "bm25_len": length, keys.metadata: chunk.metadata})


def to_chunk(point_id: str, payload: dict[str, Any], keys: PayloadKeys, *, collection: str,
             foreign: bool) -> Chunk:
    """The chunk a point's payload holds; a foreign point's id doubles as chunk id."""
    if keys.text not in payload:
        raise ConfigError(
            f"index.text_key: point {point_id} of collection {collection!r} has no payload "
            f"key {keys.text!r}; set index.text_key to the key that holds the text "
            "(LangChain's QdrantVectorStore uses 'page_content')")
    metadata = dict(payload.get(keys.metadata) or {})
    if foreign:
        source = metadata.get("source")
        return Chunk(id=point_id, doc_id=point_id if source is None else str(source),
                     text=str(payload[keys.text]), metadata=metadata, position=0)
    return Chunk(id=payload["chunk_id"], doc_id=payload["doc_id"], text=payload[keys.text],
                 metadata=metadata, position=int(payload["position"]))


def filter_key(key: str, keys: PayloadKeys, *, collection: str, foreign: bool) -> str:
    """The payload path a filter key matches: the chunk's own field or a metadata key."""
    if key in TOP_LEVEL_KEYS:
        if foreign:
            raise InvalidInput(
                f"collection {collection!r} was not created by ragline and stores no "
                f"{key!r}; filter on its metadata keys instead, e.g. 'source'")
        return key
    prefix = f"{keys.metadata}."
    return key if key.startswith(prefix) else prefix + key
