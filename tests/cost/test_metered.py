"""Metering: model calls through the real SDKs land in a real ledger, priced."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select

from ragline.cost.ledger import Ledger, calls
from ragline.cost.metered import CostMeter, QueryScope, query_scope
from ragline.cost.prices import PriceCatalogue
from ragline.errors import ProviderUnavailable
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.models.rerank import LLMReranker
from ragline.models.tokens import count_tokens
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_chat_model,
    anthropic_events,
    json_reply,
    openai_chat_model,
    openai_chunks,
    openai_completion,
    sse_body,
    stream_reply,
)
from ragline.types import Chunk, ScoredChunk
from tests.constants import OPENAI_USAGE

SCOPE = QueryScope("q-1", tenant="acme", session="s-9", api_key="key-3")


@pytest.fixture
def meter(ledger: Ledger) -> CostMeter:
    return CostMeter(PriceCatalogue.load(), ledger)


def rows(meter: CostMeter) -> list[dict[str, object]]:
    with meter.ledger.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(calls).order_by(calls.c.id))]


def test_a_generation_is_priced_and_recorded_in_its_query(meter: CostMeter) -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    chat = meter.chat(openai_chat_model(server))
    with query_scope(SCOPE):
        response = chat.generate(SAMPLE_REQUEST)
    # 176 x $0.15 + 1024 x $0.075 + 7 x $0.60 per million, exact
    assert response.cost == Decimal("0.0001074") and isinstance(response.cost, Decimal)
    [row] = rows(meter)
    assert (row["query_id"], row["tenant"], row["session"], row["api_key"], row["stage"]) == (
        "q-1", "acme", "s-9", "key-3", "generate")
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (176, 1024, 7)
    assert row["cost_usd"] == Decimal("0.0001074")
    # the 1024 cached tokens saved (0.15 - 0.075) x 1024 per million
    assert row["savings_usd"] == Decimal("0.0000768")
    assert meter.ledger.query_cost("q-1").by_stage == {"generate": pytest.approx(107.4e-6)}


def test_a_stream_is_recorded_when_it_ends(meter: CostMeter) -> None:
    server = ScriptedServer(
        stream_reply(sse_body(*openai_chunks("A vector ", "database.", usage=OPENAI_USAGE))))
    stream = meter.chat(openai_chat_model(server)).stream(SAMPLE_REQUEST)
    assert rows(meter) == []  # nothing is charged before the stream is consumed
    assert "".join(stream) == "A vector database."
    assert stream.response is not None and stream.response.cost == Decimal("0.0001074")
    [row] = rows(meter)
    assert row["error"] is None and row["output_tokens"] == 7


def test_a_broken_stream_still_charges_what_it_produced(meter: CostMeter) -> None:
    body = sse_body(*openai_chunks("Qdrant is ", "a vector", finish=None))
    chat = meter.chat(openai_chat_model(ScriptedServer(stream_reply(body, cut=True))))
    received: list[str] = []
    with query_scope(SCOPE), pytest.raises(ProviderUnavailable) as caught:
        received.extend(chat.stream(SAMPLE_REQUEST))
    assert "".join(received) == "Qdrant is a vector"
    partial = caught.value.partial
    assert partial.text == "Qdrant is a vector" and partial.usage.estimated
    [row] = rows(meter)
    assert row["error"].startswith("ProviderUnavailable")
    assert row["output_tokens"] == partial.usage.output_tokens > 0
    assert row["cost_usd"] is not None and row["cost_usd"] > 0
    assert partial.cost == row["cost_usd"]


def test_a_stream_closed_early_is_charged_for_what_it_produced(meter: CostMeter) -> None:
    server = ScriptedServer(
        stream_reply(sse_body(*openai_chunks("Qdrant ", "is ", "fast.", usage=OPENAI_USAGE))))
    stream = meter.chat(openai_chat_model(server)).stream(SAMPLE_REQUEST)
    assert next(stream) == "Qdrant "
    stream.close()
    [row] = rows(meter)
    assert row["error"] == "closed by the caller before the end of the stream"
    assert row["estimated"] and row["input_tokens"] > 0
    assert row["output_tokens"] == count_tokens("Qdrant ", "gpt-4o-mini")
    assert row["cost_usd"] > 0


def test_async_calls_are_recorded_in_their_task_scope(meter: CostMeter) -> None:
    server = ScriptedServer(stream_reply(sse_body(*anthropic_events("Rust", " mostly."))))
    chat = meter.chat(anthropic_chat_model(server), stage="judge")

    async def run() -> str:
        with query_scope(SCOPE):
            stream = chat.astream(SAMPLE_REQUEST)
            return "".join([delta async for delta in stream])

    assert asyncio.run(run()) == "Rust mostly."
    [row] = rows(meter)
    assert (row["query_id"], row["stage"], row["model"]) == ("q-1", "judge", "claude-haiku-4-5")
    # the helper's usage: 40 in, 2000 read, 30 written for 5 min, 70 for 1 h, 9 out; at
    # claude-haiku-4-5's $1 / $0.10 / $1.25 / $2 / $5: 40 + 200 + 37.5 + 140 + 45 = 462.5
    assert (row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (100, 70)
    assert row["cost_usd"] == Decimal("0.0004625")


def test_calls_outside_a_query_get_an_id_of_their_own(meter: CostMeter) -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    chat = meter.chat(openai_chat_model(server))
    chat.generate(SAMPLE_REQUEST)
    chat.generate(SAMPLE_REQUEST)
    first, second = rows(meter)
    assert first["query_id"] != second["query_id"] and first["tenant"] == "default"


def test_the_embedder_and_reranker_are_metered(meter: CostMeter,
                                               embedder: SentenceTransformerEmbedder) -> None:
    metered = meter.embedder(embedder, model="all-MiniLM-L6-v2")
    chunk = Chunk.create("d", "Qdrant is written in Rust.", {}, 0)
    judge = openai_chat_model(ScriptedServer(json_reply(200, openai_completion(
        "5", usage=OPENAI_USAGE))))
    reranker = meter.reranker(LLMReranker(meter.chat(judge, stage="rerank")), model="gpt-4o-mini")
    with query_scope(SCOPE):
        vector = metered.embed_query("what is qdrant written in?")
        reranked = reranker.rerank("what is qdrant written in?", [ScoredChunk(chunk, 0.5)])
    assert vector.shape == (metered.dimension,) and np.isfinite(vector).all()
    assert [r.chunk.id for r in reranked] == [chunk.id]
    embed, judged, rerank = rows(meter)
    assert (embed["stage"], embed["model"], embed["cost_usd"]) == (
        "embed", "all-MiniLM-L6-v2", Decimal(0))
    assert embed["estimated"] and embed["input_tokens"] > 0
    assert (judged["stage"], judged["cost_usd"]) == ("rerank", Decimal("0.0001074"))
    assert rerank["stage"] == "rerank" and rerank["input_tokens"] > 0
