"""AttributingChatModel: a real provider's uncited RAG answer gets its markers after the fact.

The inner model is ragline's real ``openai`` provider over a scripted upstream
(:mod:`ragline.testing`); the judge is the real offline one.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.routing.attributed import AttributingChatModel
from ragline.testing import SAMPLE_REQUEST, scripted_openai_model
from ragline.types import ChatRequest, ChatResponse, Usage
from ragline.verify.guard import AnswerCheck
from ragline.verify.offline_judge import OfflineJudge

PASSAGES = ("The Eiffel Tower was completed in 1889. It is 330 metres tall and stands in Paris.",
            "Qdrant is a vector database written in Rust. It does not run on the JVM.")
UNCITED = ("Qdrant is a vector database that is written in Rust. "
           "The Eiffel Tower in Paris was completed in 1889. It was painted green in 1700.")
CITED = ("Qdrant is a vector database that is written in Rust [2]. "
         "The Eiffel Tower in Paris was completed in 1889 [1]. It was painted green in 1700.")
RAG_REQUEST = replace(SAMPLE_REQUEST, question="What is Qdrant?", passages=PASSAGES)


@pytest.fixture(scope="module")
def judge(judge_embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """One judge over the judge's own MiniLM (int8 where fast), as shipped."""
    return OfflineJudge(judge_embedder)


@pytest.fixture
def model(judge: OfflineJudge) -> AttributingChatModel:
    """The real openai provider answering UNCITED to everything, with attribution on top."""
    inner, _ = scripted_openai_model(UNCITED, usage=(120, 30))
    return AttributingChatModel(inner, judge)


def assert_attributed(response: ChatResponse) -> None:
    assert response.text == CITED
    assert response.timings["attribute"] >= 0.0
    assert response.route == ""  # attribution decides no route: the inner one stands
    assert response.usage == Usage(input_tokens=120, output_tokens=30)
    assert response.model == "gpt-4o-mini"


def test_generate_cites_each_sentence_from_its_own_passage(model: AttributingChatModel,
                                                            judge: OfflineJudge) -> None:
    response = model.generate(RAG_REQUEST)
    assert_attributed(response)
    assert model.name == "openai:gpt-4o-mini"
    # the answer the check rejected for want of a citation now stands
    check = AnswerCheck(judge)
    assert check(UNCITED, PASSAGES).reason == "no valid citation"
    assert check(response.text, PASSAGES).passed


def test_agenerate_cites_the_same(model: AttributingChatModel) -> None:
    assert_attributed(asyncio.run(model.agenerate(RAG_REQUEST)))


def test_a_stream_sends_the_deltas_as_they_came(model: AttributingChatModel) -> None:
    stream = model.stream(RAG_REQUEST)
    deltas = list(stream)
    assert len(deltas) > 1
    assert "".join(deltas) == UNCITED
    assert stream.response is not None
    assert_attributed(stream.response)


def test_an_async_stream_sends_the_deltas_as_they_came(model: AttributingChatModel) -> None:
    async def read() -> tuple[list[str], ChatResponse | None]:
        stream = model.astream(RAG_REQUEST)
        return [delta async for delta in stream], stream.response

    deltas, response = asyncio.run(read())
    assert "".join(deltas) == UNCITED
    assert response is not None
    assert_attributed(response)


def test_a_stream_can_be_closed_early(model: AttributingChatModel) -> None:
    stream = model.stream(RAG_REQUEST)
    assert next(stream)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert stream.response is None


def test_a_request_without_passages_passes_through(model: AttributingChatModel) -> None:
    plain: ChatRequest = SAMPLE_REQUEST
    response = model.generate(plain)
    assert response.text == UNCITED
    assert "attribute" not in response.timings
    assert asyncio.run(model.agenerate(plain)).text == UNCITED
    stream = model.stream(plain)
    assert "".join(stream) == UNCITED
    assert stream.response is not None and stream.response.text == UNCITED
    assert "attribute" not in stream.response.timings
