"""Metering: every model call priced with the catalogue and written to the ledger.

:class:`CostMeter` wraps the models a pipeline uses — chat models, the
embedder, the reranker — in thin decorators with the same interface. Each
call they pass through becomes one ledger row carrying the query it belongs to
(:func:`query_scope` sets the query id, tenant, session and API key for the
code inside it, threads and async tasks included), its stage, token counts,
cost, latency and error. A failed call is recorded too: a stream that broke off
is charged for what it produced (the error's ``partial`` response), and so is
a stream the caller closed early (its tokens counted with the tokenizer).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ragline.cost.deferred import DeferredRows
from ragline.cost.ledger import CallRecord, Ledger
from ragline.cost.prices import PriceCatalogue
from ragline.errors import ProviderError
from ragline.models.chat import ChatModel
from ragline.models.rerank import Reranker
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.tokens import count_tokens, estimate_usage
from ragline.models.wrapper import ChatModelWrapper
from ragline.protocols import Embedder, Vectors
from ragline.types import ChatRequest, ChatResponse, ScoredChunk, Usage


@dataclass(frozen=True, slots=True)
class QueryScope:
    """Who a model call is made for: the query id and the tenant, session and API key."""

    query_id: str
    tenant: str
    session: str | None = None
    api_key: str | None = None


_scope: contextvars.ContextVar[QueryScope | None] = contextvars.ContextVar(
    "ragline_query_scope", default=None)
_route_reason: contextvars.ContextVar[str] = contextvars.ContextVar(
    "ragline_route_reason", default="")


def new_query_id() -> str:
    """A fresh, unique query id (32 hex characters)."""
    return uuid.uuid4().hex


def current_scope() -> QueryScope | None:
    """The scope set by the innermost :func:`query_scope`, or None outside any."""
    return _scope.get()


@contextmanager
def route_reason(reason: str) -> Iterator[str]:
    """Record ``reason`` as the route reason of every metered call inside the block.

    Nested reasons are joined with ``"; "``, outermost first, so a ledger row says
    every decision that led to its call (``routed: ...; fallback: ...``).
    """
    outer = _route_reason.get()
    joined = f"{outer}; {reason}" if outer and reason else outer or reason
    token = _route_reason.set(joined)
    try:
        yield joined
    finally:
        _route_reason.reset(token)


@contextmanager
def query_scope(scope: QueryScope) -> Iterator[QueryScope]:
    """Attribute every metered call made inside the block to ``scope``."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


