"""Streaming: text deltas as they arrive, the usage at the end, partial replies on a break."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ragline.errors import InvalidInput, ProviderError, ProviderUnavailable, RateLimited
from ragline.models.extractive import ExtractiveModel
from ragline.models.streaming import AsyncChatStream, ChatStream
from ragline.models.tokens import count_tokens
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    SleepRecorder,
    anthropic_chat_model,
    anthropic_events,
    json_reply,
    openai_chat_model,
    openai_chunks,
    scripted_openai_model,
    sse_body,
    stream_reply,
)
from ragline.types import ChatRequest, ChatResponse, Message, Usage
from tests.constants import OPENAI_USAGE


def drain(stream: ChatStream | AsyncChatStream) -> tuple[list[str], ChatResponse | None]:
    """The deltas of a sync or async stream, and its final response."""
    if isinstance(stream, ChatStream):
        return list(stream), stream.response

    async def collect() -> list[str]:
        return [delta async for delta in stream]

    return asyncio.run(collect()), stream.response


def open_stream(model: Any, use_async: bool) -> ChatStream | AsyncChatStream:
    return model.astream(SAMPLE_REQUEST) if use_async else model.stream(SAMPLE_REQUEST)


def broken(model: Any, use_async: bool) -> tuple[list[str], ProviderError]:
    """The deltas seen before a stream raised, and the error."""
    stream = open_stream(model, use_async)
    seen: list[str] = []

    async def collect() -> None:
        assert isinstance(stream, AsyncChatStream)
        async for delta in stream:
            seen.append(delta)

    with pytest.raises(ProviderError) as caught:
        if use_async:
            asyncio.run(collect())
        else:
            seen.extend(stream)
    return seen, caught.value


SYNC_ASYNC = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


@SYNC_ASYNC
def test_openai_stream_reads_usage_from_the_last_chunk(use_async: bool) -> None:
    server = ScriptedServer(stream_reply(sse_body(*openai_chunks("A vector ", "database [1].",
                                                    usage=OPENAI_USAGE))))
    deltas, response = drain(open_stream(openai_chat_model(server), use_async))
    assert deltas == ["A vector ", "database [1]."]
    assert server.bodies[0]["stream"] is True
    assert server.bodies[0]["stream_options"] == {"include_usage": True}
    assert response is not None
    assert response.text == "A vector database [1]."
    assert response.usage == Usage(input_tokens=176, output_tokens=7, cache_read_tokens=1024)
    assert response.finish_reason == "stop"
    assert response.cost is None


@SYNC_ASYNC
def test_anthropic_stream_reads_message_start_and_message_delta(use_async: bool) -> None:
    server = ScriptedServer(stream_reply(sse_body(*anthropic_events("A vector ", "database [1].",
                                                       output_tokens=11))))
    deltas, response = drain(open_stream(anthropic_chat_model(server), use_async))
    assert deltas == ["A vector ", "database [1]."]
    assert server.bodies[0]["stream"] is True
    assert response is not None
    assert response.text == "A vector database [1]."
    assert response.usage == Usage(input_tokens=40, output_tokens=11, cache_read_tokens=2000,
                                   cache_write_tokens=100, cache_write_1h_tokens=70)
    assert response.finish_reason == "end_turn"


@SYNC_ASYNC
def test_openai_compatible_server_that_ignores_include_usage_is_estimated(use_async: bool,
                                                                          ) -> None:
    server = ScriptedServer(stream_reply(sse_body(*openai_chunks("Written ", "in Rust."))))
    deltas, response = drain(open_stream(openai_chat_model(server, compatible=True), use_async))
    assert "".join(deltas) == "Written in Rust."
    assert response is not None
    assert response.usage.estimated
    assert response.usage.output_tokens == count_tokens("Written in Rust.")
    assert response.usage.input_tokens > 0


@SYNC_ASYNC
def test_openai_stream_cut_off_raises_with_the_partial_reply(use_async: bool) -> None:
    server = ScriptedServer(
        stream_reply(sse_body(*openai_chunks("Qdrant is ", "written", finish=None)), cut=True))
    model = openai_chat_model(server, SleepRecorder().policy(max_retries=2))
    seen, error = broken(model, use_async)
    assert isinstance(error, ProviderUnavailable)
    assert seen == ["Qdrant is ", "written"]
    assert len(server.requests) == 1  # text was already yielded: no retry
    partial = error.partial
    assert isinstance(partial, ChatResponse)
    assert partial.text == "Qdrant is written"
    assert partial.finish_reason == "error"
    assert partial.usage.estimated
    assert partial.usage.output_tokens == count_tokens("Qdrant is written")


@SYNC_ASYNC
def test_anthropic_overloaded_error_event_mid_stream(use_async: bool) -> None:
    events = [*anthropic_events("Qdrant is ", complete=False),
              ("error", {"type": "error",
                         "error": {"type": "overloaded_error", "message": "Overloaded"}})]
    server = ScriptedServer(stream_reply(sse_body(*events)))
    model = anthropic_chat_model(server, SleepRecorder().policy(max_retries=2))
    seen, error = broken(model, use_async)
    assert isinstance(error, ProviderUnavailable)
    assert error.status_code == 529
    assert seen == ["Qdrant is "]
    partial = error.partial
    assert isinstance(partial, ChatResponse)
    assert partial.text == "Qdrant is "
    # input counts from message_start; output counted locally: message_delta never came
    assert (partial.usage.input_tokens, partial.usage.cache_read_tokens) == (40, 2000)
    assert partial.usage.cache_write_1h_tokens == 70
    assert partial.usage.output_tokens == count_tokens("Qdrant is ")
    assert partial.usage.estimated


@SYNC_ASYNC
def test_anthropic_stream_that_ends_without_message_delta_is_unfinished(use_async: bool) -> None:
    server = ScriptedServer(stream_reply(sse_body(*anthropic_events("Half an ", complete=False))))
    seen, error = broken(anthropic_chat_model(server), use_async)
    assert seen == ["Half an "]
    assert isinstance(error, ProviderUnavailable)
    assert "ended before the reply was complete" in str(error)
    assert error.partial is not None and error.partial.text == "Half an "


@SYNC_ASYNC
def test_stream_is_retried_until_the_first_delta(use_async: bool) -> None:
    waits = SleepRecorder()
    server = ScriptedServer(
        json_reply(429, {"error": {"message": "slow down"}}, {"retry-after": "1"}),
        stream_reply(sse_body(*openai_chunks(finish=None)), cut=True),  # broke before any text
        stream_reply(sse_body(*openai_chunks("Finally.", usage=OPENAI_USAGE))))
    deltas, response = drain(open_stream(openai_chat_model(server, waits.policy(3)), use_async))
    assert deltas == ["Finally."]
    assert response is not None and response.text == "Finally."
    assert len(server.requests) == 3
    assert waits.seconds[0] == 1.0


def test_stream_failing_before_any_text_raises_without_partial() -> None:
    server = ScriptedServer(
        json_reply(429, {"error": {"message": "slow down"}}, {"retry-after": "3"}))
    seen, error = broken(openai_chat_model(server, SleepRecorder().policy(1)), use_async=False)
    assert isinstance(error, RateLimited)
    assert seen == [] and error.partial is None
    assert len(server.requests) == 2


@SYNC_ASYNC
def test_closing_a_stream_early_stops_reading(use_async: bool) -> None:
    server = ScriptedServer(stream_reply(sse_body(*openai_chunks("one ", "two ", "three",
                                                    usage=OPENAI_USAGE))))
    model = openai_chat_model(server)
    if use_async:
        async def first_only() -> str:
            stream = model.astream(SAMPLE_REQUEST)
            first = await anext(stream)
            await stream.aclose()
            return first

        assert asyncio.run(first_only()) == "one "
    else:
        stream = model.stream(SAMPLE_REQUEST)
        assert next(stream) == "one "
        stream.close()
        assert list(stream) == []
        assert stream.response is None


# -- in-process providers ---------------------------------------------------------------------

QUESTION, PASSAGES = "How long do cats sleep?", ("Cats sleep for most of the day.",)


@SYNC_ASYNC
def test_extractive_streams_its_answer_word_by_word(use_async: bool) -> None:
    request = ChatRequest(messages=(Message("user", "ignored"),), question=QUESTION,
                          passages=PASSAGES)
    model = ExtractiveModel()
    stream = model.astream(request) if use_async else model.stream(request)
    deltas, response = drain(stream)
    assert deltas == ["Cats ", "sleep ", "for ", "most ", "of ", "the ", "day ", "[1]."]
    assert response is not None
    assert response.text == "".join(deltas) == model.generate(request).text
    assert response.cost is None


def test_extractive_agenerate() -> None:
    request = ChatRequest(messages=(Message("user", "ignored"),), question=QUESTION,
                          passages=PASSAGES)
    response = asyncio.run(ExtractiveModel().agenerate(request))
    assert response.text == "Cats sleep for most of the day [1]."


@SYNC_ASYNC
def test_scripted_model_streams_too(use_async: bool) -> None:
    model, seen = scripted_openai_model("Qdrant is written in Rust [1].", usage=(300, 9))
    deltas, response = drain(model.astream(SAMPLE_REQUEST) if use_async
                             else model.stream(SAMPLE_REQUEST))
    assert deltas == ["Qdrant ", "is ", "written ", "in ", "Rust ", "[1]."]
    assert response is not None
    assert response.usage == Usage(input_tokens=300, output_tokens=9)
    assert seen[0]["stream"] is True


@pytest.mark.slow
def test_local_model_streams_and_reports_its_own_token_counts() -> None:
    from ragline.models.local import LocalChatModel

    model = LocalChatModel()
    request = ChatRequest(messages=(
        Message("system", "Answer from the passages."),
        Message("user", "Passages:\n[1] Qdrant is a vector database written in Rust.\n\n"
                        "Question: What language is Qdrant written in?")), max_tokens=12)
    stream = model.stream(request)
    deltas = list(stream)
    response = stream.response
    assert response is not None
    assert len(deltas) > 1
    assert "".join(deltas) == response.text
    assert "Rust" in response.text
    assert not response.usage.estimated
    assert response.usage.input_tokens > 20
    assert 0 < response.usage.output_tokens <= 12
    assert response.cost is None

    async def first_then_close() -> str:
        astream = model.astream(request)
        first = await anext(astream)
        await astream.aclose()  # stops the generation thread
        return first

    assert asyncio.run(first_then_close()) == deltas[0]


def test_extractive_stream_without_passages_explains_what_is_missing() -> None:
    stream = ExtractiveModel().stream(ChatRequest(messages=(Message("user", "hi"),)))
    with pytest.raises(InvalidInput, match="needs the request's question and passages"):
        next(stream)
