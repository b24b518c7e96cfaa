"""Provider prompt caching: Anthropic ``cache_control`` breakpoints and OpenAI's
``prompt_cache_key``, read from the JSON bodies the real SDKs send to a scripted server."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from ragline.models.anthropic_chat import AnthropicChatModel
from ragline.models.prompt_cache import (
    MAX_BREAKPOINTS,
    Segment,
    min_cacheable_tokens,
    place_breakpoints,
)
from ragline.models.tokens import count_tokens
from ragline.prompts import load_prompt
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_events,
    anthropic_message,
    json_reply,
    sse_body,
    stream_reply,
)
from ragline.types import ChatRequest, Message, Usage

SENTENCE = ("Qdrant keeps each collection in segments, and every segment holds points, their "
            "vectors and the payload indexes built over them. ")
EPHEMERAL = {"type": "ephemeral"}


def passages(count: int, sentences: int = 12) -> tuple[str, ...]:
    """``count`` distinct passages of ``sentences`` sentences (~25 tokens each)."""
    return tuple(f"Passage {n}: " + SENTENCE * sentences for n in range(1, count + 1))


def rag_request(texts: tuple[str, ...], question: str = "How does Qdrant store points?",
                *, system: str | None = None) -> ChatRequest:
    """A request rendered by the shipped ``rag_answer`` template, as the pipeline builds it."""
    messages = load_prompt("rag_answer", 1).render(
        passages=[{"marker": n, "text": t} for n, t in enumerate(texts, start=1)],
        question=question)
    if system is not None:
        messages = (Message("system", system), messages[1])
    return ChatRequest(messages=messages, max_tokens=50, question=question, passages=texts)


def anthropic_model(server: ScriptedServer, *, model: str = "claude-sonnet-4-5",
                    prompt_caching: bool = True) -> AnthropicChatModel:
    """The anthropic provider with real SDK clients talking to ``server``."""
    options: dict[str, Any] = {"api_key": "sk-ant-test",
                               "base_url": "https://api.anthropic.test", "max_retries": 0}
    return AnthropicChatModel(
        model=model, prompt_caching=prompt_caching,
        client=anthropic.Anthropic(**options, http_client=httpx.Client(transport=server.transport)),
        async_client=anthropic.AsyncAnthropic(
            **options, http_client=httpx.AsyncClient(transport=server.transport)))


def breakpoints(value: Any) -> int:
    """How many ``cache_control`` markers a JSON value holds, at any depth."""
    if isinstance(value, dict):
        return ("cache_control" in value) + sum(breakpoints(v) for v in value.values())
    if isinstance(value, list):
        return sum(breakpoints(v) for v in value)
    return 0


def text_of(content: str | list[dict[str, Any]]) -> str:
    """A message content's text, whether a string or text blocks."""
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def test_a_long_rag_prompt_marks_the_end_of_its_passages() -> None:
    request = rag_request(passages(6))  # ~1,900 tokens of passages, a short system prompt
    server = ScriptedServer(json_reply(200, anthropic_message()))
    anthropic_model(server).generate(request)
    [body] = server.bodies
    system, user = request.messages
    assert body["system"] == system.content  # ~60 tokens: too short to cache on its own
    [message] = body["messages"]
    head, tail = message["content"]
    assert head["cache_control"] == EPHEMERAL and "cache_control" not in tail
    assert head["text"].startswith("Passages:\n[1] Passage 1:")
    assert head["text"].rstrip().endswith(request.passages[-1].strip())
    assert tail["text"] == "Question: How does Qdrant store points?"
    assert head["text"] + tail["text"] == user.content  # the model reads the same prompt
    assert breakpoints(body) == 1


