"""Test helper: a scripted provider server, the real SDKs over an httpx2 MockTransport.

Shared by tests/models and tests/cost. Replies follow the providers' documented
JSON and server-sent-event shapes. A :class:`Server` answers its n-th request
with its n-th reply (the last one repeats) and records every request, so tests
can count attempts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx  # the openai and anthropic SDKs ship on httpx2, a fork of httpx
import openai

from ragline.models.anthropic_chat import AnthropicChatModel
from ragline.models.openai_chat import OpenAIChatModel
from ragline.models.retry import RetryPolicy
from ragline.types import ChatRequest, Message

Reply = Callable[[httpx.Request], httpx.Response]

REQUEST = ChatRequest(messages=(Message("system", "Cite passages."),
                                Message("user", "Question: what is Qdrant?")),
                      max_tokens=50, temperature=0.0)


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    """A reply with a JSON body."""
    return lambda request: httpx.Response(status, json=body, headers=headers)


def raw_reply(status: int, content: bytes, content_type: str = "application/json") -> Reply:
    """A reply whose body is exactly ``content``."""
    return lambda request: httpx.Response(status, content=content,
                                          headers={"content-type": content_type})


def raises(error: type[httpx.TransportError]) -> Reply:
    """A 'reply' that fails at the transport, e.g. ``httpx.ReadTimeout``."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise error("scripted transport failure", request=request)

    return fail


def sse(*events: tuple[str | None, Any]) -> bytes:
    """Server-sent events: ``(event name or None, data)``; data dicts are JSON-encoded."""
    lines = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        lines.append(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(lines).encode()


class CutStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that sends ``data`` and then loses the connection."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def stream_reply(body: bytes, *, cut: bool = False) -> Reply:
    """A 200 event stream; with ``cut`` the connection drops after ``body``."""
    headers = {"content-type": "text/event-stream"}
    if cut:
        return lambda request: httpx.Response(200, stream=CutStream(body), headers=headers)
    return lambda request: httpx.Response(200, content=body, headers=headers)


class Server:
    """Answers the n-th request with the n-th reply (the last repeats); records requests."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies[min(len(self.requests), len(self.replies)) - 1](request)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received."""
        return [json.loads(r.content) for r in self.requests]


class Waits:
    """A RetryPolicy whose sleeps are recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def asleep(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def policy(self, max_retries: int = 2) -> RetryPolicy:
        return RetryPolicy(max_retries=max_retries, sleep=self.seconds.append,
                           async_sleep=self.asleep)


def openai_model(server: Server, retry: RetryPolicy | None = None, *,
                 compatible: bool = False, timeout_s: float = 60.0,
                 model: str = "gpt-4o-mini") -> OpenAIChatModel:
    """The openai provider whose sync and async SDK clients talk to ``server``."""
    options: dict[str, Any] = {"api_key": "sk-test", "base_url": "https://api.openai.test/v1",
                               "max_retries": 0}
    return OpenAIChatModel(
        model=model, compatible=compatible, timeout_s=timeout_s,
        retry=retry or RetryPolicy(max_retries=0),
        client=openai.OpenAI(**options, http_client=httpx.Client(transport=server.transport)),
        async_client=openai.AsyncOpenAI(
            **options, http_client=httpx.AsyncClient(transport=server.transport)))


def anthropic_model(server: Server, retry: RetryPolicy | None = None, *,
                    timeout_s: float = 60.0, model: str = "claude-haiku-4-5",
                    ) -> AnthropicChatModel:
    """The anthropic provider whose sync and async SDK clients talk to ``server``."""
    options: dict[str, Any] = {"api_key": "sk-ant-test", "base_url": "https://api.anthropic.test",
                               "max_retries": 0}
    return AnthropicChatModel(
        model=model, timeout_s=timeout_s, retry=retry or RetryPolicy(max_retries=0),
        client=anthropic.Anthropic(**options,
                                   http_client=httpx.Client(transport=server.transport)),
        async_client=anthropic.AsyncAnthropic(
            **options, http_client=httpx.AsyncClient(transport=server.transport)))


# -- documented reply bodies --------------------------------------------------------------------

def openai_completion(text: str = "A vector database [1].", *,
                      usage: dict[str, Any] | None = None,
                      model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A ``chat.completion`` body; ``usage`` None leaves the field out."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}]}
    if usage is not None:
        body["usage"] = usage
    return body


def openai_chunks(*texts: str, usage: dict[str, Any] | None = None,
                  finish: str | None = "stop",
                  model: str = "gpt-4o-mini") -> list[tuple[str | None, Any]]:
    """``chat.completion.chunk`` events: a role chunk, one per text, the finish chunk, the
    usage chunk (when ``usage`` is given; ``choices`` is empty there) and ``[DONE]``."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": model}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta,
                                     "finish_reason": finish_reason}], "usage": None}

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": text})) for text in texts]
    if finish is None:
        return events
    events.append((None, chunk({}, finish)))
    if usage is not None:
        events.append((None, {**head, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return events


ANTHROPIC_USAGE = {"input_tokens": 40, "output_tokens": 1, "cache_creation_input_tokens": 100,
                   "cache_read_input_tokens": 2000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 30,
                                      "ephemeral_1h_input_tokens": 70}}


def anthropic_message(text: str = "A vector database [1].", *,
                      usage: dict[str, Any] | None = None,
                      model: str = "claude-haiku-4-5") -> dict[str, Any]:
    """A ``message`` body of the Messages API."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": usage or {**ANTHROPIC_USAGE, "output_tokens": 9}}


def anthropic_events(*texts: str, output_tokens: int = 9, complete: bool = True,
                     usage: dict[str, Any] | None = None,
                     model: str = "claude-haiku-4-5") -> list[tuple[str | None, Any]]:
    """The Messages stream: message_start (with ``usage``, default :data:`ANTHROPIC_USAGE`),
    a text block of ``texts``, then (when ``complete``) message_delta with the cumulative
    output tokens and message_stop."""
    start = {**anthropic_message(model=model), "content": [], "stop_reason": None,
             "usage": usage or ANTHROPIC_USAGE}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": text}})
               for text in texts]
    if complete:
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": output_tokens}}),
            ("message_stop", {"type": "message_stop"})]
    return events
