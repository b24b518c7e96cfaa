"""Test kit: ragline's real OpenAI and Anthropic providers over a scripted, in-process upstream.

Nothing here opens a socket or needs a key. The providers are the real ones, with the
real ``openai`` and ``anthropic`` SDK clients (sync and async), whose HTTP layer is an
``httpx2.MockTransport`` (the SDKs ship on ``httpx2``, a fork of httpx) answering from
a script: request building, response parsing, streaming, usage accounting, retries and
error mapping all run as they do in production.

Two levels:

- :func:`scripted_openai_model`: a chat model that answers every request with a text
  (or a function of the request body), streamed word by word when asked to stream.
- :class:`ScriptedServer` plus the reply helpers (:func:`json_reply`, :func:`raw_reply`,
  :func:`stream_reply`, :func:`transport_error`, :func:`sse_body`) and the documented
  bodies (:func:`openai_completion`, :func:`openai_chunks`, :func:`anthropic_message`,
  :func:`anthropic_events`), with :func:`openai_chat_model` and
  :func:`anthropic_chat_model` to put a provider on top: for errors, retries, cut
  streams and exact usage.

Example (a pytest test)::

    from ragline.testing import (SAMPLE_REQUEST, ScriptedServer, SleepRecorder, json_reply,
                                 openai_chat_model, openai_completion, scripted_openai_model)

    def test_answers_from_the_script() -> None:
        model, requests = scripted_openai_model("Qdrant is a vector database [1].")
        assert model.generate(SAMPLE_REQUEST).text == "Qdrant is a vector database [1]."
        assert requests[0]["messages"][-1]["content"] == "Question: what is Qdrant?"

    def test_a_rate_limit_is_retried() -> None:
        server = ScriptedServer(json_reply(429, {"error": {"message": "slow down"}}),
                                json_reply(200, openai_completion("Retried.")))
        model = openai_chat_model(server, SleepRecorder().policy(max_retries=1))
        assert model.generate(SAMPLE_REQUEST).text == "Retried."
        assert len(server.requests) == 2

The SDKs and httpx2 are imported when first used, so ``import ragline.testing`` is cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from ragline.types import ChatRequest, Message

if TYPE_CHECKING:
    import httpx2

    from ragline.models.anthropic_chat import AnthropicChatModel
    from ragline.models.openai_chat import OpenAIChatModel
    from ragline.models.retry import RetryPolicy

__all__ = [
    "ANTHROPIC_USAGE", "SAMPLE_REQUEST", "Reply", "ScriptedServer", "SleepRecorder",
    "TextReply", "anthropic_chat_model", "anthropic_events", "anthropic_message", "json_reply",
    "openai_chat_model", "openai_chunks", "openai_completion", "openai_text_reply", "raw_reply",
    "scripted_openai_model", "sse_body", "stream_reply", "transport_error",
]

Reply: TypeAlias = "Callable[[httpx2.Request], httpx2.Response]"
"""One scripted answer: from the request the SDK sent to the response it receives."""

TextReply: TypeAlias = "str | Callable[[dict[str, Any]], str]"
"""What a scripted chat model says: a fixed text, or a function of the request's JSON body."""

SAMPLE_REQUEST = ChatRequest(messages=(Message("system", "Cite passages."),
                                       Message("user", "Question: what is Qdrant?")),
                             max_tokens=50, temperature=0.0)
"""A small RAG-shaped chat request (system prompt, user question) to send in tests."""

