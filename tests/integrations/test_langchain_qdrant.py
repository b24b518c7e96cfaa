"""ragline and LangChain's QdrantVectorStore sharing Qdrant collections, with real components.

LangChain's own ``langchain_qdrant.QdrantVectorStore`` builds or reads the
collections, ragline's MiniLM embedder (wrapped as LangChain ``Embeddings``)
embeds for both sides, and both talk to one ``QdrantClient(":memory:")``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from ragline.config import Settings, load_settings
from ragline.errors import ConfigError, ForeignCollection, InvalidInput
from ragline.integrations.langchain import RaglineEmbeddings, RaglineRetriever
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.rag.server import ClientTransport
from ragline.rag.transfer import copy_collection
from ragline.types import Chunk

DOCS: list[tuple[str, dict[str, Any] | None]] = [
    ("Qdrant is a vector database written in Rust.",
     {"source": "/docs/qdrant.md", "topic": "qdrant"}),
    ("Qdrant supports sparse vectors for keyword search.",
     {"source": "/docs/qdrant.md", "topic": "qdrant"}),
    ("The cat sat on the warm mat all afternoon.", {"source": "/docs/pets.md", "topic": "pets"}),
    ("Dogs need a walk twice a day.", {"topic": "pets"}),
    ("BM25 ranks documents by term frequency and inverse document frequency.",
     {"source": "/docs/bm25.md", "topic": "bm25"}),
    ("Paris is the capital of France.", None),
]
IDS = [str(uuid.uuid5(uuid.NAMESPACE_URL, text)) for text, _ in DOCS]
LANGCHAIN_LAYOUT = {"transport": "client", "dense_vector": "", "sparse_vector": None,
                    "text_key": "page_content", "metadata_key": "metadata"}
RAGLINE_PAYLOAD = {"chunk_id", "doc_id", "text", "position", "bm25_len", "metadata"}
QUESTION = "Which language is Qdrant written in?"


def ragline_chunks() -> list[Chunk]:
    return [Chunk.create(doc, text, {"source": f"/docs/{doc}.md", "topic": doc}, i)
            for i, (doc, text) in enumerate([
                ("qdrant", DOCS[0][0]), ("pets", DOCS[2][0]), ("bm25", DOCS[4][0])])]


@pytest.fixture
def store(embedder: SentenceTransformerEmbedder) -> Iterator[QdrantVectorStore]:
    """A collection ``lc`` built by LangChain: five texts with metadata, one added without."""
    lc = QdrantVectorStore.from_texts(
        [text for text, _ in DOCS[:5]], RaglineEmbeddings(embedder),
        metadatas=[meta or {} for _, meta in DOCS[:5]], ids=IDS[:5],
        location=":memory:", collection_name="lc")
    lc.add_texts([DOCS[5][0]], ids=[IDS[5]])
    yield lc
    lc.client.close()


@pytest.fixture
def open_lc(store: QdrantVectorStore, make_settings: Callable[..., Settings],
            embedder: SentenceTransformerEmbedder) -> Callable[..., QdrantIndex]:
    """Open LangChain's collection with ragline through the shared client; ``index`` overrides."""

    def build(**index: Any) -> QdrantIndex:
        settings = make_settings(index={**LANGCHAIN_LAYOUT, **index})
        return QdrantIndex.from_settings(settings, embedder=embedder, collection="lc",
                                         client=store.client)

    return build


# -- reading a LangChain collection -----------------------------------------------------------


def test_ragline_searches_a_langchain_collection(store: QdrantVectorStore,
                                                 open_lc: Callable[..., QdrantIndex]) -> None:
    index = open_lc()
    assert index.is_foreign()
    assert index.count() == len(DOCS)
    hits = index.search(QUESTION, k=3, mode="dense")
    top = hits[0]
    assert top.chunk.text == DOCS[0][0]
    assert top.chunk.id == IDS[0]
    assert top.chunk.doc_id == "/docs/qdrant.md"
    assert top.chunk.metadata == DOCS[0][1]
    assert top.chunk.position == 0
    assert top.retrievers == ("dense",)
    # Same ranking and cosine scores as LangChain's own search of its collection.
    theirs = store.similarity_search_with_score(QUESTION, k=3)
    assert [h.chunk.text for h in hits] == [doc.page_content for doc, _ in theirs]
    assert [h.score for h in hits] == pytest.approx([score for _, score in theirs], abs=1e-5)


