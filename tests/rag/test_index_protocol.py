"""Every method of the ``Index`` protocol, through ``QdrantIndex`` on both transports."""

from __future__ import annotations

from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.protocols import Index
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk

TEXTS = {"cats": ["Cats sleep most of the day.", "Cats purr when content."],
         "dogs": ["Dogs need a walk every day."]}


def chunks() -> list[Chunk]:
    return [Chunk.create(doc, text, {"topic": doc}, i)
            for doc, texts in TEXTS.items() for i, text in enumerate(texts)]


def test_every_index_method_on_both_transports(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    index: Index = QdrantIndex.from_settings(transport_settings, collection="proto",
                                             embedder=embedder)
    try:
        assert index.name == "proto" and index.where and index.embedder is embedder
        assert not index.exists() and index.doc_ids() == set()
        assert index.upsert(chunks(), batch_size=2) == 3
        index.optimize()
        assert index.exists() and index.count() == 3
        assert index.doc_ids() == {"cats", "dogs"}
        cat_ids = index.chunk_ids("cats")
        assert cat_ids == {c.id for c in chunks() if c.doc_id == "cats"}

        hits = index.search("a walk for the dog", k=1, explain=True)
        assert hits[0].chunk.doc_id == "dogs" and hits[0].retrievers
        index.mark_pending(["dogs"])
        assert all(h.chunk.doc_id == "cats" for h in index.search("a walk for the dog", k=3))
        index.clear_pending(["dogs"])
        assert index.search("a walk for the dog", k=1, mode="bm25")[0].chunk.doc_id == "dogs"

        assert index.delete_chunks([sorted(cat_ids)[0]]) == 1
        assert index.delete(["dogs"]) == 1
        assert index.count() == 1 and index.doc_ids() == {"cats"}
    finally:
        index.close()
