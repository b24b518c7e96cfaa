"""Documents over HTTP: reading one stored passage by chunk id, ingesting an uploaded file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from ragline.app.pipeline import RAGPipeline
from ragline.errors import CollectionNotFound, InvalidInput
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import IngestReport
from ragline.rag.payload import to_chunk
from ragline.server.errors import PassageNotFound, PayloadTooLarge
from ragline.types import Chunk, point_id_for

UPLOADS = "uploads"
"""Uploaded files are kept under ``home/uploads/<collection>/``."""


def read_passage(pipeline: RAGPipeline, chunk_id: str) -> Chunk:
    """The chunk ``chunk_id`` of the pipeline's collection, read by its point id;
    :class:`PassageNotFound` when there is none."""
    index = pipeline.index
    if not isinstance(index, QdrantIndex):
        raise InvalidInput("this index cannot read passages by id")
    if not index.exists():
        raise CollectionNotFound(index.name, index.where)
    foreign = index.is_foreign()
    try:
        point = chunk_id if foreign else point_id_for(chunk_id)
    except ValueError:
        raise PassageNotFound(chunk_id, index.name) from None
    keys = index.payload_keys
    fields = ["chunk_id", "doc_id", "position", keys.text, keys.metadata]
    payload = index.transport.payloads([point], fields).get(point)
    if payload is None:
        raise PassageNotFound(chunk_id, index.name)
    chunk = to_chunk(point, payload, keys, collection=index.name, foreign=foreign)
    if chunk.id != chunk_id:  # a point id is a prefix of the chunk id
        raise PassageNotFound(chunk_id, index.name)
    return chunk


def _offset(chunk: Chunk, key: str, default: int) -> int:
    value = chunk.metadata.get(key)
    return value if isinstance(value, int) else default


def neighbours(pipeline: RAGPipeline, chunk: Chunk) -> tuple[str, str]:
    """The text just before and just after ``chunk`` in its document: the chunks at the
    positions either side, less what they share with ``chunk`` when their offsets say
    (chunks may overlap). Empty strings where there is no neighbour, and for a collection
    ragline did not build."""
    index = pipeline.index
    if not isinstance(index, QdrantIndex) or index.is_foreign():
        return "", ""
    keys = index.payload_keys
    fields = ["chunk_id", "doc_id", "position", keys.text, keys.metadata]
    found = {c.position: c for c in (
        to_chunk(point, payload, keys, collection=index.name, foreign=False)
        for point, payload in index.transport.scroll(
            {"doc_id": chunk.doc_id, "position": [chunk.position - 1, chunk.position + 1]},
            fields))}
    start, end = _offset(chunk, "start", 0), _offset(chunk, "end", 0)
    before, after = found.get(chunk.position - 1), found.get(chunk.position + 1)
    text_before = text_after = ""
    if before is not None:
        keep = start - _offset(before, "start", start - len(before.text))
        text_before = before.text[:max(0, min(keep, len(before.text)))]
    if after is not None:
        skip = end - _offset(after, "start", end)
        text_after = after.text[max(0, skip):]
    return text_before, text_after


def upload_name(filename: str | None) -> str:
    """The name an upload is saved under: the last part of ``filename``; InvalidInput when
    there is none usable."""
    name = Path((filename or "").replace("\\", "/")).name
    if not name or name in (".", "..") or name.startswith(".") or "\x00" in name:
        raise InvalidInput(f"the uploaded file needs a name, e.g. notes.md; got {filename!r}")
    return name


def ingest_upload(pipeline: RAGPipeline, filename: str | None, data: BinaryIO, *,
                  size: int | None) -> tuple[Path, IngestReport]:
    """Save the upload under ``home/uploads/<collection>/`` (replacing a file of that name)
    and ingest it; :class:`PayloadTooLarge` over ``ingest.max_file_mb``."""
    settings = pipeline.settings
    limit = int(settings.ingest.max_file_mb * 1024 * 1024)
    if size is not None and size > limit:
        raise PayloadTooLarge(f"the file is {size:,} bytes; the limit is {limit:,} "
                              "(ingest.max_file_mb)")
    folder = Path(settings.home) / UPLOADS / pipeline.index.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / upload_name(filename)
    partial = path.with_name(f".{path.name}.part")
    with partial.open("wb") as out:
        shutil.copyfileobj(data, out)
    if partial.stat().st_size > limit:
        partial.unlink()
        raise PayloadTooLarge(f"the file is over the limit of {limit:,} bytes "
                              "(ingest.max_file_mb)")
    partial.replace(path)
    return path, pipeline.ingest([path], prune=False, workers=1)
