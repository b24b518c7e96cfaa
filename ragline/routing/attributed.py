"""Post-hoc citations: a model's free-form RAG answer gets ``[n]`` markers after the fact.

:class:`AttributingChatModel` wraps a chat model whose answers may carry no
citation markers. For a RAG request (one that carries ``passages``) it runs
:func:`~ragline.verify.attribution.attribute` on the answer: each uncited
sentence that a passage supports on its own gets that passage's marker, so an
answer check downstream (:class:`~ragline.verify.guard.AnswerCheck`) can accept
it instead of falling back. The response keeps the inner route; its
``timings["attribute"]`` holds the ms the attribution took. Requests without
passages pass through untouched.

Streams pass their text deltas through as they come (what was sent cannot be
re-cited); the final :class:`~ragline.types.ChatResponse` of the stream carries
the attributed text. Async calls run the attribution in a worker thread, so a
judge that embeds or calls out never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import ChatModelWrapper, decided
from ragline.types import ChatRequest, ChatResponse
from ragline.verify.attribution import attribute
from ragline.verify.types import Judge

__all__ = ["AttributingChatModel"]


class AttributingChatModel(ChatModelWrapper):
    """``inner`` whose RAG answers get citation markers from ``judge`` (see the module
    docstring): a RAG response keeps its route, usage, model and finish reason, gains
    ``timings["attribute"]`` (ms), and loses a ``support`` verdict the inner response
    carried when markers were added (that verdict judged the text before them).
    """

    def __init__(self, inner: ChatModel, judge: Judge) -> None:
        super().__init__(inner)
        self.judge = judge

    def attributed(self, request: ChatRequest, response: ChatResponse) -> ChatResponse:
        """``response`` with its text cited against ``request.passages`` and the time it
        took in ``timings["attribute"]`` (ms); ``response`` itself for a non-RAG request."""
        if not request.passages:
            return response
        started = time.perf_counter()
        result = attribute(response.text, request.passages, judge=self.judge)
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        if result.added:
            response = replace(response, text=result.text, support=None)
        return decided(response, response.route, attribute=elapsed)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The inner model's response, its uncited sentences cited where a passage supports
        them."""
        return self.attributed(request, self.inner.generate(request))

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; the attribution runs in a worker thread."""
        response = await self.inner.agenerate(request)
        if not request.passages:
            return response
        return await asyncio.to_thread(self.attributed, request, response)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The inner model's stream: the same text deltas, then its final response with the
        attributed text. A non-RAG request gets the inner stream itself."""
        inner = self.inner.stream(request)
        if not request.passages:
            return inner

        def deltas() -> Iterator[Delta]:
            try:
                yield from inner
                if inner.response is not None:
                    yield self.attributed(request, inner.response)
            finally:
                inner.close()

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`; the attribution runs in a worker thread."""
        inner = self.inner.astream(request)
        if not request.passages:
            return inner

        async def deltas() -> AsyncIterator[Delta]:
            try:
                async for delta in inner:
                    yield delta
                if inner.response is not None:
                    yield await asyncio.to_thread(self.attributed, request, inner.response)
            finally:
                await inner.aclose()

        return AsyncChatStream(deltas())
