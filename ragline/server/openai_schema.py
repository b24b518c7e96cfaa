"""The OpenAI API's shapes as the gateway reads and writes them.

Requests: :class:`ChatCompletionIn` (``POST /v1/chat/completions``) and
:class:`EmbeddingsIn` (``POST /v1/embeddings``), validated with messages that say what is
wrong; unknown fields are ignored as OpenAI's own API does, but features the gateway does
not offer (tools, several choices) are refused rather than silently dropped. Responses:
:func:`completion_json`, :func:`chunk_json` and :func:`usage_json` build the JSON the
official ``openai`` SDK parses; a RAG answer adds a ``ragline`` object (citations, sources,
route, cost, cache), which the SDK keeps as an extra field.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragline.errors import InvalidInput
from ragline.server.turns import text_of
from ragline.types import ChatRequest, Message, Usage

FINISH_REASONS = frozenset({"stop", "length", "content_filter", "tool_calls"})


class ContentPart(BaseModel):
    """One part of a message's content: only ``text`` parts are accepted."""

    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    """A message of a chat completion request; ``developer`` is read as ``system``."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return text_of(self.content, "message contents")


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a last chunk with the token usage."""

    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    """``POST /v1/chat/completions``: the fields the gateway reads."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice is generated")
    tools: list[Any] | None = None

    def chat_request(self, *, default_max_tokens: int, default_temperature: float
                     ) -> ChatRequest:
        """The request for a ragline chat model; :class:`InvalidInput` for tools."""
        if self.tools:
            raise InvalidInput("tools are not supported by this gateway; send messages only")
        messages = tuple(Message("system" if m.role == "developer" else m.role, m.text())
                         for m in self.messages)
        return ChatRequest(
            messages=messages, stream=self.stream,
            max_tokens=self.max_completion_tokens or self.max_tokens or default_max_tokens,
            temperature=default_temperature if self.temperature is None else self.temperature)

    def question(self) -> str:
        """The last user message: what a ``ragline/rag/...`` model answers."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        raise InvalidInput("a ragline/rag/... model answers the last user message; "
                           "this request has none")

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class EmbeddingsIn(BaseModel):
    """``POST /v1/embeddings``: text input only."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"

    def texts(self) -> list[str]:
        """The input as a list of non-empty texts."""
        texts = [self.input] if isinstance(self.input, str) else list(self.input)
        if not all(t.strip() for t in texts):
            raise InvalidInput("every input to embed must be non-empty text")
        return texts


def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage block for ``usage``."""
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.prompt_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens}}


def finish_reason(reason: str) -> str:
    """OpenAI's finish reason for ragline's (``stop`` for any it does not know)."""
    return reason if reason in FINISH_REASONS else "stop"


def completion_json(request_id: str, model: str, text: str, reason: str, usage: Usage,
                    extension: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice; ``extension`` becomes ``ragline``."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}", "object": "chat.completion",
        "created": int(time.time()), "model": model, "system_fingerprint": None,
        "choices": [{"index": 0, "finish_reason": finish_reason(reason), "logprobs": None,
                     "message": {"role": "assistant", "content": text, "refusal": None}}],
        "usage": usage_json(usage)}
    if extension is not None:
        body["ragline"] = extension
    return body


def chunk_json(request_id: str, model: str, created: int, *, delta: dict[str, Any],
               reason: str | None = None, usage: Usage | None = None,
               with_usage_field: bool = False) -> dict[str, Any]:
    """One ``chat.completion.chunk``: a choice with ``delta`` (and its finish reason when
    it is the last), or, given ``usage``, the usage chunk with no choices."""
    body: dict[str, Any] = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk",
                            "created": created, "model": model, "system_fingerprint": None}
    if usage is not None:
        body["choices"] = []
        body["usage"] = usage_json(usage)
        return body
    body["choices"] = [{"index": 0, "delta": delta, "logprobs": None,
                        "finish_reason": None if reason is None else finish_reason(reason)}]
    if with_usage_field:
        body["usage"] = None
    return body
