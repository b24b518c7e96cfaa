"""Shared types: deterministic ids."""

from __future__ import annotations

import uuid

from ragline.types import Chunk, chunk_id_for, point_id_for


def test_chunk_ids_are_deterministic_and_content_sensitive() -> None:
    a = Chunk.create("doc", "some text", {}, 0)
    assert a.id == Chunk.create("doc", "some text", {"other": "metadata"}, 0).id
    assert a.id != Chunk.create("doc", "some text", {}, 1).id
    assert a.id != Chunk.create("doc", "other text", {}, 0).id
    assert a.id != Chunk.create("doc2", "some text", {}, 0).id
    assert a.id == chunk_id_for("doc", 0, "some text")


def test_point_ids_are_uuids_derived_from_chunk_ids() -> None:
    chunk_id = chunk_id_for("doc", 3, "x")
    assert str(uuid.UUID(point_id_for(chunk_id))) == point_id_for(chunk_id)
    assert point_id_for(chunk_id).replace("-", "") == chunk_id
