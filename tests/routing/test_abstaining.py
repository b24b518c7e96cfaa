"""AbstainingChatModel: yes/no answers from the judge, declines, or the inner model's answer.

The inner model is ragline's real extractive provider; the judge the real offline one.
"""

from __future__ import annotations

import asyncio

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.models.extractive import ExtractiveModel
from ragline.routing.abstaining import YES_NO_ROUTE, AbstainingChatModel
from ragline.types import ChatRequest, Message
from ragline.verify.abstention import ABSTAIN_TEXT, Abstainer
from ragline.verify.offline_judge import OfflineJudge

PASSAGES = (
    "The New Pornographers is a Canadian indie rock band formed in 1997 in Vancouver.",
    "Kings of Leon is an American rock band that formed in Nashville, Tennessee, in 1999.",
    "Qdrant is a vector database written in Rust.",
)


def _request(question: str, passages: tuple[str, ...] = PASSAGES) -> ChatRequest:
    return ChatRequest(messages=(Message("user", question),), question=question,
                       passages=passages)


@pytest.fixture(scope="module")
def model(judge_embedder: SentenceTransformerEmbedder) -> AbstainingChatModel:
    """Extractive answers behind the calibrated abstainer, yes/no questions on."""
    return AbstainingChatModel(ExtractiveModel(), Abstainer(),
                               judge=OfflineJudge(judge_embedder), yes_no=True)


def test_an_answerable_question_gets_the_inner_models_answer(
        model: AbstainingChatModel) -> None:
    response = model.generate(_request("What language is Qdrant written in?"))
    assert response.text == "Qdrant is a vector database written in Rust [3]."
    assert response.route == ""


def test_a_question_no_passage_answers_is_declined(model: AbstainingChatModel) -> None:
    response = model.generate(_request("Who painted the Mona Lisa?"))
    assert response.text.startswith(ABSTAIN_TEXT)
    assert response.route == "abstained (no passage shares a word with the question)"
    assert response.timings["abstain"] >= 0


def test_a_yes_no_question_is_answered_citing_each_part(model: AbstainingChatModel) -> None:
    response = model.generate(_request(
        "Are both The New Pornographers and Kings of Leon American rock bands?"))
    assert response.route == YES_NO_ROUTE
    assert response.text.startswith("No.")
    assert "[1]" in response.text and "[2]" in response.text


def test_a_yes_no_question_with_a_part_unsupported_is_declined(
        model: AbstainingChatModel) -> None:
    response = model.generate(_request(
        "Are both The New Pornographers and Kings of Leon American rock bands?",
        (PASSAGES[1], PASSAGES[2])))
    assert response.route.startswith("abstained (not every part is supported")
    assert response.text.startswith(ABSTAIN_TEXT)


def test_a_request_without_passages_is_left_to_the_inner_model(
        model: AbstainingChatModel) -> None:
    assert model.direct(ChatRequest(messages=(Message("user", "Who painted it?"),))) is None


def test_streams_give_the_same_answers(model: AbstainingChatModel) -> None:
    stream = model.stream(_request("Who painted the Mona Lisa?"))
    assert "".join(stream).startswith(ABSTAIN_TEXT)
    assert stream.final is not None and stream.final.route.startswith("abstained")
    stream = model.stream(_request("What language is Qdrant written in?"))
    assert "".join(stream).strip() == "Qdrant is a vector database written in Rust [3]."

    async def collect() -> tuple[str, str]:
        chunks = model.astream(_request("Who painted the Mona Lisa?"))
        text = "".join([delta async for delta in chunks])
        assert chunks.response is not None
        return text, chunks.response.route

    text, route = asyncio.run(collect())
    assert text.startswith(ABSTAIN_TEXT) and route.startswith("abstained")


def test_agenerate_matches_generate(model: AbstainingChatModel) -> None:
    request = _request("What language is Qdrant written in?")
    assert asyncio.run(model.agenerate(request)).text == model.generate(request).text