def test_a_long_system_prompt_and_passages_each_get_a_breakpoint() -> None:
    system = "Answer from the passages only. " * 250  # ~1,500 tokens
    request = rag_request(passages(6), system=system)
    server = ScriptedServer(json_reply(200, anthropic_message()))
    anthropic_model(server).generate(request)
    [body] = server.bodies
    assert body["system"] == [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    assert body["messages"][0]["content"][0]["cache_control"] == EPHEMERAL
    assert breakpoints(body) == 2


def test_a_conversation_also_marks_its_last_turn_and_never_exceeds_four() -> None:
    first = rag_request(passages(6), system="Answer from the passages only. " * 250)
    request = ChatRequest(messages=(*first.messages, Message("assistant", "Segments [1]."),
                                    Message("user", "And the payload indexes?")),
                          passages=first.passages, max_tokens=50)
    server = ScriptedServer(json_reply(200, anthropic_message()))
    anthropic_model(server).generate(request)
    [body] = server.bodies
    first_turn, answer, follow_up = body["messages"]
    assert breakpoints(body["system"]) == 1
    assert [breakpoints(b) for b in first_turn["content"]] == [1, 0]
    assert answer == {"role": "assistant", "content": "Segments [1]."}
    assert follow_up["content"] == [{"type": "text", "text": "And the payload indexes?",
                                     "cache_control": EPHEMERAL}]
    assert breakpoints(body) == 3 <= MAX_BREAKPOINTS


def test_short_prompts_are_sent_as_before() -> None:
    server = ScriptedServer(json_reply(200, anthropic_message()))
    model = anthropic_model(server)
    model.generate(SAMPLE_REQUEST)
    model.generate(rag_request(passages(2, sentences=2)))
    plain, short_rag = server.bodies
    assert plain["system"] == "Cite passages."
    assert plain["messages"] == [{"role": "user", "content": "Question: what is Qdrant?"}]
    assert isinstance(short_rag["system"], str)
    assert isinstance(short_rag["messages"][0]["content"], str)
    assert breakpoints(plain) == breakpoints(short_rag) == 0


def test_haiku_needs_a_longer_prefix_than_sonnet() -> None:
    medium = rag_request(passages(6))  # ~1,900 tokens: over Sonnet's 1,024, under 4,096
    long = rag_request(passages(16))  # ~5,000 tokens
    assert 1024 < count_tokens(medium.messages[1].content) < 4096
    assert count_tokens(long.messages[1].content) > 4096
    server = ScriptedServer(json_reply(200, anthropic_message()))
    sonnet, haiku = (anthropic_model(server, model="claude-sonnet-4-5"),
                     anthropic_model(server, model="claude-haiku-4-5"))
    sonnet.generate(medium)
    haiku.generate(medium)
    haiku.generate(long)
    assert [breakpoints(b) for b in server.bodies] == [1, 0, 1]
    assert isinstance(server.bodies[1]["messages"][0]["content"], str)  # haiku: as before


def test_prompt_caching_off_sends_no_cache_control() -> None:
    server = ScriptedServer(json_reply(200, anthropic_message()))
    request = rag_request(passages(16), system="Answer from the passages only. " * 250)
    anthropic_model(server, prompt_caching=False).generate(request)
    [body] = server.bodies
    assert breakpoints(body) == 0
    assert body["system"] == request.messages[0].content
    assert body["messages"] == [{"role": "user", "content": request.messages[1].content}]


def test_streams_carry_the_breakpoints_and_cache_usage_reaches_the_response() -> None:
    usage = {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 1900,
             "cache_creation_input_tokens": 0}
    server = ScriptedServer(
        json_reply(200, anthropic_message(usage={**usage, "output_tokens": 9})),
        stream_reply(sse_body(*anthropic_events("Seg", "ments [1].", usage=usage))))
    model = anthropic_model(server)
    request = rag_request(passages(6))
    response = model.generate(request)
    stream = model.stream(request)
    assert "".join(stream) == "Segments [1]."
    assert [breakpoints(b) for b in server.bodies] == [1, 1]
    expected = Usage(input_tokens=12, output_tokens=9, cache_read_tokens=1900)
    assert response.usage == expected
    assert stream.response is not None and stream.response.usage == expected


def test_async_calls_place_the_same_breakpoints() -> None:
    server = ScriptedServer(json_reply(200, anthropic_message()))
    model = anthropic_model(server)
    request = rag_request(passages(6))
    model.generate(request)
    asyncio.run(model.agenerate(request))
    sync_body, async_body = server.bodies
    assert sync_body == async_body
    assert text_of(sync_body["messages"][0]["content"]) == request.messages[1].content


def test_at_most_four_breakpoints_on_the_longest_stable_prefixes() -> None:
    segments = [Segment(i, "word " * 400, stable=True) for i in range(7)]
    placed = place_breakpoints(segments, "claude-sonnet-4-5")
    # prefixes: ~400, ~800, ~1,200 ... tokens; five reach 1,024, the last four are kept
    assert [s.cached for s in placed] == [False, False, False, True, True, True, True]
    assert [s.text for s in placed] == [s.text for s in segments]
    assert not any(s.cached for s in place_breakpoints(segments[:2], "claude-sonnet-4-5"))


def test_unstable_and_blank_blocks_never_get_a_breakpoint() -> None:
    segments = [Segment(-1, "word " * 2000, stable=True), Segment(0, "word " * 2000),
                Segment(1, "  ", stable=True)]
    assert [s.cached for s in place_breakpoints(segments, "claude-sonnet-4-5")] == [
        True, False, False]  # a blank block is never marked: Anthropic rejects it


@pytest.mark.parametrize("model, minimum", [
    ("claude-sonnet-4-5", 1024), ("claude-sonnet-4-5-20250929", 1024),
    ("claude-sonnet-4-0", 1024), ("claude-opus-4-1", 1024), ("claude-opus-4-20250514", 1024),
    ("claude-opus-4-5", 4096), ("claude-opus-4-6", 4096), ("claude-opus-4-7", 2048),
    ("claude-opus-4-8", 1024), ("claude-haiku-4-5", 4096), ("claude-3-5-haiku-latest", 2048),
    ("claude-3-haiku-20240307", 2048), ("claude-opus-5", 512),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", 2048), ("some-new-model", 1024)])
def test_minimum_cacheable_lengths(model: str, minimum: int) -> None:
    assert min_cacheable_tokens(model) == minimum
