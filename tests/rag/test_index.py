"""QdrantIndex on both transports: Qdrant Edge on disk and qdrant-client ``:memory:``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ragline.config import Settings
from ragline.errors import CollectionNotFound, ConfigError, InvalidInput
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk
from tests.constants import FACTS


def chunks_of(doc_id: str) -> list[Chunk]:
    return [Chunk.create(doc_id, text, {"source": f"/docs/{doc_id}.md", "topic": doc_id}, i)
            for i, text in enumerate(FACTS[doc_id])]


@pytest.fixture
def index(transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> QdrantIndex:
    idx = QdrantIndex.from_settings(transport_settings, collection="facts", embedder=embedder)
    idx.upsert([c for doc in FACTS for c in chunks_of(doc)])
    return idx


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_relevant_chunk(index: QdrantIndex, mode: str) -> None:
    hits = index.search("Which language is Qdrant written in?", k=3, mode=mode)  # type: ignore[arg-type]
    assert hits[0].chunk.text == FACTS["qdrant"][0]
    assert hits[0].chunk.metadata["topic"] == "qdrant"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_reports_which_retrievers_found_a_chunk(index: QdrantIndex) -> None:
    hits = index.search("walk the dogs", k=5, mode="hybrid", explain=True)
    top = hits[0]
    assert top.chunk.text == FACTS["pets"][1]
    assert set(top.retrievers) == {"dense", "bm25"}
    assert any(h.retrievers == ("dense",) for h in hits)  # BM25 matched no other chunk
    assert index.search("walk the dogs", k=1, mode="hybrid")[0].retrievers == ("hybrid",)
    assert index.search("walk the dogs", k=1, mode="bm25")[0].retrievers == ("bm25",)


def test_filters_match_metadata_and_doc_ids(index: QdrantIndex) -> None:
    hits = index.search("Qdrant", k=5, filters={"topic": "pets"}, mode="hybrid")
    assert hits and {h.chunk.doc_id for h in hits} == {"pets"}
    hits = index.search("Qdrant", k=5, filters={"doc_id": ["bm25", "pets"]}, mode="dense")
    assert {h.chunk.doc_id for h in hits} == {"bm25", "pets"}


def test_upserting_the_same_chunks_again_changes_nothing(index: QdrantIndex) -> None:
    before = index.count()
    assert index.upsert(chunks_of("qdrant")) == 2
    assert index.count() == before == 5


def test_delete_by_document(index: QdrantIndex) -> None:
    assert index.delete(["qdrant"]) == 2
    assert index.count() == 3
    assert index.doc_ids() == {"pets", "bm25"}
    assert all(h.chunk.doc_id != "qdrant" for h in index.search("Qdrant Rust", k=5))
    assert index.delete(["qdrant"]) == 0
    assert index.chunk_ids("pets") == {c.id for c in chunks_of("pets")}


def test_bad_queries_are_refused(index: QdrantIndex) -> None:
    with pytest.raises(InvalidInput, match="query is empty"):
        index.search("   ")
    with pytest.raises(InvalidInput, match="mode must be one of"):
        index.search("x", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="k must be > 0"):
        index.search("x", k=0)


def test_unknown_collection(transport_settings: Settings,
                            embedder: SentenceTransformerEmbedder) -> None:
    idx = QdrantIndex.from_settings(transport_settings, collection="never", embedder=embedder)
    with pytest.raises(CollectionNotFound, match=r"'never' does not exist.*ragline ingest"):
        idx.search("anything")


def test_bad_collection_name(make_settings: Callable[..., Settings],
                             embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInput, match="collection name"):
        QdrantIndex.from_settings(make_settings(), collection="../escape", embedder=embedder)


def test_reopening_with_another_model_is_refused(make_settings: Callable[..., Settings],
                                                 embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    with QdrantIndex.from_settings(settings, collection="c", embedder=embedder) as idx:
        idx.upsert(chunks_of("pets"))
    other = make_settings(embedder={"model": "some/other-model"})
    with QdrantIndex.from_settings(other, collection="c", embedder=embedder) as idx, \
            pytest.raises(ConfigError, match=r"embedder\.model"):
        idx.search("cat")
    stemless = make_settings(index={"bm25": {"language": "none"}})
    with QdrantIndex.from_settings(stemless, collection="c", embedder=embedder) as idx, \
            pytest.raises(ConfigError, match=r"index\.bm25"):
        idx.search("cat")


def test_data_persists_on_disk_and_interrupted_writes_are_repaired(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    with QdrantIndex.from_settings(settings, collection="c", embedder=embedder) as idx:
        idx.upsert([c for doc in FACTS for c in chunks_of(doc)])
        expected_avg = idx.avg_len
    meta_path = Path(settings.home) / "collections" / "c" / "meta.json"
    meta = json.loads(meta_path.read_text())
    # What a crash between the point writes and the final metadata write leaves behind.
    meta.update(dirty=True, total_len=999, points=1)
    meta_path.write_text(json.dumps(meta))
    with QdrantIndex.from_settings(settings, collection="c", embedder=embedder) as idx:
        assert idx.count() == 5
        assert idx.avg_len == pytest.approx(expected_avg)
        assert idx.search("cat on the mat", k=1)[0].chunk.text == FACTS["pets"][0]
    repaired = json.loads(meta_path.read_text())
    assert repaired["dirty"] is False and repaired["points"] == 5


def test_vectors_must_match_chunks(index: QdrantIndex) -> None:
    import numpy as np

    with pytest.raises(InvalidInput, match="got 1 vectors for 2 chunks"):
        index.upsert(chunks_of("qdrant"), vectors=np.zeros((1, 384), dtype=np.float32))


def test_hybrid_depth_grows_with_k(make_settings: Callable[..., Settings],
                                   embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings(index={"candidates": 2})
    with QdrantIndex.from_settings(settings, collection="deep", embedder=embedder) as idx:
        idx.upsert([c for doc in FACTS for c in chunks_of(doc)])
        assert len(idx.search("Qdrant cats dogs", k=5, mode="hybrid")) == 5
