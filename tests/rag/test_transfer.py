"""copy_collection: Edge shard -> qdrant-client -> Edge shard keeps points, vectors and metadata."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from qdrant_client import QdrantClient

from ragline.config import Settings
from ragline.errors import CollectionNotFound, InvalidInput
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.rag.transfer import copy_collection
from ragline.rag.transport import StoredPoint
from ragline.types import Chunk, SearchMode

TEXTS = {
    "qdrant": ["Qdrant is a vector database written in Rust.",
               "Qdrant supports sparse vectors for keyword search."],
    "pets": ["The cat sat on the warm mat all afternoon.",
             "Dogs need a walk twice a day, rain or shine."],
    "bm25": ["BM25 ranks documents by term frequency and inverse document frequency."],
}
MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
QUERIES = ["Which language is Qdrant written in?", "walk the dogs", "keyword ranking"]


def _chunks() -> list[Chunk]:
    return [Chunk.create(doc, text, {"source": f"/docs/{doc}.md", "tags": [doc, "x"]}, i)
            for doc, texts in TEXTS.items() for i, text in enumerate(texts)]


def _server_index(client: QdrantClient, settings: Settings, embedder: SentenceTransformerEmbedder,
                  name: str) -> QdrantIndex:
    """The same settings over qdrant-client, on the caller's (shared) client."""
    server_settings = settings.model_copy(update={
        "index": settings.index.model_copy(update={"transport": "client"})})
    return QdrantIndex.from_settings(server_settings, embedder=embedder, collection=name,
                                     client=client)


def _points(index: QdrantIndex) -> dict[str, StoredPoint]:
    return {p.id: p for page in index.transport.points(2) for p in page}


def _same_points(a: dict[str, StoredPoint], b: dict[str, StoredPoint]) -> None:
    assert set(a) == set(b)
    for pid, point in a.items():
        other = b[pid]
        assert other.payload == point.payload
        assert np.allclose(other.dense, point.dense, atol=1e-6)
        assert dict(zip(other.sparse.indices, other.sparse.values, strict=True)) == \
            pytest.approx(dict(zip(point.sparse.indices, point.sparse.values, strict=True)))


def _results(index: QdrantIndex) -> list[list[tuple[str, float]]]:
    return [[(h.chunk.id, round(h.score, 4)) for h in index.search(q, k=5, mode=mode)]
            for q in QUERIES for mode in MODES]


def test_round_trip_edge_server_edge_keeps_everything(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    client = QdrantClient(":memory:")
    with QdrantIndex.from_settings(settings, embedder=embedder, collection="facts") as edge:
        edge.upsert(_chunks())
        server = _server_index(client, settings, embedder, "facts-copy")
        progress: list[tuple[int, int]] = []
        assert copy_collection(edge, server, batch_size=2,
                               on_progress=lambda d, t: progress.append((d, t))) == 5
        assert progress[0] == (0, 5) and progress[-1] == (5, 5)
        back = QdrantIndex.from_settings(settings, embedder=embedder, collection="back")
        assert copy_collection(server, back) == 5

        source_points = _points(edge)
        _same_points(source_points, _points(server))
        _same_points(source_points, _points(back))
        meta = edge.transport.read_meta()
        for copy in (server, back):
            copied = copy.transport.read_meta()
            for key in ("avg_len", "total_len", "points", "embedder", "dimension", "bm25"):
                assert copied[key] == meta[key], key
            assert copied["dirty"] is False
            assert copy.count() == 5
        expected = _results(edge)
        assert _results(server) == expected
        back.close()
    with QdrantIndex.from_settings(settings, embedder=embedder, collection="back") as reopened:
        assert _results(reopened) == expected


def test_refuses_a_target_that_holds_points(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    client = QdrantClient(":memory:")
    with QdrantIndex.from_settings(settings, embedder=embedder, collection="facts") as edge:
        edge.upsert(_chunks())
        server = _server_index(client, settings, embedder, "busy")
        server.upsert(_chunks()[:1])
        with pytest.raises(InvalidInput, match="already holds points"):
            copy_collection(edge, server)
        assert server.count() == 1


def test_missing_source_raises_collection_not_found(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    server = _server_index(QdrantClient(":memory:"), settings, embedder, "nowhere")
    target = QdrantIndex.from_settings(settings, embedder=embedder, collection="target")
    with pytest.raises(CollectionNotFound):
        copy_collection(server, target)
    assert not target.exists()
