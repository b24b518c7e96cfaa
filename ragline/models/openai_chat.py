"""The ``openai`` and ``openai_compatible`` providers, over the official ``openai`` SDK.

``openai_compatible`` is the same client pointed at ``base_url`` (vLLM, Ollama,
llama.cpp server, ragline's gateway); it needs no real key. Pass ``client`` to
inject a configured SDK client (tests give one whose ``http_client`` uses an
``httpx.MockTransport``). Non-streaming only until step 3.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ragline.errors import MissingCredentials, ProviderError, ProviderNotInstalled
from ragline.types import ChatRequest, ChatResponse, Usage

DEFAULT_TIMEOUT_S = 60.0


class OpenAIChatModel:
    """A :class:`~ragline.models.chat.ChatModel` over OpenAI's Chat Completions API."""

    def __init__(self, *, model: str, api_key: str | None = None, base_url: str | None = None,
                 compatible: bool = False, client: Any = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.provider = "openai_compatible" if compatible else "openai"
        self.model = model
        self.name = f"{self.provider}:{model}"
        if client is not None:
            self._client = client
            return
        try:
            import openai
        except ImportError as exc:
            raise ProviderNotInstalled(
                f"the {self.provider} provider needs the openai package: "
                "pip install 'ragline[server]'", provider=self.provider, model=model) from exc
        if compatible and not base_url:
            raise MissingCredentials(
                "the openai_compatible provider needs generation.base_url "
                "(e.g. http://localhost:8000/v1)", provider=self.provider, model=model)
        key = api_key or os.environ.get("OPENAI_API_KEY") or ("unused" if compatible else None)
        if not key:
            raise MissingCredentials(
                "the openai provider needs an API key: set OPENAI_API_KEY or generation.api_key",
                provider=self.provider, model=model)
        self._client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Send the messages to ``/chat/completions`` and normalise the reply."""
        import openai

        started = time.perf_counter()
        try:
            completion = self._client.chat.completions.create(
                model=request.model or self.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                max_tokens=request.max_tokens, temperature=request.temperature)
        except openai.APIStatusError as exc:
            raise ProviderError(f"{self.provider} answered {exc.status_code}: {exc.message}",
                                provider=self.provider, model=self.model,
                                status_code=exc.status_code) from exc
        except openai.APIError as exc:
            raise ProviderError(f"{self.provider} request failed: {exc}",
                                provider=self.provider, model=self.model) from exc
        choice = completion.choices[0]
        usage = completion.usage
        cached = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return ChatResponse(
            text=choice.message.content or "", model=completion.model,
            usage=Usage(input_tokens=(usage.prompt_tokens - cached) if usage else 0,
                        output_tokens=usage.completion_tokens if usage else 0,
                        cache_read_tokens=cached, estimated=usage is None),
            cost=None, latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=choice.finish_reason or "stop", provider_raw=completion)
