"""The routing contract: what a router reads, what it decides, and the protocol it meets.

A :class:`Router` looks at a :class:`~ragline.types.ChatRequest` and the request's
:class:`~ragline.types.RouteSignals` (the query embedding, computed once per
request and shared with retrieval, and the retrieval signals of a RAG request) and
returns a :class:`RouteDecision`: which tier of the ``routing.tiers`` config
answers, the model behind it, the router's score and a reason that lands in
``Answer.route`` and the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragline.types import ChatRequest, RouteSignals


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """A router's choice: the ``tier`` name, its ``provider:model``, the router's score
    (for a trained router, its estimate that the strong model is needed) and why."""

    tier: str
    model: str
    score: float
    reason: str


@runtime_checkable
class Router(Protocol):
    """Chooses the tier that answers a request."""

    @property
    def name(self) -> str:
        """The router's kind as shown in route reasons: ``rules``, ``knn``, ``logreg``..."""
        ...

    def route(self, request: ChatRequest, signals: RouteSignals) -> RouteDecision:
        """The tier for ``request``; never calls a chat model."""
        ...


def routed_text(request: ChatRequest) -> str | None:
    """The text a router judges: the request's ``question``, else its last user message;
    None when it has neither."""
    if request.question:
        return request.question
    users = [m.content for m in request.messages if m.role == "user"]
    return users[-1] if users else None
