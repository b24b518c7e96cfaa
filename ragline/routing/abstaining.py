"""The outermost answer policy of a RAG request: decline, or answer yes/no, or pass on.

:class:`AbstainingChatModel` wraps the whole stack. For a RAG request (one with a
question and passages) it

1. answers a yes/no question from the passages with the offline judge
   (:func:`~ragline.verify.yesno.answer_yes_no`, only when ``yes_no`` is on: the
   in-process generators cannot reason about one), citing the passage of each part,
   and declines one whose parts are not all supported when at least one is (a
   question nothing supports goes on to the model, and to the checks below);
2. declines before any generation when the abstention rules or the calibrated
   score say the passages do not answer (:class:`~ragline.verify.abstention.
   Abstainer`); when the score reads the model's confidence, after generation;
3. otherwise returns the inner model's answer.

A declined answer's text is :func:`~ragline.verify.abstention.declined_text` and its
route ``abstained (<reason>)``; a yes/no answer's route is ``yes/no (offline judge)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta, word_deltas
from ragline.models.wrapper import ChatModelWrapper
from ragline.types import ChatRequest, ChatResponse, Usage
from ragline.verify.abstention import ABSTAINED, Abstainer, declined_text
from ragline.verify.types import Judge
from ragline.verify.yesno import answer_yes_no, is_yes_no

YES_NO_ROUTE = "yes/no (offline judge)"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class AbstainingChatModel(ChatModelWrapper):
    """Declines what the passages do not answer; see the module docstring."""

    def __init__(self, inner: ChatModel, abstainer: Abstainer, *, judge: Judge | None = None,
                 yes_no: bool = False) -> None:
        super().__init__(inner)
        self.abstainer = abstainer
        self.judge = judge
        self.yes_no = yes_no and judge is not None

    def direct(self, request: ChatRequest) -> ChatResponse | None:
        """The answer decided without the inner model (a yes/no answer, or a decline),
        or None when the inner model should answer."""
        if not request.question or not request.passages:
            return None
        started = time.perf_counter()
        question, passages = request.question, request.passages
        if self.yes_no and self.judge is not None and is_yes_no(question):
            verdict = answer_yes_no(question, passages, judge=self.judge)
            if verdict is not None and verdict.verdict != "declined":
                return ChatResponse(text=verdict.text, model="offline-judge", usage=Usage(),
                                    cost=None, latency_ms=_ms(started), route=YES_NO_ROUTE,
                                    timings={"yes_no": _ms(started)})
            if verdict is not None and any(p.verdict == "supported" for p in verdict.parts):
                missing = next(p.claim for p in verdict.parts if p.verdict != "supported")
                return self._declined(request, f"not every part is supported: {missing!r}",
                                      started)
        if self.abstainer.reads_confidence:
            reason = self.abstainer.rule(question, passages)
        else:
            reason = self.abstainer.reason(question, passages)
        return None if reason is None else self._declined(request, reason, started)

    def after(self, request: ChatRequest, response: ChatResponse) -> ChatResponse:
        """``response``, or a decline when the calibrated score reads the model's
        confidence and finds the passages do not answer."""
        if (not self.abstainer.reads_confidence or not request.question
                or not request.passages):
            return response
        started = time.perf_counter()
        reason = self.abstainer.reason(request.question, request.passages,
                                       response.confidence)
        if reason is None:
            return response
        declined = self._declined(request, reason, started)
        return replace(declined, usage=response.usage, cost=response.cost,
                       model=response.model, latency_ms=response.latency_ms)

    def _declined(self, request: ChatRequest, reason: str, started: float) -> ChatResponse:
        return ChatResponse(text=declined_text(request.passages), model="abstained",
                            usage=Usage(), cost=None, latency_ms=_ms(started),
                            route=f"{ABSTAINED} ({reason})", timings={"abstain": _ms(started)})

    def generate(self, request: ChatRequest) -> ChatResponse:
        """A direct answer, or the inner model's unless it is declined afterwards."""
        direct = self.direct(request)
        if direct is not None:
            return direct
        return self.after(request, self.inner.generate(request))

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; the checks run in a worker thread (they embed)."""
        direct = await asyncio.to_thread(self.direct, request)
        if direct is not None:
            return direct
        response = await self.inner.agenerate(request)
        return await asyncio.to_thread(self.after, request, response)

    def stream(self, request: ChatRequest) -> ChatStream:
        """A direct answer word by word, or the inner stream, whose final response is
        replaced by a decline when the check after generation declines."""
        return ChatStream(self._stream(request))

    def _stream(self, request: ChatRequest) -> Iterator[Delta]:
        direct = self.direct(request)
        if direct is not None:
            yield from word_deltas(direct)
            return
        inner = self.inner.stream(request)
        try:
            yield from inner
        finally:
            inner.close()
        if inner.final is not None:
            yield self.after(request, inner.final)

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""
        return AsyncChatStream(self._astream(request))

    async def _astream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        direct = await asyncio.to_thread(self.direct, request)
        if direct is not None:
            for item in word_deltas(direct):
                yield item
            return
        inner = self.inner.astream(request)
        try:
            async for delta in inner:
                yield delta
        finally:
            await inner.aclose()
        if inner.response is not None:
            yield await asyncio.to_thread(self.after, request, inner.response)