ANTHROPIC_USAGE: dict[str, Any] = {
    "input_tokens": 40, "output_tokens": 1, "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 70}}
"""The ``usage`` of :func:`anthropic_message` and :func:`anthropic_events` by default: every
kind of token (plain input, 5-minute and 1-hour cache writes, cache reads) is non-zero."""


# -- the scripted upstream --------------------------------------------------------------------

class ScriptedServer:
    """An in-process HTTP upstream: the n-th request gets the n-th reply, the last one repeats.

    Every request is recorded in :attr:`requests` before it is answered, so a test can
    count attempts (retries, fallbacks, hedges) and read what was sent. :attr:`transport`
    is the ``httpx2.MockTransport`` to give an SDK client; :func:`openai_chat_model` and
    :func:`anthropic_chat_model` do that for you. A reply that raises (see
    :func:`transport_error`) fails that request at the transport.
    """

    def __init__(self, *replies: Reply) -> None:
        import httpx2

        if not replies:
            raise ValueError("a ScriptedServer needs at least one reply")
        self.replies = replies
        self.requests: list[httpx2.Request] = []
        self.transport = httpx2.MockTransport(self.handle)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """Record ``request`` and answer it with the reply its position calls for."""
        self.requests.append(request)
        return self.replies[min(len(self.requests), len(self.replies)) - 1](request)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received so far, in order (a new list each time)."""
        return [json.loads(r.content) for r in self.requests]


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    """A reply with status ``status`` and ``body`` encoded as JSON, plus any ``headers``."""
    import httpx2

    return lambda request: httpx2.Response(status, json=body, headers=headers)


def raw_reply(status: int, content: bytes, content_type: str = "application/json") -> Reply:
    """A reply whose body is exactly ``content`` (e.g. truncated JSON or an HTML error page)."""
    import httpx2

    return lambda request: httpx2.Response(status, content=content,
                                           headers={"content-type": content_type})


def transport_error(error: type[httpx2.TransportError]) -> Reply:
    """A 'reply' that fails at the transport with ``error``, e.g. ``httpx2.ReadTimeout`` or
    ``httpx2.ConnectError``: the SDK sees what a timeout or a refused connection looks like."""

    def fail(request: httpx2.Request) -> httpx2.Response:
        raise error("scripted transport failure", request=request)

    return fail


def sse_body(*events: tuple[str | None, Any]) -> bytes:
    """A server-sent-events body: one event per ``(event name or None, data)``; data that is
    not a string is JSON-encoded. :func:`openai_chunks` and :func:`anthropic_events` build
    the events."""
    lines = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        lines.append(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(lines).encode()


@cache
def _cut_stream() -> type:
    """The response-body class that sends its bytes and then loses the connection."""
    import httpx2

    class CutStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def __iter__(self) -> Iterator[bytes]:
            yield self.data
            raise httpx2.RemoteProtocolError(
                "peer closed connection without sending complete body")

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self.data
            raise httpx2.RemoteProtocolError(
                "peer closed connection without sending complete body")

    return CutStream


def stream_reply(body: bytes, *, cut: bool = False) -> Reply:
    """A 200 ``text/event-stream`` reply of ``body`` (see :func:`sse_body`); with ``cut`` the
    connection drops after ``body`` (``httpx2.RemoteProtocolError``, as a lost peer does)."""
    import httpx2

    headers = {"content-type": "text/event-stream"}
    if cut:
        return lambda request: httpx2.Response(200, stream=_cut_stream()(body), headers=headers)
    return lambda request: httpx2.Response(200, content=body, headers=headers)


# -- ragline's providers over the scripted upstream --------------------------------------------

class SleepRecorder:
    """Waits that are recorded instead of slept: :meth:`policy` is a RetryPolicy whose sync and
    async sleeps append the seconds to :attr:`seconds`, so retry tests run instantly."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def asleep(self, seconds: float) -> None:
        """Record ``seconds`` and return at once (the async sleep of :meth:`policy`)."""
        self.seconds.append(seconds)

    def policy(self, max_retries: int = 2) -> RetryPolicy:
        """A default RetryPolicy with ``max_retries`` whose waits land in :attr:`seconds`."""
        from ragline.models.retry import RetryPolicy

        return RetryPolicy(max_retries=max_retries, sleep=self.seconds.append,
                           async_sleep=self.asleep)


def _no_retries() -> RetryPolicy:
    from ragline.models.retry import RetryPolicy

    return RetryPolicy(max_retries=0)


def openai_chat_model(server: ScriptedServer, retry: RetryPolicy | None = None, *,
                      compatible: bool = False, timeout_s: float = 60.0,
                      model: str = "gpt-4o-mini", wire: bool = False) -> OpenAIChatModel:
    """ragline's ``openai`` provider (``openai_compatible`` with ``compatible``), its real sync
    and async SDK clients talking to ``server``; with ``wire``, its non-streamed async calls
    go over an :class:`~ragline.models.openai_wire.OpenAIWire` to ``server`` instead, as a
    model built from settings does. ``retry`` defaults to no retries; the SDK's own retries
    are off, as in production."""
    import httpx2
    import openai

    from ragline.models.openai_chat import OpenAIChatModel
    from ragline.models.openai_wire import OpenAIWire

    options: dict[str, Any] = {"api_key": "sk-test", "base_url": "https://api.openai.test/v1",
                               "max_retries": 0}
    over_wire = OpenAIWire(
        provider="openai_compatible" if compatible else "openai", api_key="sk-test",
        base_url=options["base_url"],
        http_client=httpx2.AsyncClient(transport=server.transport)) if wire else None
    return OpenAIChatModel(
        model=model, compatible=compatible, timeout_s=timeout_s, retry=retry or _no_retries(),
        client=openai.OpenAI(**options, http_client=httpx2.Client(transport=server.transport)),
        async_client=openai.AsyncOpenAI(
            **options, http_client=httpx2.AsyncClient(transport=server.transport)),
        wire=over_wire)


def anthropic_chat_model(server: ScriptedServer, retry: RetryPolicy | None = None, *,
                         timeout_s: float = 60.0, model: str = "claude-haiku-4-5",
                         ) -> AnthropicChatModel:
    """ragline's ``anthropic`` provider, its real sync and async SDK clients talking to
    ``server``. ``retry`` defaults to no retries; the SDK's own retries are off."""
    import anthropic
    import httpx2

    from ragline.models.anthropic_chat import AnthropicChatModel

    options: dict[str, Any] = {"api_key": "sk-ant-test",
                               "base_url": "https://api.anthropic.test", "max_retries": 0}
    return AnthropicChatModel(
        model=model, timeout_s=timeout_s, retry=retry or _no_retries(),
        client=anthropic.Anthropic(**options,
                                   http_client=httpx2.Client(transport=server.transport)),
        async_client=anthropic.AsyncAnthropic(
            **options, http_client=httpx2.AsyncClient(transport=server.transport)))


def openai_text_reply(reply: TextReply, *, model: str = "gpt-4o-mini",
                      usage: tuple[int, int] = (100, 20)) -> Reply:
    """A Chat Completions reply saying ``reply`` (a text, or a function of the request's JSON
    body): one ``chat.completion``, or, when the request asks to stream, one chunk per word,
    the finish chunk and the usage chunk. ``usage`` is the (prompt, completion) token count
    reported either way."""
    import httpx2

    counts = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
              "total_tokens": sum(usage)}

    def answer(request: httpx2.Request) -> httpx2.Response:
        body: dict[str, Any] = json.loads(request.content)
        text = reply(body) if callable(reply) else reply
        if body.get("stream"):
            words = re.findall(r"\S+\s*", text)
            return stream_reply(sse_body(*openai_chunks(*words, usage=counts, model=model)))(
                request)
        return httpx2.Response(200, json=openai_completion(text, usage=counts, model=model))

    return answer


