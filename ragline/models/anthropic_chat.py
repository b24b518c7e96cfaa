"""The ``anthropic`` provider, over the official ``anthropic`` SDK (Messages API).

System messages go in the ``system`` parameter. The SDK (2.x) no longer takes a
``temperature``: current Claude models fix their own sampling, so it is not sent.
Pass ``client`` and ``async_client`` to inject configured SDK clients; otherwise
both are built with ``max_retries=0``, because ragline's :class:`RetryPolicy`
does the retrying.

Prompt caching (``prompt_caching``, on by default): ``cache_control`` breakpoints mark
the ends of the longest stable prefixes long enough for the model to cache (the system
prompt, the passages block, a conversation's last turn), at most four; see
:mod:`ragline.models.prompt_cache`. A prompt too short for any is sent as plain strings.

Usage: Anthropic's ``input_tokens`` exclude cache reads and writes, which is
ragline's convention already; ``cache_creation.ephemeral_1h_input_tokens`` says
how many of the written tokens have the 1-hour lifetime. Streams read the
counts of ``message_start`` and the cumulative ones of ``message_delta``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ragline.errors import MissingCredentials, ProviderNotInstalled
from ragline.models.prompt_cache import anthropic_prompt
from ragline.models.provider_errors import malformed_response
from ragline.models.replies import ReplyBuilder
from ragline.models.retry import DEFAULT_TIMEOUT_S, RetryPolicy, time_left
from ragline.models.sdk_chat import SdkChatModel
from ragline.models.tokens import estimate_usage
from ragline.types import ChatRequest, ChatResponse, Usage


def _usage(usage: Any, before: Usage | None = None) -> Usage:
    """ragline's counts from an Anthropic usage block; counts it leaves out (None) keep
    their value in ``before`` (``message_delta`` may repeat only some of them)."""
    before = before or Usage()

    def count(name: str, default: int) -> int:
        value = getattr(usage, name, None)
        return default if value is None else int(value)

    creation = getattr(usage, "cache_creation", None)
    return Usage(
        input_tokens=count("input_tokens", before.input_tokens),
        output_tokens=count("output_tokens", before.output_tokens),
        cache_read_tokens=count("cache_read_input_tokens", before.cache_read_tokens),
        cache_write_tokens=count("cache_creation_input_tokens", before.cache_write_tokens),
        cache_write_1h_tokens=((creation.ephemeral_1h_input_tokens or 0) if creation is not None
                               else before.cache_write_1h_tokens))


def _read_event(reply: ReplyBuilder, event: Any) -> str:
    """Fold one stream event into ``reply``; return its text delta."""
    if event.type == "message_start":
        reply.model = event.message.model or reply.model
        reply.prompt_usage = _usage(event.message.usage)
    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
        return reply.add(event.delta.text)
    elif event.type == "message_delta":
        reply.prompt_usage = _usage(event.usage, reply.prompt_usage)
        reply.output_tokens = event.usage.output_tokens
        reply.finish_reason = event.delta.stop_reason or "end_turn"
    return ""


class AnthropicChatModel(SdkChatModel):
    """A :class:`~ragline.models.chat.ChatModel` over Anthropic's Messages API.

    Each attempt may take ``timeout_s``; ``retry`` says how failed attempts are
    retried (429, 5xx, 529 overloaded, timeouts, connection errors). Errors are
    :class:`~ragline.errors.ProviderError` subclasses, see
    :mod:`ragline.models.provider_errors`. With ``prompt_caching`` (the default) long
    stable prefixes carry ``cache_control`` breakpoints (module docstring); without it no
    request carries any.
    """

    provider = "anthropic"

    def __init__(self, *, model: str, api_key: str | None = None, base_url: str | None = None,
                 client: Any = None, async_client: Any = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy | None = None,
                 prompt_caching: bool = True) -> None:
        self.prompt_caching = prompt_caching
        try:
            import anthropic
        except ImportError as exc:
            raise ProviderNotInstalled(
                "the anthropic provider needs the anthropic package: pip install 'ragline[server]'",
                provider=self.provider, model=model) from exc
        if client is None and async_client is None:
            key = api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise MissingCredentials(
                    "the anthropic provider needs an API key: set ANTHROPIC_API_KEY or "
                    "generation.api_key", provider=self.provider, model=model)
            client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)
            async_client = anthropic.AsyncAnthropic(api_key=key, base_url=base_url,
                                                    max_retries=0)
        super().__init__(model=model, sdk=anthropic, client=client, async_client=async_client,
                         timeout_s=timeout_s, retry=retry)

    def _create(self, client: Any, request: ChatRequest, *, stream: bool) -> Any:
        model = request.model or self.model
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [m for m in request.messages if m.role != "system"]
        system_param: str | list[dict[str, Any]] = system
        messages: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in turns]
        if self.prompt_caching:
            system_param, messages = anthropic_prompt(system, turns, model=model,
                                                      passages=request.passages)
        params: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens,
                                  "messages": messages, "timeout": time_left(self.timeout_s)}
        if system:
            params["system"] = system_param
        if stream:
            params["stream"] = True
        return client.messages.create(**params)

    def _fold(self, reply: ReplyBuilder, event: Any) -> str:
        return _read_event(reply, event)

    def _response(self, raw: Any, request: ChatRequest, started: float) -> ChatResponse:
        model = request.model or self.model
        content = getattr(raw, "content", None)
        if content is None:
            raise malformed_response(self.provider, model, "no content in the message")
        text = "".join(block.text for block in content if block.type == "text")
        usage = (_usage(raw.usage) if raw.usage is not None
                 else estimate_usage(request.messages, text, model))
        return ChatResponse(text=text, model=raw.model or model, usage=usage, cost=None,
                            latency_ms=(time.perf_counter() - started) * 1000,
                            finish_reason=raw.stop_reason or "end_turn", provider_raw=raw)
