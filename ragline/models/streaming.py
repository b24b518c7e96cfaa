"""Streamed replies: text deltas as they arrive, then the whole response with its usage.

A provider's streaming generator yields ``str`` deltas and, last, one
:class:`~ragline.types.ChatResponse` (text, usage, finish reason). The two
wrappers here hide that convention: iterating them gives only the text, and
``response`` holds the final ChatResponse once the stream is exhausted, so
token counts (and therefore cost) never vanish when a caller streams.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, Self, TypeVar

from ragline.types import ChatResponse

Delta = str | ChatResponse
T = TypeVar("T")
R = TypeVar("R")


class DeltaStream(Iterator[str], Generic[T]):
    """Iterate the text deltas of a source that ends with one non-text item, which is kept
    as ``final`` (None until the stream is exhausted).

    With a ``context``, every step of the source runs in it (``Context.run``): context
    variables the source sets (a query scope, a deadline) stay in that context and never
    reach the caller's code between deltas.
    """

    def __init__(self, source: Iterator[str | T], *,
                 context: contextvars.Context | None = None) -> None:
        self._source = source
        self._context = context
        self.final: T | None = None

    def __iter__(self) -> Self:
        return self

    def _run(self, step: Callable[[], R]) -> R:
        return self._context.run(step) if self._context is not None else step()

    def __next__(self) -> str:
        item = self._run(lambda: next(self._source))
        if not isinstance(item, str):
            self.final = item
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop early: closes the underlying generator (and what it holds open)."""
        close = getattr(self._source, "close", None)
        if close is not None:
            self._run(close)


class ChatStream(DeltaStream[ChatResponse]):
    """Iterate the text deltas of a reply; ``response`` is set when the stream ends."""

    @property
    def response(self) -> ChatResponse | None:
        """The whole reply with its usage, once the stream is exhausted."""
        return self.final


class AsyncChatStream(AsyncIterator[str]):
    """The async twin of :class:`ChatStream`."""

    def __init__(self, source: AsyncIterator[Delta]) -> None:
        self._source = source
        self.response: ChatResponse | None = None

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> str:
        item = await anext(self._source)
        if isinstance(item, ChatResponse):
            self.response = item
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop early: closes the underlying async generator."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


def word_deltas(response: ChatResponse) -> Iterator[Delta]:
    """A complete ``response`` as a stream: its text word by word (each word with its
    trailing space), then ``response`` itself."""
    yield from re.findall(r"\S+\s*", response.text)
    yield response