def test_foreign_points_without_source_or_metadata_use_the_point_id(
        open_lc: Callable[..., QdrantIndex]) -> None:
    index = open_lc()
    dog = index.search("How often should a dog be walked?", k=1, mode="dense")[0].chunk
    assert (dog.text, dog.id, dog.doc_id, dog.metadata) == (DOCS[3][0], IDS[3], IDS[3],
                                                            {"topic": "pets"})
    paris = index.search("What is the capital of France?", k=1, mode="dense")[0].chunk
    assert (paris.text, paris.doc_id, paris.metadata) == (DOCS[5][0], IDS[5], {})


def test_filters_match_keys_inside_the_configured_metadata_key(
        open_lc: Callable[..., QdrantIndex]) -> None:
    index = open_lc()
    hits = index.search("animals", k=5, mode="dense", filters={"topic": "pets"})
    assert {h.chunk.text for h in hits} == {DOCS[2][0], DOCS[3][0]}
    with pytest.raises(InvalidInput, match=r"not created by ragline.*'source'"):
        index.search("animals", mode="dense", filters={"doc_id": "/docs/pets.md"})


def test_ragline_retriever_over_a_langchain_collection(
        open_lc: Callable[..., QdrantIndex]) -> None:
    docs = RaglineRetriever(index=open_lc(), k=2, mode="dense").invoke(QUESTION)
    assert docs[0].page_content == DOCS[0][0]
    assert docs[0].id == IDS[0]
    assert docs[0].metadata["topic"] == "qdrant"


def test_writing_into_a_langchain_collection_is_refused(
        store: QdrantVectorStore, open_lc: Callable[..., QdrantIndex]) -> None:
    index = open_lc()
    with pytest.raises(ForeignCollection, match=r"'lc' .* not created by ragline"):
        index.upsert([Chunk.create("new", "A new text.", {}, 0)])
    with pytest.raises(ForeignCollection):
        index.delete(["/docs/pets.md"])
    with pytest.raises(ForeignCollection):
        index.delete_chunks([IDS[0]])
    with pytest.raises(ForeignCollection):
        index.doc_ids()
    with pytest.raises(ForeignCollection):
        copy_collection(index, open_lc(), batch_size=2)
    assert index.count() == len(DOCS)
    assert store.client.get_collection("lc").config.metadata is None
    assert store.similarity_search(QUESTION, k=1)[0].page_content == DOCS[0][0]


# -- clear errors when the configuration does not fit the collection --------------------------


def test_ragline_names_a_vector_the_collection_lacks(
        open_lc: Callable[..., QdrantIndex]) -> None:
    with pytest.raises(ConfigError, match=r"index\.dense_vector: .*no dense vector named "
                                          r"'dense'; it has \[''\]"):
        open_lc(dense_vector="dense").count()
    with pytest.raises(ConfigError, match=r"index\.sparse_vector: .*no sparse vector named "
                                          r"'bm25'; it has \[\].*null"):
        open_lc(sparse_vector="bm25").count()


def test_bm25_and_hybrid_need_a_sparse_vector(open_lc: Callable[..., QdrantIndex]) -> None:
    index = open_lc()
    for mode in ("bm25", "hybrid"):
        with pytest.raises(InvalidInput, match=r"needs BM25 vectors.*sparse_vector: null"):
            index.search(QUESTION, mode=mode)


def test_a_wrong_text_key_is_named(open_lc: Callable[..., QdrantIndex]) -> None:
    with pytest.raises(ConfigError, match=r"index\.text_key: .*no payload key 'text'.*"
                                          r"page_content"):
        open_lc(text_key="text").search(QUESTION, mode="dense")


# -- ragline's own collections: defaults unchanged, other layouts recorded --------------------


