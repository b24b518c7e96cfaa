"""The index version: it moves on every write that can change a search result, never on a
read, and a second index object on the same collection sees another writer's change."""

from __future__ import annotations

from collections.abc import Callable

from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk


def chunk(doc: str, text: str, position: int = 0) -> Chunk:
    return Chunk.create(doc, text, {}, position)


def test_every_write_moves_the_version_and_reads_do_not(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    index = QdrantIndex.from_settings(transport_settings, collection="versions",
                                      embedder=embedder)
    try:
        seen = [index.version()]
        assert seen == ["0"]  # no collection yet
        index.upsert([chunk("cats", "Cats purr."), chunk("dogs", "Dogs bark.")])
        seen.append(index.version())
        index.search("purr", k=1)
        index.count()
        assert index.version() == seen[-1]
        for write in (lambda: index.mark_pending(["dogs"]),
                      lambda: index.clear_pending(["dogs"]),
                      lambda: index.delete_chunks([chunk("cats", "Cats purr.").id]),
                      lambda: index.delete(["dogs"])):
            write()
            seen.append(index.version())
        assert len(set(seen)) == len(seen), seen
        assert [int(v) for v in seen] == sorted(int(v) for v in seen)
    finally:
        index.close()


def test_another_writer_moves_the_version_and_refreshes_what_a_reader_kept(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()  # Edge: both objects share the process's shard handle
    writer = QdrantIndex.from_settings(settings, collection="shared", embedder=embedder)
    writer.upsert([chunk("cats", "Cats purr.")])
    reader = QdrantIndex.from_settings(settings, collection="shared", embedder=embedder)
    before = reader.version()
    assert reader.search("purr", k=1)[0].chunk.doc_id == "cats"  # metadata now kept
    writer.mark_pending(["cats"])
    assert reader.version() != before
    assert reader.search("purr", k=1) == []  # the pending list was re-read
    reader.close()
    writer.close()
