"""The Anthropic-compatible endpoint: ``POST /v1/messages``, for the official ``anthropic``
SDK pointed at ``ragline serve`` (it sends the key as ``x-api-key``).

The same models and checks as the OpenAI endpoint (:mod:`ragline.server.turns`): model
``ragline/auto``, a configured ``provider:model`` or ``ragline/rag/<collection>``. A reply
is a ``message`` with one text block; a stream is Anthropic's event sequence
(``message_start``, ``content_block_start``, ``content_block_delta``...,
``content_block_stop``, ``message_delta`` with the stop reason and usage,
``message_stop``). A RAG answer's citations travel in a ``ragline`` object on the message
(and on the ``message_delta`` event of a stream), as on the OpenAI side.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragline.errors import InvalidInput
from ragline.models.streaming import DeltaStream
from ragline.server.errors import error_body
from ragline.server.gateway import Gateway
from ragline.server.sse import Pumps, event, pumped
from ragline.server.turns import (
    Outcome,
    Turn,
    failed_turn,
    finish_turn,
    outcome_of,
    prepare_turn,
    reply_while_connected,
    stream_headers,
    stream_of,
    text_of,
)
from ragline.types import Answer, ChatRequest, ChatResponse, Message, Usage

router = APIRouter(prefix="/v1")

AuthHeader = Annotated[str | None, Header()]

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "max_tokens": "max_tokens",
                "end_turn": "end_turn", "stop_sequence": "stop_sequence"}


class TextBlock(BaseModel):
    """One content block: only ``text`` blocks are accepted."""

    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


def _text(content: str | list[TextBlock]) -> str:
    return content if isinstance(content, str) else text_of(content, "content blocks")


class AnthropicMessage(BaseModel):
    """A message of the conversation."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str | list[TextBlock]


class MessagesIn(BaseModel):
    """``POST /v1/messages``: the fields the gateway reads (``max_tokens`` is required,
    as in Anthropic's API)."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False
    tools: list[Any] | None = None

    def chat_request(self, default_temperature: float) -> ChatRequest:
        """The request for a ragline chat model; :class:`InvalidInput` for tools."""
        if self.tools:
            raise InvalidInput("tools are not supported by this gateway; send messages only")
        system = () if self.system is None else (Message("system", _text(self.system)),)
        messages = tuple(Message(m.role, _text(m.content)) for m in self.messages)
        return ChatRequest(messages=(*system, *messages), max_tokens=self.max_tokens,
                           stream=self.stream, temperature=default_temperature
                           if self.temperature is None else self.temperature)

    def question(self) -> str:
        """The last user message: what a ``ragline/rag/...`` model answers."""
        for message in reversed(self.messages):
            if message.role == "user":
                return _text(message.content)
        raise InvalidInput("a ragline/rag/... model answers the last user message; "
                           "this request has none")


def usage_json(usage: Usage) -> dict[str, int]:
    """Anthropic's usage block."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens}


def message_json(request_id: str, model: str, text: str | None, outcome: Outcome | None
                 ) -> dict[str, Any]:
    """A ``message`` object: whole (with ``outcome``), or as a stream starts it (empty,
    no stop reason yet)."""
    body: dict[str, Any] = {
        "id": f"msg_{request_id}", "type": "message", "role": "assistant", "model": model,
        "content": [] if text is None else [{"type": "text", "text": text}],
        "stop_reason": None, "stop_sequence": None, "usage": usage_json(Usage())}
    if outcome is not None:
        body["stop_reason"] = STOP_REASONS.get(outcome.reason, "end_turn")
        body["usage"] = usage_json(outcome.usage)
        if outcome.extension is not None:
            body["ragline"] = outcome.extension
    return body


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _prepare(gateway: Gateway, body: MessagesIn, authorization: str | None,
                   x_api_key: str | None) -> Turn:
    request = body.chat_request(gateway.settings.generation.temperature)
    return await prepare_turn(gateway, body.model, request, body.question, authorization,
                              x_api_key)


def _message(turn: Turn) -> Callable[[Outcome], dict[str, Any]]:
    return lambda outcome: message_json(outcome.request_id, turn.name, outcome.text, outcome)


def _event(name: str, data: dict[str, Any]) -> str:
    return event(name, {"type": name, **data})


async def _events(gateway: Gateway, turn: Turn, stream: DeltaStream[Any],
                  pumps: Pumps) -> AsyncIterator[str]:
    """Anthropic's stream events for ``stream`` (see the module docstring)."""
    rid = turn.scope.query_id

    def settle(final: ChatResponse | Answer) -> None:
        finish_turn(gateway, turn, final)

    yield _event("message_start", {"message": message_json(rid, turn.name, None, None)})
    yield _event("content_block_start", {"index": 0,
                                         "content_block": {"type": "text", "text": ""}})
    async for kind, item in pumped(stream, pumps, on_final=settle):
        if kind == "delta":
            yield _event("content_block_delta", {
                "index": 0, "delta": {"type": "text_delta", "text": item}})
        elif kind == "final":
            outcome = outcome_of(turn, item)
            yield _event("content_block_stop", {"index": 0})
            yield _event("message_delta", {
                "delta": {"stop_reason": STOP_REASONS.get(outcome.reason, "end_turn"),
                          "stop_sequence": None},
                "usage": {"output_tokens": outcome.usage.output_tokens},
                "ragline": outcome.extension or {"route": outcome.route,
                                                 "cost_usd": outcome.cost_usd,
                                                 "cache": outcome.cache}})
            yield _event("message_stop", {})
        else:
            failed_turn(gateway, item)
            yield f"event: error\ndata: {json.dumps(error_body(item, '/v1/messages'))}\n\n"


@router.post("/messages", response_model=None)
async def messages(request: Request, body: MessagesIn, authorization: AuthHeader = None,
                   x_api_key: AuthHeader = None) -> Response:
    """A message from ``ragline/auto``, a configured ``provider:model`` or
    ``ragline/rag/<collection>``, streamed as Anthropic's events when ``stream`` is true."""
    gateway = _gateway(request)
    turn = await _prepare(gateway, body, authorization, x_api_key)
    if not body.stream:
        return await reply_while_connected(gateway, turn, request, _message(turn))
    pumps: Pumps = request.app.state.pumps
    stream = await run_in_threadpool(stream_of, gateway, turn)
    return StreamingResponse(
        _events(gateway, turn, stream, pumps), media_type="text/event-stream",
        headers=stream_headers(turn))
