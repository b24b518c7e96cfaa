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
