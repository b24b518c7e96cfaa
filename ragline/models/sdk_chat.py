"""What the SDK-backed providers (``openai``, ``anthropic``) share: the call plumbing.

:class:`SdkChatModel` holds the sync and async SDK clients, the per-attempt
timeout and the :class:`~ragline.models.retry.RetryPolicy`, and turns the four
public calls (generate, agenerate, stream, astream) into retried attempts whose
SDK errors become :class:`~ragline.errors.ProviderError` subclasses. A provider
says only how to call its API (:meth:`SdkChatModel._create`), how to read a
whole reply (:meth:`SdkChatModel._response`) and how to fold one stream event
into the reply being built (:meth:`SdkChatModel._fold`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Any

from ragline.errors import ProviderError
from ragline.models.provider_errors import translated_errors
from ragline.models.replies import ReplyBuilder
from ragline.models.retry import RetryPolicy
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.types import ChatRequest, ChatResponse


class SdkChatModel(ABC):
    """Base of the providers over an official SDK; see the module docstring.

    Each attempt may take ``timeout_s``; ``retry`` says how failed attempts are
    retried (429, 5xx, timeouts, connection errors); streams are retried only
    until their first text arrives.
    """

    provider: str

    def __init__(self, *, model: str, sdk: Any, client: Any, async_client: Any,
                 timeout_s: float, retry: RetryPolicy | None) -> None:
        self.model = model
        self.name = f"{self.provider}:{model}"
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._sdk = sdk
        self._client = client
        self._async_client = async_client

    @abstractmethod
    def _create(self, client: Any, request: ChatRequest, *, stream: bool) -> Any:
        """Call the API with the SDK ``client``: a reply, an event stream, or an awaitable."""

    @abstractmethod
    def _response(self, raw: Any, request: ChatRequest, started: float) -> ChatResponse:
        """Normalise one whole SDK reply."""

    @abstractmethod
    def _fold(self, reply: ReplyBuilder, event: Any) -> str:
        """Fold one stream event into ``reply``; return its text delta ("" if none)."""

    def _sdk_client(self, client: Any, argument: str) -> Any:
        if client is None:
            raise ProviderError(f"{self.name} was built without {argument}=; pass one to call "
                                "it this way", provider=self.provider, model=self.model)
        return client

    def _errors(self, request: ChatRequest,
                reply: ReplyBuilder | None = None) -> AbstractContextManager[None]:
        return translated_errors(self._sdk, provider=self.provider,
                                 model=request.model or self.model,
                                 partial=reply.partial if reply else lambda: None)

    def _generate_once(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        client = self._sdk_client(self._client, "client")
        with self._errors(request):
            raw = self._create(client, request, stream=False)
        return self._response(raw, request, started)

    async def _agenerate_once(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        client = self._sdk_client(self._async_client, "async_client")
        with self._errors(request):
            raw = await self._create(client, request, stream=False)
        return self._response(raw, request, started)

    def _stream_once(self, request: ChatRequest) -> Iterator[Delta]:
        reply = ReplyBuilder(request, self.provider, request.model or self.model)
        client = self._sdk_client(self._client, "client")
        with self._errors(request, reply), self._create(client, request, stream=True) as events:
            for event in events:
                if text := self._fold(reply, event):
                    yield text
        yield reply.response()

    async def _astream_once(self, request: ChatRequest) -> AsyncIterator[Delta]:
        reply = ReplyBuilder(request, self.provider, request.model or self.model)
        client = self._sdk_client(self._async_client, "async_client")
        with self._errors(request, reply):
            events = await self._create(client, request, stream=True)
            async with events:
                async for event in events:
                    if text := self._fold(reply, event):
                        yield text
        yield reply.response()

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Send the request and return the normalised reply, retrying failed attempts."""
        return self.retry.call(lambda: self._generate_once(request))

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`, over the async SDK client."""
        return await self.retry.acall(lambda: self._agenerate_once(request))

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream the reply's text; ``response`` carries the usage once the stream ends."""
        return ChatStream(self.retry.stream(lambda: self._stream_once(request)))

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""
        return AsyncChatStream(self.retry.astream(lambda: self._astream_once(request)))
