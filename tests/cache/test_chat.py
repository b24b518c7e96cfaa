"""CachedChatModel over the SQLite store, with ragline's real OpenAI provider upstream."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from ragline.cache import keys
from ragline.cache.chat import CachedChatModel, replay_chunks
from ragline.cache.sqlite_store import SQLiteCacheStore
from ragline.cost.metered import QueryScope, query_scope
from ragline.errors import ProviderError
from ragline.models.chat import ChatModel
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    json_reply,
    openai_chat_model,
    openai_chunks,
    openai_completion,
    openai_text_reply,
    scripted_openai_model,
    sse_body,
    stream_reply,
)
from ragline.types import Usage
from tests.cache.replies import ANSWER, slow


def cached(store: SQLiteCacheStore, reply: Any = ANSWER) -> tuple[CachedChatModel, list[Any]]:
    inner, seen = scripted_openai_model(reply)
    return CachedChatModel(inner, store), seen


def test_it_is_a_chat_model_named_like_its_inner(sqlite_store: SQLiteCacheStore) -> None:
    model, _ = cached(sqlite_store)
    assert isinstance(model, ChatModel)
    assert (model.name, model.provider, model.model) == ("openai:gpt-4o-mini", "openai",
                                                         "gpt-4o-mini")


def test_a_repeated_request_is_answered_from_the_cache(sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store)
    first = model.generate(SAMPLE_REQUEST)
    second = model.generate(SAMPLE_REQUEST)
    assert len(seen) == 1
    assert (first.cache, first.text, first.usage.output_tokens) == ("miss", ANSWER, 20)
    assert (second.cache, second.text, second.model) == ("hit", ANSWER, first.model)
    assert second.usage == Usage() and second.cost == Decimal(0)
    assert second.route == "openai:gpt-4o-mini (cache hit)"
    assert "cache" in second.timings


def test_a_new_index_version_or_prompt_version_misses(sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store)
    scoped = {"prompt": "rag_answer", "prompt_version": "1", "collection": "docs",
              "index_version": "7"}
    for metadata in (scoped, {**scoped, "index_version": "8"},
                     {**scoped, "prompt_version": "2"}, scoped):
        model.generate(replace(SAMPLE_REQUEST, metadata=metadata))
    assert len(seen) == 3


def test_tenants_never_share_answers_even_when_hashes_collide(
        sqlite_store: SQLiteCacheStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "digest_of", lambda material: "0" * 64)
    model, seen = cached(sqlite_store, lambda body: f"for {body['messages'][-1]['content']}")
    other = replace(SAMPLE_REQUEST, messages=SAMPLE_REQUEST.messages[:1])
    with query_scope(QueryScope("q1", "acme")):
        acme = model.generate(SAMPLE_REQUEST)
    with query_scope(QueryScope("q2", "globex")):
        globex = model.generate(SAMPLE_REQUEST)
        globex_other = model.generate(other)  # same (forced) digest, other request
    with query_scope(QueryScope("q3", "acme")):
        again = model.generate(SAMPLE_REQUEST)
    assert len(seen) == 3
    assert [r.cache for r in (acme, globex, globex_other)] == ["miss"] * 3
    assert globex_other.text == "for Cite passages."
    assert (again.cache, again.text) == ("hit", acme.text)
    assert sqlite_store.stats("acme").entries == 1


def test_errors_are_not_cached(sqlite_store: SQLiteCacheStore) -> None:
    server = ScriptedServer(json_reply(400, {"error": {"message": "bad request"}}),
                            openai_text_reply(ANSWER))
    model = CachedChatModel(openai_chat_model(server), sqlite_store)
    with pytest.raises(ProviderError):
        model.generate(SAMPLE_REQUEST)
    assert model.generate(SAMPLE_REQUEST).cache == "miss"
    assert len(server.requests) == 2


def test_fifty_concurrent_identical_requests_make_one_upstream_call(
        sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store, slow(0.3))
    barrier = threading.Barrier(50)

    def ask(_: int) -> str:
        barrier.wait()
        return model.generate(SAMPLE_REQUEST).cache

    with ThreadPoolExecutor(50) as pool:
        states = list(pool.map(ask, range(50)))
    assert len(seen) == 1
    assert states.count("miss") == 1 and states.count("hit") == 49


def test_fifty_concurrent_async_requests_make_one_upstream_call(
        sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store, slow(0.2))

    async def main() -> list[str]:
        answers = await asyncio.gather(*(model.agenerate(SAMPLE_REQUEST) for _ in range(50)))
        return [a.text for a in answers]

    assert asyncio.run(main()) == [ANSWER] * 50
    assert len(seen) == 1


def test_a_completed_stream_is_stored_and_replayed_as_a_stream(
        sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store)
    first = model.stream(SAMPLE_REQUEST)
    deltas = list(first)
    assert "".join(deltas) == ANSWER and first.response is not None
    assert first.response.cache == "miss"
    replay = model.stream(SAMPLE_REQUEST)
    replayed = list(replay)
    assert replayed == replay_chunks(ANSWER) and len(replayed) > 1
    assert replay.response is not None and replay.response.cache == "hit"
    assert model.generate(SAMPLE_REQUEST).cache == "hit"  # streams and calls share entries
    assert len(seen) == 1


def test_an_async_stream_is_stored_and_replayed(sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store)

    async def read() -> tuple[str, str]:
        stream = model.astream(SAMPLE_REQUEST)
        text = "".join([delta async for delta in stream])
        assert stream.response is not None
        return text, stream.response.cache

    assert asyncio.run(read()) == (ANSWER, "miss")
    assert asyncio.run(read()) == (ANSWER, "hit")
    assert len(seen) == 1


def test_a_broken_stream_is_not_stored(sqlite_store: SQLiteCacheStore) -> None:
    broken = stream_reply(sse_body(*openai_chunks("Qdrant ", "is", finish=None)), cut=True)
    server = ScriptedServer(broken, openai_text_reply(ANSWER))
    model = CachedChatModel(openai_chat_model(server), sqlite_store)
    with pytest.raises(ProviderError):
        list(model.stream(SAMPLE_REQUEST))
    assert sqlite_store.stats().entries == 0
    assert model.generate(SAMPLE_REQUEST).cache == "miss"


def test_an_abandoned_stream_is_not_stored(sqlite_store: SQLiteCacheStore) -> None:
    model, seen = cached(sqlite_store)
    stream = model.stream(SAMPLE_REQUEST)
    assert next(stream)
    stream.close()
    assert sqlite_store.stats().entries == 0
    assert model.generate(SAMPLE_REQUEST).cache == "miss"
    assert len(seen) == 2


def test_replay_chunks_join_back_to_the_text() -> None:
    for text in ("", "one", " lead and  double  spaces\nnew line ", ANSWER):
        assert "".join(replay_chunks(text)) == text


def test_an_async_miss_is_stored_before_the_next_request_is_read(
        sqlite_store: SQLiteCacheStore) -> None:
    """On a loop, the write waits for the end of the step, not for the next request."""
    server = ScriptedServer(json_reply(200, openai_completion("Stored.")))
    model = CachedChatModel(openai_chat_model(server, wire=True), sqlite_store)

    async def main() -> tuple[str | None, str, str]:
        first = await model.agenerate(SAMPLE_REQUEST)
        during = sqlite_store.get(model.key_for(SAMPLE_REQUEST))
        await asyncio.sleep(0)  # the step that answered ends
        again = await model.agenerate(SAMPLE_REQUEST)
        return during, first.cache, again.cache

    assert asyncio.run(main()) == (None, "miss", "hit")
    assert len(server.requests) == 1
