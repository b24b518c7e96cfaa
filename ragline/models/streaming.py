"""Streamed replies: text deltas as they arrive, then the whole response with its usage.

A provider's streaming generator yields ``str`` deltas and, last, one
:class:`~ragline.types.ChatResponse` (text, usage, finish reason). The two
wrappers here hide that convention: iterating them gives only the text, and
``response`` holds the final ChatResponse once the stream is exhausted, so
token counts (and therefore cost) never vanish when a caller streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from ragline.types import ChatResponse

Delta = str | ChatResponse


class ChatStream(Iterator[str]):
    """Iterate the text deltas of a reply; ``response`` is set when the stream ends."""

    def __init__(self, source: Iterator[Delta]) -> None:
        self._source = source
        self.response: ChatResponse | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        item = next(self._source)
        if isinstance(item, ChatResponse):
            self.response = item
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop early: closes the underlying generator (and its HTTP response)."""
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


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
