"""The ``ChatModel`` protocol and the factory that builds a provider from settings.

Providers: ``local`` (SmolLM2-135M-Instruct, in-process), ``extractive`` (no
model: quotes retrieved sentences), ``openai``, ``anthropic`` and
``openai_compatible`` (official SDKs). Each provider imports its SDK when it
is constructed, never at import time. Streaming and async twins arrive with
the provider work of step 3; this protocol is what the pipeline uses today.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ragline.config import GenerationSettings
from ragline.errors import ConfigError
from ragline.types import ChatRequest, ChatResponse


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a :class:`ChatRequest` into a :class:`ChatResponse`."""

    @property
    def name(self) -> str:
        """``provider:model``, as shown in ``Answer.route``."""
        ...

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Produce one complete response (no streaming)."""
        ...


def create_chat_model(provider: str, *, model: str, api_key: str | None = None,
                      base_url: str | None = None) -> ChatModel:
    """Build the named provider; raises :class:`ConfigError` for an unknown one."""
    if provider == "extractive":
        from ragline.models.extractive import ExtractiveModel

        return ExtractiveModel()
    if provider == "local":
        from ragline.models.local import LocalChatModel

        return LocalChatModel(model=model)
    if provider in ("openai", "openai_compatible"):
        from ragline.models.openai_chat import OpenAIChatModel

        return OpenAIChatModel(model=model, api_key=api_key, base_url=base_url,
                               compatible=provider == "openai_compatible")
    if provider == "anthropic":
        from ragline.models.anthropic_chat import AnthropicChatModel

        return AnthropicChatModel(model=model, api_key=api_key, base_url=base_url)
    raise ConfigError(f"generation.provider: unknown provider {provider!r}")


def chat_model_from_settings(settings: GenerationSettings) -> ChatModel:
    """Build the answering model the ``generation`` settings describe."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return create_chat_model(settings.provider, model=settings.model, api_key=key,
                             base_url=settings.base_url)