def test_defaults_keep_ragline_layout(transport_settings: Settings,
                                      embedder: SentenceTransformerEmbedder) -> None:
    ix = load_settings().index
    assert (ix.dense_vector, ix.sparse_vector, ix.text_key, ix.metadata_key) == (
        "dense", "bm25", "text", "metadata")
    with QdrantIndex.from_settings(transport_settings, embedder=embedder) as index:
        index.upsert(ragline_chunks())
        points = next(index.transport.points(10))
        assert all(set(p.payload) == RAGLINE_PAYLOAD for p in points)
        assert all(p.sparse is not None and p.sparse.indices for p in points)
        assert index.metadata()["layout"] == {"dense_vector": "dense", "sparse_vector": "bm25",
                                              "text_key": "text", "metadata_key": "metadata"}
        assert not index.is_foreign()
        if isinstance(index.transport, ClientTransport):
            params = index.transport.client.get_collection(index.name).config.params
            assert isinstance(params.vectors, dict) and set(params.vectors) == {"dense"}
            assert set(params.sparse_vectors or {}) == {"bm25"}
        # A collection from before the layout was recorded opens with the defaults.
        index.transport.write_meta({k: v for k, v in index.metadata().items() if k != "layout"})
        index.forget_metadata()
        assert index.search(QUESTION, k=1)[0].chunk.text == DOCS[0][0]


@pytest.mark.parametrize("transport", ["edge", "client"])
def test_other_layout_is_written_searched_and_recorded(
        transport: str, make_settings: Callable[..., Settings],
        embedder: SentenceTransformerEmbedder) -> None:
    layout = {"transport": transport, "url": ":memory:", "dense_vector": "",
              "sparse_vector": "words", "text_key": "body", "metadata_key": "meta"}
    index = QdrantIndex.from_settings(make_settings(index=layout), embedder=embedder)
    index.upsert(ragline_chunks())
    points = next(index.transport.points(10))
    assert {key for p in points for key in p.payload} == (
        RAGLINE_PAYLOAD - {"text", "metadata"} | {"body", "meta"})
    for mode in ("dense", "bm25", "hybrid"):
        top = index.search(QUESTION, k=1, mode=mode)[0].chunk
        assert (top.text, top.doc_id, top.metadata["topic"]) == (DOCS[0][0], "qdrant", "qdrant")
    assert index.search("cat", k=3, filters={"topic": "pets"})[0].chunk.doc_id == "pets"
    if transport == "edge":
        index.close()
        other = QdrantIndex.from_settings(make_settings(index={"transport": "edge"}),
                                          embedder=embedder)
        with pytest.raises(ConfigError, match=r"index: collection 'default' was built with "
                                              r".*'text_key': 'body'"):
            other.count()


@pytest.mark.parametrize("transport", ["edge", "client"])
def test_dense_only_collection(transport: str, make_settings: Callable[..., Settings],
                               embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings(index={"transport": transport, "url": ":memory:",
                                    "sparse_vector": None})
    index = QdrantIndex.from_settings(settings, embedder=embedder)
    chunks = ragline_chunks()
    index.upsert(chunks[:1])
    index.upsert(chunks[1:])  # the mean length drifts: nothing sparse to re-encode
    assert all(p.sparse is None for p in next(index.transport.points(10)))
    assert index.search(QUESTION, k=1, mode="dense")[0].chunk.text == DOCS[0][0]
    with pytest.raises(InvalidInput, match="needs BM25 vectors"):
        index.search(QUESTION, mode="hybrid")
    assert index.delete(["pets"]) == 1
    assert index.count() == 2


def test_langchain_reads_a_collection_ragline_built_in_its_layout(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    client = QdrantClient(":memory:")
    index = QdrantIndex.from_settings(make_settings(index=LANGCHAIN_LAYOUT), embedder=embedder,
                                      collection="rl", client=client)
    index.upsert(ragline_chunks())
    index.close()  # leaves the shared client open
    store = QdrantVectorStore(client=client, collection_name="rl",
                              embedding=RaglineEmbeddings(embedder))
    doc = store.similarity_search(QUESTION, k=1)[0]
    assert doc.page_content == DOCS[0][0]
    assert doc.metadata["source"] == "/docs/qdrant.md"
    client.close()


def test_a_given_client_needs_the_client_transport(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(ConfigError, match=r"index\.transport: must be 'client'"):
        QdrantIndex.from_settings(make_settings(), embedder=embedder,
                                  client=QdrantClient(":memory:"))


@pytest.mark.parametrize(("index", "message"), [
    ({"text_key": "metadata"}, "text_key and metadata_key must differ"),
    ({"metadata_key": "meta.data"}, r"index\.metadata_key: .*without '\.'"),
    ({"text_key": "doc_id"}, r"index\.text_key: .*ragline's own payload keys"),
    ({"sparse_vector": "dense"}, "dense_vector and sparse_vector must differ"),
    ({"sparse_vector": ""}, r"index\.sparse_vector: "),
])
def test_bad_layout_settings_are_named(index: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(index=index)
