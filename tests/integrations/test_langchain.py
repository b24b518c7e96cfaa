"""The LangChain adapters, driven by langchain-core's own fake models and a real index."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableLambda

from ragline.config import Settings
from ragline.errors import ProviderError, ProviderNotInstalled
from ragline.integrations.langchain import (
    LangChainChatModel,
    LangChainEmbedder,
    RaglineRetriever,
)
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.models.tokens import count_tokens
from ragline.rag.index import QdrantIndex
from ragline.types import ChatRequest, ChatResponse, Chunk, Message, Usage
from tests.constants import FACTS


def all_chunks() -> list[Chunk]:
    return [Chunk.create(doc, text, {"source": f"/docs/{doc}.md", "topic": doc}, i)
            for doc, texts in FACTS.items() for i, text in enumerate(texts)]


@pytest.fixture
def index(make_settings: Callable[..., Settings],
          embedder: SentenceTransformerEmbedder) -> QdrantIndex:
    idx = QdrantIndex.from_settings(make_settings(), collection="lc", embedder=embedder)
    idx.upsert(all_chunks())
    return idx


# -- RaglineRetriever --------------------------------------------------------------------------


def test_retriever_returns_documents_best_first(index: QdrantIndex) -> None:
    retriever = RaglineRetriever(index=index, k=3)
    docs = retriever.invoke("Which language is Qdrant written in?")
    assert len(docs) == 3 and all(isinstance(d, LCDocument) for d in docs)
    top = docs[0]
    expected = next(c for c in all_chunks() if c.text == FACTS["qdrant"][0])
    assert top.page_content == expected.text
    assert top.id == expected.id
    assert top.metadata["chunk_id"] == expected.id
    assert top.metadata["doc_id"] == "qdrant"
    assert top.metadata["source"] == "/docs/qdrant.md"
    assert top.metadata["topic"] == "qdrant"
    assert top.metadata["position"] == 0
    assert top.metadata["retrievers"] == ["hybrid"]
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    hits = index.search("Which language is Qdrant written in?", k=3)
    assert [d.metadata["chunk_id"] for d in docs] == [h.chunk.id for h in hits]


def test_retriever_passes_mode_k_and_filters(index: QdrantIndex) -> None:
    docs = RaglineRetriever(index=index, k=5, mode="bm25",
                            filters={"topic": "pets"}).invoke("walk the dogs")
    assert docs and {d.metadata["doc_id"] for d in docs} == {"pets"}
    assert docs[0].page_content == FACTS["pets"][1]
    assert all(d.metadata["retrievers"] == ["bm25"] for d in docs)
    assert len(RaglineRetriever(index=index, k=2, mode="dense").invoke("Qdrant")) == 2


def test_retriever_validates_its_fields(index: QdrantIndex) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RaglineRetriever(index=index, mode="fuzzy")  # type: ignore[arg-type]


def test_retriever_in_an_lcel_chain(index: QdrantIndex) -> None:
    def cite(docs: list[LCDocument]) -> str:
        return "\n".join(f"[{d.metadata['doc_id']}] {d.page_content}" for d in docs)

    chain = RaglineRetriever(index=index, k=2) | RunnableLambda(cite)
    out = chain.invoke("the cat on the mat")
    assert out.splitlines()[0] == f"[pets] {FACTS['pets'][0]}"
    assert len(chain.batch(["Qdrant Rust", "BM25 term frequency"])) == 2


def test_retriever_works_async(index: QdrantIndex) -> None:
    import asyncio

    docs = asyncio.run(RaglineRetriever(index=index, k=1).ainvoke("Dogs need a walk"))
    assert docs[0].page_content == FACTS["pets"][1]


# -- LangChainEmbedder -------------------------------------------------------------------------


def test_embedder_vectors_are_normalised_float32() -> None:
    emb = LangChainEmbedder(DeterministicFakeEmbedding(size=16))
    assert emb.dimension == 16
    docs = emb.embed_documents(["one", "two", "three"])
    assert docs.shape == (3, 16) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    query = emb.embed_query("one")
    assert query.shape == (16,) and query.dtype == np.float32
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(query, docs[0], rtol=1e-6)  # the fake embeds by text hash
    assert emb.embed_documents([]).shape == (0, 16)
    assert emb.name == "langchain:DeterministicFakeEmbedding"


def test_embedder_probes_the_dimension_once() -> None:
    calls: list[str] = []

    class Counting(DeterministicFakeEmbedding):
        def embed_query(self, text: str) -> list[float]:
            calls.append(text)
            return super().embed_query(text)

    emb = LangChainEmbedder(Counting(size=8))
    assert emb.dimension == 8 and emb.dimension == 8
    assert len(calls) == 1
    other = LangChainEmbedder(Counting(size=8))
    other.embed_documents(["x"])
    assert other.dimension == 8 and len(calls) == 1  # learnt from the documents


def test_embedder_refuses_a_changing_dimension() -> None:
    fake = DeterministicFakeEmbedding(size=8)
    emb = LangChainEmbedder(fake)
    emb.embed_query("x")
    fake.size = 4
    with pytest.raises(ProviderError, match="length 4 after vectors of length 8"):
        emb.embed_documents(["y"])


def test_embedder_builds_a_qdrant_index(make_settings: Callable[..., Settings]) -> None:
    emb = LangChainEmbedder(DeterministicFakeEmbedding(size=16))
    settings = make_settings(embedder={"model": emb.name})
    with QdrantIndex.from_settings(settings, collection="fake", embedder=emb) as idx:
        assert idx.upsert(all_chunks()) == 5
        text = FACTS["pets"][0]
        hit = idx.search(text, k=1, mode="dense")[0]
        assert hit.chunk.text == text  # the same text gives the same vector
        assert hit.score == pytest.approx(1.0, abs=1e-4)
        docs = RaglineRetriever(index=idx, k=2, mode="dense").invoke(text)
        assert docs[0].page_content == text
    with QdrantIndex.from_settings(settings, collection="fake", embedder=emb) as idx:
        assert idx.count() == 5
        assert idx.transport.read_meta()["embedder"] == "langchain:DeterministicFakeEmbedding"
        assert idx.transport.read_meta()["dimension"] == 16


# -- LangChainChatModel ------------------------------------------------------------------------


class Recorder(BaseCallbackHandler):
    """Keeps the messages each chat-model call was started with."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: dict[str, Any],
                            messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.extend(messages)


