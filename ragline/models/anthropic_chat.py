"""The ``anthropic`` provider, over the official ``anthropic`` SDK (Messages API).

System messages go in the ``system`` parameter. The SDK (2.x) no longer takes a
``temperature``: current Claude models fix their own sampling, so it is not sent.
Pass ``client`` to inject a configured SDK client. Non-streaming only until step 3.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ragline.errors import MissingCredentials, ProviderError, ProviderNotInstalled
from ragline.types import ChatRequest, ChatResponse, Usage

DEFAULT_TIMEOUT_S = 60.0


class AnthropicChatModel:
    """A :class:`~ragline.models.chat.ChatModel` over Anthropic's Messages API."""

    provider = "anthropic"

    def __init__(self, *, model: str, api_key: str | None = None, base_url: str | None = None,
                 client: Any = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        if client is not None:
            self._client = client
            return
        try:
            import anthropic
        except ImportError as exc:
            raise ProviderNotInstalled(
                "the anthropic provider needs the anthropic package: pip install 'ragline[server]'",
                provider=self.provider, model=model) from exc
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise MissingCredentials(
                "the anthropic provider needs an API key: set ANTHROPIC_API_KEY or "
                "generation.api_key", provider=self.provider, model=model)
        self._client = anthropic.Anthropic(api_key=key, base_url=base_url, timeout=timeout_s)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Send the messages to ``/v1/messages`` and normalise the reply."""
        import anthropic

        started = time.perf_counter()
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content}
                 for m in request.messages if m.role != "system"]
        extra: dict[str, Any] = {"system": system} if system else {}
        try:
            message = self._client.messages.create(
                model=request.model or self.model, messages=turns,
                max_tokens=request.max_tokens, **extra)
        except anthropic.APIStatusError as exc:
            raise ProviderError(f"anthropic answered {exc.status_code}: {exc.message}",
                                provider=self.provider, model=self.model,
                                status_code=exc.status_code) from exc
        except anthropic.APIError as exc:
            raise ProviderError(f"anthropic request failed: {exc}",
                                provider=self.provider, model=self.model) from exc
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        return ChatResponse(
            text=text, model=message.model,
            usage=Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                        cache_read_tokens=usage.cache_read_input_tokens or 0,
                        cache_write_tokens=usage.cache_creation_input_tokens or 0),
            cost=None, latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=message.stop_reason or "stop", provider_raw=message)
