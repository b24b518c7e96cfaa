"""The ``openai`` and ``openai_compatible`` providers, over the official ``openai`` SDK.

``openai_compatible`` is the same client pointed at ``base_url`` (vLLM, Ollama,
llama.cpp server); it needs no real key. Pass ``client`` and
``async_client`` to inject configured SDK clients (tests give ones whose
``http_client`` uses an ``httpx2.MockTransport``); otherwise both are built
with ``max_retries=0``, because ragline's :class:`RetryPolicy` does the retrying.

A model that builds its own clients sends its non-streamed async calls (the gateway's)
through an :class:`~ragline.models.openai_wire.OpenAIWire` instead of the async SDK client:
the same request and the same errors at a fraction of the CPU. Injected clients serve every
call, unless ``wire`` is passed too.

Prompt caching: OpenAI caches long prefixes by itself; with ``prompt_caching`` (the
default) the ``openai`` provider also sends ``prompt_cache_key``, a short hash of the model
and the leading system messages (:func:`ragline.models.prompt_cache.openai_cache_key`), so
requests sharing that prefix are routed to the same cache. A prompt without a system
message gets no key, and ``openai_compatible`` servers never get one (it is OpenAI's
field; a local server keeps its own prefix cache and may reject unknown fields).

Usage: OpenAI's ``prompt_tokens`` include the cached ones, so ragline's
``input_tokens`` are ``prompt_tokens - cached_tokens`` and ``cache_read_tokens``
the cached ones. Streams ask for ``stream_options={"include_usage": True}`` and
read the last chunk's usage; a server that ignores it gets estimated counts.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ragline.errors import MissingCredentials, ProviderNotInstalled
from ragline.models.openai_wire import OpenAIWire, openai_usage
from ragline.models.prompt_cache import openai_cache_key
from ragline.models.provider_errors import malformed_response
from ragline.models.replies import ReplyBuilder
from ragline.models.retry import DEFAULT_TIMEOUT_S, RetryPolicy, time_left
from ragline.models.sdk_chat import SdkChatModel
from ragline.models.tokens import estimate_usage
from ragline.types import ChatRequest, ChatResponse, Usage


def _usage(usage: Any) -> Usage:
    """ragline's disjoint counts from an OpenAI ``usage`` object."""
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return openai_usage(usage.prompt_tokens, usage.completion_tokens, cached)


def _read_chunk(reply: ReplyBuilder, chunk: Any) -> str:
    """Fold one ``chat.completion.chunk`` into ``reply``; return its text delta."""
    reply.model = chunk.model or reply.model
    if chunk.usage is not None:
        reply.prompt_usage = _usage(chunk.usage)
        reply.output_tokens = chunk.usage.completion_tokens
    if not chunk.choices:  # the usage chunk
        return ""
    choice = chunk.choices[0]
    reply.finish_reason = choice.finish_reason or reply.finish_reason
    return reply.add(choice.delta.content or "") if choice.delta is not None else ""


class OpenAIChatModel(SdkChatModel):
    """A :class:`~ragline.models.chat.ChatModel` over OpenAI's Chat Completions API.

    Each attempt may take ``timeout_s``; ``retry`` says how failed attempts are
    retried (429, 5xx, timeouts, connection errors). Errors are
    :class:`~ragline.errors.ProviderError` subclasses, see
    :mod:`ragline.models.provider_errors`. ``prompt_caching`` says whether the ``openai``
    provider sends a ``prompt_cache_key``, and ``wire`` replaces the plain-HTTP path of
    non-streamed async calls (module docstring).
    """

    def __init__(self, *, model: str, api_key: str | None = None, base_url: str | None = None,
                 compatible: bool = False, client: Any = None, async_client: Any = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy | None = None,
                 prompt_caching: bool = True, wire: OpenAIWire | None = None) -> None:
        self.provider = "openai_compatible" if compatible else "openai"
        self.prompt_caching = prompt_caching and not compatible
        try:
            import openai
        except ImportError as exc:
            raise ProviderNotInstalled(
                f"the {self.provider} provider needs the openai package: "
                "pip install 'ragline[server]'", provider=self.provider, model=model) from exc
        if client is None and async_client is None:
            if compatible and not base_url:
                raise MissingCredentials(
                    "the openai_compatible provider needs generation.base_url "
                    "(e.g. http://localhost:8000/v1)", provider=self.provider, model=model)
            key = api_key or os.environ.get("OPENAI_API_KEY") or ("unused" if compatible else None)
            if not key:
                raise MissingCredentials(
                    "the openai provider needs an API key: set OPENAI_API_KEY or "
                    "generation.api_key", provider=self.provider, model=model)
            client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
            async_client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)
            wire = wire or OpenAIWire(provider=self.provider, api_key=key, base_url=base_url)
        self._wire = wire
        super().__init__(model=model, sdk=openai, client=client, async_client=async_client,
                         timeout_s=timeout_s, retry=retry)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of a non-streamed request."""
        model = request.model or self.model
        params: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens, "temperature": request.temperature}
        key = openai_cache_key(request.messages, model) if self.prompt_caching else None
        if key is not None:
            params["prompt_cache_key"] = key
        return params

    def _create(self, client: Any, request: ChatRequest, *, stream: bool) -> Any:
        params = self._params(request) | {"timeout": time_left(self.timeout_s)}
        if stream:
            params |= {"stream": True, "stream_options": {"include_usage": True}}
        return client.chat.completions.create(**params)

    async def _agenerate_once(self, request: ChatRequest) -> ChatResponse:
        """One async attempt: over the :class:`OpenAIWire` when the model has one (it was
        built from its settings), else over the injected SDK client."""
        if self._wire is None:
            return await super()._agenerate_once(request)
        model = request.model or self.model
        return await self._wire.complete(
            self._params(request), model=model, timeout_s=time_left(self.timeout_s),
            estimate=lambda text: estimate_usage(request.messages, text, model))

    def _fold(self, reply: ReplyBuilder, event: Any) -> str:
        return _read_chunk(reply, event)

    def _response(self, raw: Any, request: ChatRequest, started: float) -> ChatResponse:
        model = request.model or self.model
        choices = getattr(raw, "choices", None)
        if not choices or choices[0].message is None:
            raise malformed_response(self.provider, model, "no choices in the completion")
        choice = choices[0]
        text = choice.message.content or ""
        usage = (_usage(raw.usage) if raw.usage is not None
                 else estimate_usage(request.messages, text, model))
        return ChatResponse(text=text, model=raw.model or model, usage=usage, cost=None,
                            latency_ms=(time.perf_counter() - started) * 1000,
                            finish_reason=choice.finish_reason or "stop", provider_raw=raw)
