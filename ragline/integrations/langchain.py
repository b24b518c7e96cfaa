"""LangChain adapters: ragline as a LangChain retriever, LangChain models inside ragline.

* :class:`RaglineRetriever` is a LangChain ``BaseRetriever`` over a ragline
  :class:`~ragline.protocols.Index` (a ``QdrantIndex``), so ragline's hybrid search plugs into
  LCEL chains (``retriever | prompt | llm``).
* :class:`LangChainEmbedder` wraps any LangChain ``Embeddings`` as a ragline
  :class:`~ragline.models.embedder.Embedder` (float32, L2-normalised vectors).
* :class:`RaglineEmbeddings` is the other way round: a ragline embedder as
  LangChain ``Embeddings``, e.g. to build a LangChain vector store that ragline
  can then search with the same model.
* :class:`LangChainChatModel` wraps any LangChain ``BaseChatModel`` as a ragline
  :class:`~ragline.models.chat.ChatModel`.

Needs ``langchain-core`` (``pip install langchain-core``); importing this module
without it raises :class:`~ragline.errors.ProviderNotInstalled`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np

from ragline.errors import ProviderError, ProviderNotInstalled

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document as LCDocument
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        BaseMessageChunk,
        HumanMessage,
        SystemMessage,
    )
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:
    raise ProviderNotInstalled(
        "the LangChain integration needs langchain-core: pip install langchain-core",
        provider="langchain") from exc

from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.tokens import estimate_usage
from ragline.protocols import Embedder, Index, Vectors
from ragline.types import ChatRequest, ChatResponse, Message, SearchMode, Usage

__all__ = ["LangChainChatModel", "LangChainEmbedder", "RaglineEmbeddings", "RaglineRetriever"]

_PROBE = "ragline dimension probe"


class RaglineRetriever(BaseRetriever):
    """A LangChain retriever that searches a ragline :class:`~ragline.protocols.Index`.

    Each hit becomes a LangChain ``Document`` whose ``page_content`` is the chunk
    text, whose ``id`` is the chunk id, and whose metadata is the chunk's own
    metadata plus ``chunk_id``, ``doc_id``, ``position``, ``score`` and
    ``retrievers`` (the ragline retrievers that found it). Documents come best first.

    Example::

        embedder = embedder_from_settings(settings.embedder)
        index = QdrantIndex.from_settings(settings, embedder=embedder)
        retriever = RaglineRetriever(index=index, k=4)
        docs = retriever.invoke("What is BM25?")
    """

    index: Index
    """The ragline index to search (e.g. a :class:`~ragline.rag.index.QdrantIndex`)."""
    k: int = 5
    """How many documents to return."""
    mode: SearchMode = "hybrid"
    """``dense``, ``bm25`` or ``hybrid`` (RRF fusion inside Qdrant)."""
    filters: dict[str, Any] | None = None
    """Metadata filters passed to ``Index.search`` (lists mean any-of)."""

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        """Search the index and convert each hit to a LangChain ``Document``."""
        hits = self.index.search(query, k=self.k, filters=self.filters, mode=self.mode)
        return [
            LCDocument(
                page_content=hit.chunk.text,
                metadata={**hit.chunk.metadata, "chunk_id": hit.chunk.id,
                          "doc_id": hit.chunk.doc_id, "position": hit.chunk.position,
                          "score": float(hit.score), "retrievers": list(hit.retrievers)},
                id=hit.chunk.id)
            for hit in hits]


def _normalise(vectors: Any) -> Vectors:
    """Return ``vectors`` as float32 rows scaled to unit length (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    result: Vectors = (array / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return result


class LangChainEmbedder:
    """A ragline :class:`~ragline.models.embedder.Embedder` over LangChain ``Embeddings``.

    Vectors are returned as float32 and L2-normalised, so the cosine distance the
    index uses is right whatever the wrapped model returns. ``dimension`` is
    learnt from the first embedding made (or from embedding a short probe text
    once, if asked before any) and then cached.

    ``QdrantIndex.from_settings`` records ``settings.embedder.model`` in the
    collection, so give it a name for this model, e.g. :attr:`name`.
    """

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        """``langchain:<Embeddings class>``, a default value for ``embedder.model``."""
        return f"langchain:{type(self.embeddings).__name__}"

    @property
    def dimension(self) -> int:
        """Length of every vector; embeds a probe text once if nothing was embedded yet."""
        if self._dimension is None:
            self.embed_query(_PROBE)
        assert self._dimension is not None
        return self._dimension

    def _check(self, vectors: Vectors) -> Vectors:
        size = int(vectors.shape[-1])
        if self._dimension is None:
            self._dimension = size
        elif size != self._dimension:
            raise ProviderError(
                f"{type(self.embeddings).__name__} returned vectors of length {size} "
                f"after vectors of length {self._dimension}", provider="langchain")
        return vectors

    def embed_documents(self, texts: list[str]) -> Vectors:
        """Embed passages; normalised float32 array of shape ``(len(texts), dimension)``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = _normalise(self.embeddings.embed_documents(list(texts)))
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ProviderError(
                f"{type(self.embeddings).__name__} returned {vectors.shape} for "
                f"{len(texts)} texts", provider="langchain")
        return self._check(vectors)

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; a normalised float32 vector of shape ``(dimension,)``."""
        vector = _normalise(self.embeddings.embed_query(text))
        if vector.ndim != 1:
            raise ProviderError(f"{type(self.embeddings).__name__} returned {vector.shape} "
                                "for one query", provider="langchain")
        return self._check(vector)


class RaglineEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over a ragline :class:`~ragline.protocols.Embedder`.

    Returns exactly the ragline embedder's vectors as lists of floats, so a
    LangChain vector store built with it can be searched by ragline with the
    same embedder (and the other way round).
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages with the ragline embedder; one list of floats per text."""
        vectors: list[list[float]] = self.embedder.embed_documents(list(texts)).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query with the ragline embedder."""
        vector: list[float] = self.embedder.embed_query(text).tolist()
        return vector


def _to_langchain(message: Message) -> BaseMessage:
    if message.role == "system":
        return SystemMessage(content=message.content)
    if message.role == "assistant":
        return AIMessage(content=message.content)
    return HumanMessage(content=message.content)


def _text_of(message: BaseMessage) -> str:
    """The text of a message whose content is a string or a list of content blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _usage_of(message: BaseMessage, request: ChatRequest, model: str) -> Usage:
    """ragline usage from ``AIMessage.usage_metadata``; counted with the tokenizer when absent.

    LangChain's ``input_tokens`` counts every input token; ragline's counts the
    uncached ones, with cache reads and writes apart (as the Anthropic API does).
    """
    meta = getattr(message, "usage_metadata", None)
    if not meta:
        return estimate_usage(request.messages, _text_of(message), model)
    details = meta.get("input_token_details") or {}
    read = int(details.get("cache_read") or 0)
    write = int(details.get("cache_creation") or 0)
    return Usage(input_tokens=max(int(meta.get("input_tokens") or 0) - read - write, 0),
                 output_tokens=int(meta.get("output_tokens") or 0),
                 cache_read_tokens=read, cache_write_tokens=write)


class LangChainChatModel:
    """A ragline :class:`~ragline.models.chat.ChatModel` over a LangChain ``BaseChatModel``.

    Messages map to ``SystemMessage``, ``HumanMessage`` and ``AIMessage`` and are
    sent with ``invoke`` / ``ainvoke``, or ``stream`` / ``astream`` (whose chunks
    are summed for the final usage). Generation options (``max_tokens``,
    ``temperature``, the model id) are the LangChain model's own: configure them
    when building it, because ragline's ``ChatRequest`` values are not passed on.
    ``cost`` is always None (``ragline.cost`` prices responses); usage the model does
    not report is counted with the tokenizer and marked estimated.
    """

    provider = "langchain"

    def __init__(self, chat_model: BaseChatModel) -> None:
        self.chat_model = chat_model

    @property
    def model(self) -> str:
        """The LangChain chat model's class name."""
        return type(self.chat_model).__name__

    @property
    def name(self) -> str:
        """``langchain:<chat model class>``."""
        return f"langchain:{self.model}"

    def _failed(self, exc: Exception, partial: ChatResponse | None = None) -> ProviderError:
        return ProviderError(f"{self.name} failed: {exc}", provider="langchain",
                             model=self.model, partial=partial)

    def _response(self, request: ChatRequest, reply: BaseMessage, started: float,
                  finish_reason: str | None = None) -> ChatResponse:
        raw = reply.response_metadata or {}
        model = raw.get("model_name") or raw.get("model") or self.name
        finish = finish_reason or raw.get("finish_reason") or raw.get("stop_reason") or "stop"
        return ChatResponse(text=_text_of(reply), model=str(model),
                            usage=_usage_of(reply, request, str(model)), cost=None,
                            latency_ms=(time.perf_counter() - started) * 1000,
                            finish_reason=str(finish), provider_raw=reply)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Invoke the LangChain model on the request's messages and normalise the reply."""
        started = time.perf_counter()
        try:
            reply = self.chat_model.invoke([_to_langchain(m) for m in request.messages])
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._response(request, reply, started)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`, with ``ainvoke``."""
        started = time.perf_counter()
        try:
            reply = await self.chat_model.ainvoke([_to_langchain(m) for m in request.messages])
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._response(request, reply, started)

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream the LangChain model's chunks as text; a failure carries the partial reply."""
        return ChatStream(self._stream(request))

    def _stream(self, request: ChatRequest) -> Iterator[Delta]:
        started = time.perf_counter()
        merged: BaseMessageChunk = AIMessageChunk(content="")
        try:
            for chunk in self.chat_model.stream([_to_langchain(m) for m in request.messages]):
                merged += chunk
                if text := _text_of(chunk):
                    yield text
        except Exception as exc:
            raise self._failed(exc, self._response(request, merged, started, "error")) from exc
        yield self._response(request, merged, started)

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`, with ``astream``."""
        return AsyncChatStream(self._astream(request))

    async def _astream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        started = time.perf_counter()
        merged: BaseMessageChunk = AIMessageChunk(content="")
        try:
            async for chunk in self.chat_model.astream(
                    [_to_langchain(m) for m in request.messages]):
                merged += chunk
                if text := _text_of(chunk):
                    yield text
        except Exception as exc:
            raise self._failed(exc, self._response(request, merged, started, "error")) from exc
        yield self._response(request, merged, started)
