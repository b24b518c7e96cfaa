"""Routing: a router picks the tier whose model answers each request.

:class:`RoutedChatModel` asks its :class:`~ragline.routing.types.Router` for a
decision (reading the request's :class:`~ragline.types.RouteSignals`: the
query embedding and, for RAG requests, retrieval signals) and sends the
request to that tier's model. The decision is in the response's ``route``
(``"openai:gpt-4o (routed: knn: strong_score 0.71 >= threshold 0.55)"``) and,
through :func:`~ragline.cost.metered.route_reason`, in the ledger row of the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

from ragline.cost.metered import route_reason
from ragline.errors import ConfigError
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import decided, route_of
from ragline.routing.types import RouteDecision, Router
from ragline.types import ChatRequest, ChatResponse, RouteSignals


class RoutedChatModel:
    """Sends each request to the model of the tier ``router`` chooses.

    ``tiers`` maps tier names to their (wrapped) models; every tier a router may
    name must be there.
    """

    def __init__(self, router: Router, tiers: Mapping[str, ChatModel]) -> None:
        if not tiers:
            raise ConfigError("routing.tiers: a routed model needs at least one tier")
        self.router = router
        self.tiers = dict(tiers)

    @property
    def name(self) -> str:
        """``routed:<router>``."""
        return f"routed:{self.router.name}"

    @property
    def provider(self) -> str:
        """Always ``routed``: the provider is chosen per request."""
        return "routed"

    @property
    def model(self) -> str:
        """The strongest (last) tier's model, the one a budget estimate assumes."""
        return list(self.tiers.values())[-1].model

    def decide(self, request: ChatRequest) -> tuple[RouteDecision, ChatModel]:
        """The router's decision for ``request`` and the model of its tier."""
        decision = self.router.route(request, request.signals or RouteSignals(
            query=request.question or ""))
        model = self.tiers.get(decision.tier)
        if model is None:
            raise ConfigError(f"router {self.router.name} chose tier {decision.tier!r}, "
                              f"which is not in routing.tiers {sorted(self.tiers)}")
        return decision, model

    @staticmethod
    def _note(decision: RouteDecision) -> str:
        return f"routed: {decision.reason}"

    def _routed(self, response: ChatResponse, model: ChatModel,
                decision: RouteDecision) -> ChatResponse:
        return decided(response, f"{route_of(response, model)} ({self._note(decision)})")

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The chosen tier's response."""
        decision, model = self.decide(request)
        with route_reason(self._note(decision)):
            response = model.generate(request)
        return self._routed(response, model, decision)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`."""
        decision, model = self.decide(request)
        with route_reason(self._note(decision)):
            response = await model.agenerate(request)
        return self._routed(response, model, decision)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The chosen tier's stream."""

        def deltas() -> Iterator[Delta]:
            decision, model = self.decide(request)
            inner = model.stream(request)
            with route_reason(self._note(decision)):
                yield from inner
            if inner.response is not None:
                yield self._routed(inner.response, model, decision)

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            decision, model = self.decide(request)
            inner = model.astream(request)
            with route_reason(self._note(decision)):
                async for delta in inner:
                    yield delta
            if inner.response is not None:
                yield self._routed(inner.response, model, decision)

        return AsyncChatStream(deltas())
