"""Cascades: answer on a cheap tier, score the answer, escalate when it scores low.

:class:`CascadeChatModel` asks its tiers in order, cheapest first. Each answer
but the last tier's is scored (:mod:`ragline.routing.scorers`); one at or above
``threshold`` stands, one below it sends the request up a tier. Every attempt
is a metered call, so the ledger holds the cascade's true cost, cheap attempts
included; escalated calls carry ``cascade: ...`` as their route reason, and the
response's ``route`` says which tier answered with which score.

A cascade cannot know which answer stands before it is scored, so its streams
deliver the standing answer in one piece once it is decided.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence

from ragline.cost.metered import route_reason
from ragline.errors import InvalidInput
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import decided, route_of
from ragline.routing.scorers import AnswerScorer
from ragline.types import ChatRequest, ChatResponse


class CascadeChatModel:
    """``tiers`` tried cheapest first until an answer scores ``threshold`` or more."""

    def __init__(self, tiers: Sequence[ChatModel], scorer: AnswerScorer, *,
                 threshold: float) -> None:
        if not tiers:
            raise InvalidInput("a cascade needs at least one tier")
        self.tiers = tuple(tiers)
        self.scorer = scorer
        self.threshold = threshold

    @property
    def name(self) -> str:
        """``cascade:<first tier>``."""
        return f"cascade:{self.tiers[0].name}"

    @property
    def provider(self) -> str:
        """Always ``cascade``: the answering provider depends on the scores."""
        return "cascade"

    @property
    def model(self) -> str:
        """The last tier's model: the most a request can cost."""
        return self.tiers[-1].model

    def _scored(self, request: ChatRequest, response: ChatResponse, model: ChatModel,
                notes: list[str], timings: dict[str, float]) -> ChatResponse | None:
        """A cheap tier's response as it stands, or None (a note added) to escalate."""
        started = time.perf_counter()
        score = self.scorer.score(request, response, model)
        timings["score"] = timings.get("score", 0.0) + round(
            (time.perf_counter() - started) * 1000, 3)
        if score.value >= self.threshold:
            notes.append(f"{self.scorer.name} {score.value:.2f} >= {self.threshold:g}")
            return self._standing(response, model, notes, timings)
        notes.append(f"{model.name} {self.scorer.name} {score.value:.2f} < "
                     f"{self.threshold:g} ({score.reason}), escalated")
        return None

    @staticmethod
    def _standing(response: ChatResponse, model: ChatModel, notes: list[str],
                  timings: dict[str, float]) -> ChatResponse:
        trail = f" (cascade: {'; '.join(notes)})" if notes else ""
        return decided(response, route_of(response, model) + trail, **timings)

    @staticmethod
    def _reason(notes: list[str]) -> str:
        return f"cascade: {notes[-1]}" if notes else "cascade: first tier"

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The first answer that scores well enough, else the last tier's."""
        notes: list[str] = []
        timings: dict[str, float] = {}
        for model in self.tiers[:-1]:
            with route_reason(self._reason(notes)):
                response = model.generate(request)
            standing = self._scored(request, response, model, notes, timings)
            if standing is not None:
                return standing
        with route_reason(self._reason(notes)):
            response = self.tiers[-1].generate(request)
        return self._standing(response, self.tiers[-1], notes, timings)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate` (scoring runs on the event loop's thread)."""
        notes: list[str] = []
        timings: dict[str, float] = {}
        for model in self.tiers[:-1]:
            with route_reason(self._reason(notes)):
                response = await model.agenerate(request)
            standing = self._scored(request, response, model, notes, timings)
            if standing is not None:
                return standing
        with route_reason(self._reason(notes)):
            response = await self.tiers[-1].agenerate(request)
        return self._standing(response, self.tiers[-1], notes, timings)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The standing answer of :meth:`generate`, delivered in one piece."""

        def deltas() -> Iterator[Delta]:
            response = self.generate(request)
            yield response.text
            yield response

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            response = await self.agenerate(request)
            yield response.text
            yield response

        return AsyncChatStream(deltas())