def scripted_openai_model(reply: TextReply, *, model: str = "gpt-4o-mini",
                          usage: tuple[int, int] = (100, 20),
                          retry: RetryPolicy | None = None,
                          ) -> tuple[OpenAIChatModel, list[dict[str, Any]]]:
    """ragline's ``openai`` provider answering every request with ``reply`` (see
    :func:`openai_text_reply`), and the list the JSON body of each request it sends is
    appended to, live, in order. ``retry`` defaults to no retries."""
    seen: list[dict[str, Any]] = []
    answer = openai_text_reply(reply, model=model, usage=usage)

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return answer(request)

    return openai_chat_model(ScriptedServer(record), retry, model=model), seen


# -- documented response bodies and stream events -----------------------------------------------

def openai_completion(text: str = "A vector database [1].", *,
                      usage: dict[str, Any] | None = None,
                      model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A Chat Completions ``chat.completion`` body saying ``text``, finish reason ``stop``;
    ``usage`` (OpenAI's shape: ``prompt_tokens``, ...) None leaves the field out."""
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
    """The ``chat.completion.chunk`` events of a stream, for :func:`sse_body`: a role chunk,
    one chunk per text, then (unless ``finish`` is None, a stream that ends early) the finish
    chunk, the usage chunk when ``usage`` is given (its ``choices`` empty) and ``[DONE]``."""
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


def anthropic_message(text: str = "A vector database [1].", *,
                      usage: dict[str, Any] | None = None,
                      model: str = "claude-haiku-4-5") -> dict[str, Any]:
    """A Messages API ``message`` body saying ``text``, stop reason ``end_turn``; ``usage``
    defaults to :data:`ANTHROPIC_USAGE` with 9 output tokens."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": usage or {**ANTHROPIC_USAGE, "output_tokens": 9}}


def anthropic_events(*texts: str, output_tokens: int = 9, complete: bool = True,
                     usage: dict[str, Any] | None = None,
                     model: str = "claude-haiku-4-5") -> list[tuple[str | None, Any]]:
    """The events of a Messages stream, for :func:`sse_body`: ``message_start`` (with
    ``usage``, default :data:`ANTHROPIC_USAGE`), a text block of ``texts`` (with a ``ping``),
    then, when ``complete``, ``content_block_stop``, ``message_delta`` with the cumulative
    ``output_tokens`` and ``message_stop``."""
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
