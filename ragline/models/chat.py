"""The ``ChatModel`` protocol and the factory that builds a provider from settings.

Providers: ``local`` (SmolLM2-135M-Instruct, in-process), ``extractive`` (no
model: quotes retrieved sentences), ``openai``, ``anthropic`` and
``openai_compatible`` (official SDKs). Each provider imports its SDK when it
is constructed, never at import time. Every provider generates and streams,
sync and async; a stream's final :class:`ChatStream.response` carries the usage.
Providers report token counts but no prices: ``ragline.cost`` prices them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

from ragline.config import GenerationSettings
from ragline.errors import ConfigError
from ragline.models.retry import DEFAULT_TIMEOUT_S, RetryPolicy
from ragline.models.streaming import AsyncChatStream, ChatStream
from ragline.types import AnswerStyle, ChatRequest, ChatResponse


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a :class:`ChatRequest` into a :class:`ChatResponse`.

    Failures raise :class:`~ragline.errors.ProviderError` subclasses; a stream
    that breaks off raises one whose ``partial`` is the response so far.
    """

    @property
    def name(self) -> str:
        """``provider:model``, as shown in ``Answer.route``."""
        ...

    @property
    def provider(self) -> str:
        """The provider's name: ``openai``, ``anthropic``, ``local``..."""
        ...

    @property
    def model(self) -> str:
        """The model asked for by default (a request's ``model`` overrides it)."""
        ...

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Produce one complete response."""
        ...

    def agenerate(self, request: ChatRequest) -> Awaitable[ChatResponse]:
        """Async twin of :meth:`generate`."""
        ...

    def stream(self, request: ChatRequest) -> ChatStream:
        """Yield the reply's text as it is produced; ``response`` holds usage at the end."""
        ...

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""
        ...


def create_chat_model(provider: str, *, model: str, api_key: str | None = None,
                      base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                      max_retries: int = 3, deadline_s: float | None = None,
                      prompt_caching: bool = True,
                      answer_style: AnswerStyle = "free") -> ChatModel:
    """Build the named provider; raises :class:`ConfigError` for an unknown one.

    ``timeout_s`` (per attempt), ``max_retries`` (extra attempts on 429, 5xx,
    timeouts and connection errors) and ``deadline_s`` (the whole call, retries
    included) apply to the cloud providers; ``local`` and ``extractive`` run
    in-process and have none of them. ``prompt_caching`` (``cache.provider_prompt``)
    lets ``anthropic`` place ``cache_control`` breakpoints and ``openai`` send a
    ``prompt_cache_key`` (:mod:`ragline.models.prompt_cache`). ``answer_style``
    (``generation.answer_style``) is how ``local`` answers RAG requests.
    """
    if provider == "extractive":
        from ragline.models.extractive import ExtractiveModel

        return ExtractiveModel()
    if provider == "local":
        from ragline.models.local import LocalChatModel

        return LocalChatModel(model=model, answer_style=answer_style)
    retry = RetryPolicy(max_retries=max_retries, deadline_s=deadline_s)
    if provider in ("openai", "openai_compatible"):
        from ragline.models.openai_chat import OpenAIChatModel

        return OpenAIChatModel(model=model, api_key=api_key, base_url=base_url,
                               compatible=provider == "openai_compatible",
                               timeout_s=timeout_s, retry=retry, prompt_caching=prompt_caching)
    if provider == "anthropic":
        from ragline.models.anthropic_chat import AnthropicChatModel

        return AnthropicChatModel(model=model, api_key=api_key, base_url=base_url,
                                  timeout_s=timeout_s, retry=retry, prompt_caching=prompt_caching)
    raise ConfigError(f"generation.provider: unknown provider {provider!r}")


def chat_model_from_settings(settings: GenerationSettings, *,
                             prompt_caching: bool = True) -> ChatModel:
    """Build the answering model the ``generation`` settings describe, with their
    timeout, retry count and deadline; ``prompt_caching`` is ``cache.provider_prompt``."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return create_chat_model(settings.provider, model=settings.model, api_key=key,
                             base_url=settings.base_url, timeout_s=settings.timeout_s,
                             max_retries=settings.max_retries, deadline_s=settings.deadline_s,
                             prompt_caching=prompt_caching, answer_style=settings.answer_style)