REQUEST = ChatRequest(messages=(Message("system", "Answer briefly."),
                                Message("user", "What is Qdrant?"),
                                Message("assistant", "A vector database."),
                                Message("user", "Written in?")))


def test_chat_model_maps_roles_and_returns_text() -> None:
    recorder = Recorder()
    fake = FakeListChatModel(responses=["Rust."], callbacks=[recorder])
    model = LangChainChatModel(fake)
    assert model.name == "langchain:FakeListChatModel"
    response = model.generate(REQUEST)
    assert response.text == "Rust."
    assert response.cost is None and response.latency_ms >= 0
    # the fake reports no usage: counted with the tokenizer, marked estimated
    assert response.usage.estimated and response.usage.output_tokens == 2  # "Rust", "."
    assert response.usage.input_tokens > 10
    assert response.finish_reason == "stop"
    [sent] = recorder.calls
    assert [(m.type, m.content) for m in sent] == [
        ("system", "Answer briefly."), ("human", "What is Qdrant?"),
        ("ai", "A vector database."), ("human", "Written in?")]


def test_chat_model_reads_usage_metadata() -> None:
    reply = AIMessage(
        content=[{"type": "text", "text": "Rust"}, {"type": "text", "text": "."}],
        usage_metadata={"input_tokens": 100, "output_tokens": 7, "total_tokens": 107,
                        "input_token_details": {"cache_read": 60, "cache_creation": 10}},
        response_metadata={"model_name": "fake-1", "finish_reason": "length"})
    response = LangChainChatModel(GenericFakeChatModel(messages=iter([reply]))).generate(REQUEST)
    assert response.text == "Rust."
    assert response.model == "fake-1"
    assert response.finish_reason == "length"
    assert response.usage == Usage(input_tokens=30, output_tokens=7, cache_read_tokens=60,
                                   cache_write_tokens=10, estimated=False)
    plain = AIMessage(content="ok", usage_metadata={"input_tokens": 5, "output_tokens": 1,
                                                    "total_tokens": 6})
    response = LangChainChatModel(GenericFakeChatModel(messages=iter([plain]))).generate(REQUEST)
    assert response.usage == Usage(input_tokens=5, output_tokens=1)
    assert response.model == "langchain:GenericFakeChatModel"


def test_chat_model_streams_sync_and_async_with_the_usage_at_the_end() -> None:
    def reply() -> AIMessage:
        return AIMessage(content="Qdrant is written in Rust.",
                         usage_metadata={"input_tokens": 40, "output_tokens": 6,
                                         "total_tokens": 46})

    stream = LangChainChatModel(GenericFakeChatModel(messages=iter([reply()]))).stream(REQUEST)
    deltas = list(stream)
    assert len(deltas) > 1 and "".join(deltas) == "Qdrant is written in Rust."
    assert stream.response is not None
    assert stream.response.text == "Qdrant is written in Rust."
    # GenericFakeChatModel streams no usage metadata: counted locally, like a silent server
    assert stream.response.usage.estimated
    assert stream.response.usage.output_tokens == count_tokens("Qdrant is written in Rust.",
                                                               stream.response.model)

    async def consume() -> tuple[str, ChatResponse | None]:
        model = LangChainChatModel(GenericFakeChatModel(messages=iter([reply()])))
        astream = model.astream(REQUEST)
        text = "".join([delta async for delta in astream])
        return text, astream.response

    text, response = asyncio.run(consume())
    assert text == "Qdrant is written in Rust."
    assert response is not None and response.usage.output_tokens == 8
    answered = asyncio.run(LangChainChatModel(
        GenericFakeChatModel(messages=iter([reply()]))).agenerate(REQUEST))
    assert answered.text == "Qdrant is written in Rust."


def test_chat_model_errors_become_provider_errors() -> None:
    model = LangChainChatModel(GenericFakeChatModel(messages=iter([])))  # nothing left to say
    with pytest.raises(ProviderError, match="langchain:GenericFakeChatModel failed"):
        model.generate(REQUEST)


# -- without langchain-core ----------------------------------------------------------------------


def test_missing_langchain_core_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh copy of the module, with langchain-core hidden, refuses to import."""
    hidden = [n for n in sys.modules if n.split(".")[0] == "langchain_core"]
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)
    import ragline.integrations.langchain as real

    spec = importlib.util.spec_from_file_location("_ragline_lc_copy", real.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ProviderNotInstalled, match="pip install langchain-core"):
        spec.loader.exec_module(module)