class CostMeter:
    """Prices calls with ``catalogue`` and records them in ``ledger``.

    Calls made outside any :func:`query_scope` are recorded under a query id
    of their own and the ``default_tenant``.
    """

    def __init__(self, catalogue: PriceCatalogue, ledger: Ledger, *,
                 default_tenant: str = "default") -> None:
        self.catalogue = catalogue
        self.ledger = ledger
        self.default_tenant = default_tenant
        self.deferred = DeferredRows(ledger)

    def record(self, *, stage: str, provider: str, model: str, usage: Usage,
               latency_ms: float, error: str | None = None, route_reason: str = "",
               cache: str = "off", deferred: bool = False) -> Decimal | None:
        """Price one call, write its ledger row, and return its exact cost (None = unknown
        price). ``deferred`` (for a coroutine on an event loop) writes the row once the
        loop's current step ends (:mod:`ragline.cost.deferred`)."""
        scope = _scope.get() or QueryScope(new_query_id(), self.default_tenant)
        cost = self.catalogue.cost(model, usage)
        row = CallRecord.of(
            usage, query_id=scope.query_id, session=scope.session, tenant=scope.tenant,
            api_key=scope.api_key, stage=stage, provider=provider, model=model,
            route_reason=route_reason, cost_usd=cost,
            savings_usd=self.catalogue.savings(model, usage), latency_ms=latency_ms,
            cache=cache, error=error)
        if deferred:
            self.deferred.add(row)
        else:
            self.ledger.record(row)
        return cost

    def chat(self, model: ChatModel, *, stage: str = "generate",
             route_reason: str = "") -> MeteredChatModel:
        """``model`` with every call recorded under ``stage``."""
        return MeteredChatModel(model, self, stage=stage, route_reason=route_reason)

    def embedder(self, embedder: Embedder, *, model: str,
                 stage: str = "embed") -> MeteredEmbedder:
        """``embedder`` (named ``model`` in the catalogue) with every call recorded under
        ``stage`` (``judge`` when a judge embeds)."""
        return MeteredEmbedder(embedder, self, model=model, stage=stage)

    def reranker(self, reranker: Reranker, *, model: str) -> MeteredReranker:
        """``reranker`` with every call recorded as ``rerank``."""
        return MeteredReranker(reranker, self, model=model)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class MeteredChatModel(ChatModelWrapper):
    """A :class:`ChatModel` that records each call; responses carry their exact cost."""

    def __init__(self, inner: ChatModel, meter: CostMeter, *, stage: str,
                 route_reason: str = "") -> None:
        super().__init__(inner)
        self.meter = meter
        self.stage = stage
        self.route_reason = route_reason

    def _priced(self, response: ChatResponse, *, error: str | None = None,
                deferred: bool = False) -> ChatResponse:
        reason = "; ".join(r for r in (_route_reason.get(), self.route_reason) if r)
        cost = self.meter.record(
            stage=self.stage, provider=self.inner.provider, model=response.model,
            usage=response.usage, latency_ms=response.latency_ms, error=error,
            route_reason=reason, deferred=deferred)
        return replace(response, cost=cost)

    def _failed(self, request: ChatRequest, exc: ProviderError, started: float, *,
                deferred: bool = False) -> None:
        """Record a failed call: what it produced when it broke off, else no tokens."""
        partial = exc.partial if isinstance(exc.partial, ChatResponse) else ChatResponse(
            text="", model=request.model or self.inner.model, usage=Usage(), cost=None,
            latency_ms=_elapsed_ms(started), finish_reason="error")
        exc.partial = self._priced(partial, error=f"{type(exc).__name__}: {exc}",
                                   deferred=deferred)

    def _closed_early(self, request: ChatRequest, text: str, started: float, *,
                      why: str = "closed by the caller before the end of the stream",
                      deferred: bool = False) -> None:
        """Record a call the caller stopped: the provider billed what it had produced,
        which is counted with the tokenizer."""
        model = request.model or self.inner.model
        self._priced(ChatResponse(
            text=text, model=model, usage=estimate_usage(request.messages, text, model),
            cost=None, latency_ms=_elapsed_ms(started), finish_reason="closed"),
            error=why, deferred=deferred)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Generate with the wrapped model and record the call."""
        started = time.perf_counter()
        try:
            response = self.inner.generate(request)
        except ProviderError as exc:
            self._failed(request, exc, started)
            raise
        return self._priced(response)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; the ledger row is written once the event loop's
        current step ends (:mod:`ragline.cost.deferred`), so the caller does not wait on
        it."""
        started = time.perf_counter()
        try:
            response = await self.inner.agenerate(request)
        except ProviderError as exc:
            self._failed(request, exc, started, deferred=True)
            raise
        except asyncio.CancelledError:  # the prompt was sent: it may be billed
            self._closed_early(request, "", started, deferred=True,
                               why="cancelled before the reply (the client went away)")
            raise
        return self._priced(response, deferred=True)

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream from the wrapped model; the call is recorded when the stream ends or breaks."""

        def deltas() -> Iterator[Delta]:
            started = time.perf_counter()
            inner = self.inner.stream(request)
            produced: list[str] = []
            try:
                for delta in inner:
                    produced.append(delta)
                    yield delta
            except ProviderError as exc:
                self._failed(request, exc, started)
                raise
            except GeneratorExit:
                inner.close()
                self._closed_early(request, "".join(produced), started)
                raise
            if inner.response is not None:
                yield self._priced(inner.response)

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            started = time.perf_counter()
            inner = self.inner.astream(request)
            produced: list[str] = []
            try:
                async for delta in inner:
                    produced.append(delta)
                    yield delta
            except ProviderError as exc:
                self._failed(request, exc, started)
                raise
            except GeneratorExit:
                await inner.aclose()
                self._closed_early(request, "".join(produced), started)
                raise
            if inner.response is not None:
                yield self._priced(inner.response)

        return AsyncChatStream(deltas())


def _timed(meter: CostMeter, *, stage: str, provider: str, model: str,
           count: Callable[[], int], call: Callable[[], Any]) -> Any:
    """Run ``call``, then record it with ``count()`` estimated input tokens (or its error)."""
    started = time.perf_counter()
    try:
        result = call()
    except Exception as exc:
        meter.record(stage=stage, provider=provider, model=model, usage=Usage(estimated=True),
                     latency_ms=_elapsed_ms(started), error=f"{type(exc).__name__}: {exc}")
        raise
    meter.record(stage=stage, provider=provider, model=model,
                 usage=Usage(input_tokens=count(), estimated=True),
                 latency_ms=_elapsed_ms(started))
    return result


class MeteredEmbedder:
    """An :class:`~ragline.protocols.Embedder` that records each call (stage ``embed``
    unless told otherwise).

    Local embedders report no usage, so input tokens are counted with the
    tokenizer and marked estimated.
    """

    def __init__(self, inner: Embedder, meter: CostMeter, *, model: str,
                 stage: str = "embed") -> None:
        self.inner = inner
        self.meter = meter
        self.model = model
        self.stage = stage

    @property
    def dimension(self) -> int:
        """The wrapped embedder's vector length."""
        return self.inner.dimension

    def _tokens(self, texts: Sequence[str]) -> int:
        return sum(count_tokens(text, self.model) for text in texts)

    def embed_documents(self, texts: list[str]) -> Vectors:
        """Embed passages with the wrapped embedder and record the call."""
        result: Vectors = _timed(self.meter, stage=self.stage, provider="local",
                                 model=self.model, count=lambda: self._tokens(texts),
                                 call=lambda: self.inner.embed_documents(texts))
        return result

    def embed_query(self, text: str) -> Vectors:
        """Embed one query with the wrapped embedder and record the call."""
        result: Vectors = _timed(self.meter, stage=self.stage, provider="local",
                                 model=self.model, count=lambda: self._tokens([text]),
                                 call=lambda: self.inner.embed_query(text))
        return result

    def __getattr__(self, name: str) -> Any:
        """Everything else (``warm_up``, ``max_tokens``...) is the wrapped embedder's."""
        return getattr(self.inner, name)


class MeteredReranker:
    """A :class:`~ragline.models.rerank.Reranker` that records each call as stage ``rerank``."""

    def __init__(self, inner: Reranker, meter: CostMeter, *, model: str) -> None:
        self.inner = inner
        self.meter = meter
        self.model = model

    def rerank(self, query: str, chunks: Sequence[ScoredChunk], *,
               top_k: int | None = None) -> list[ScoredChunk]:
        """Rerank with the wrapped reranker; input tokens are query + passage per pair."""
        def count() -> int:
            per_query = count_tokens(query, self.model)
            return sum(per_query + count_tokens(c.chunk.text, self.model) for c in chunks)

        result: list[ScoredChunk] = _timed(
            self.meter, stage="rerank", provider="local", model=self.model, count=count,
            call=lambda: self.inner.rerank(query, chunks, top_k=top_k))
        return result

