"""The base of every chat-model wrapper: a ChatModel that holds another one.

:class:`ChatModelWrapper` passes the name, provider, model, ``warm_up`` and all
four calls through to ``inner``; a wrapper (metering in ``ragline.cost``, the
orchestration wrappers of ``ragline.routing``) overrides the calls it acts on.
:func:`decided` stamps a response with the route a wrapper chose, keeping the
timings of the steps below it.
"""

from __future__ import annotations

from dataclasses import replace

from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream
from ragline.types import ChatRequest, ChatResponse


def route_of(response: ChatResponse, model: ChatModel) -> str:
    """The route that produced ``response``: what the wrappers below said, else the model."""
    return response.route or model.name


def decided(response: ChatResponse, route: str, **timings: float) -> ChatResponse:
    """``response`` with ``route`` and ``timings`` (ms, added to those it has) recorded."""
    return replace(response, route=route, timings={**response.timings, **timings})


class ChatModelWrapper:
    """A :class:`~ragline.models.chat.ChatModel` that delegates everything to ``inner``."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        """The wrapped model's ``provider:model`` name."""
        return self.inner.name

    @property
    def provider(self) -> str:
        """The wrapped model's provider."""
        return self.inner.provider

    @property
    def model(self) -> str:
        """The wrapped model's default model name."""
        return self.inner.model

    def warm_up(self) -> None:
        """Load the wrapped model now (when it has anything to load)."""
        warm_up = getattr(self.inner, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The wrapped model's response."""
        return self.inner.generate(request)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`."""
        return await self.inner.agenerate(request)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The wrapped model's stream."""
        return self.inner.stream(request)

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""
        return self.inner.astream(request)
