"""The extractive provider quotes the best-matching sentences with their markers."""

from __future__ import annotations

import pytest

from ragline.errors import InvalidInput
from ragline.models.extractive import ExtractiveModel
from ragline.types import ChatRequest, Message

PASSAGES = [
    (1, "ragline is a framework for RAG applications. It aims to be simple to read."),
    (2, "By default ragline stores its index under the .ragline directory. "
        "Set RAGLINE_HOME to keep the index data somewhere else."),
    (3, "Cats sleep for most of the day."),
]


def test_quotes_the_sentence_that_answers_with_its_marker() -> None:
    text = ExtractiveModel().answer("Where does ragline store its index?", PASSAGES)
    assert text.startswith("By default ragline stores its index under the .ragline directory [2].")


def test_adds_a_second_sentence_that_covers_missing_terms() -> None:
    text = ExtractiveModel().answer("Where is the index data kept, and how do I set RAGLINE_HOME?",
                                    PASSAGES)
    assert "[2]" in text
    assert "RAGLINE_HOME" in text
    assert "Cats" not in text


def test_says_so_when_nothing_matches() -> None:
    text = ExtractiveModel().answer("What is the boiling point of mercury?", PASSAGES)
    assert text.startswith("The retrieved passages do not answer this directly")
    assert text.endswith("[1].")


def test_generate_reads_the_question_and_passages_of_the_request() -> None:
    request = ChatRequest(messages=(Message("user", "ignored"),),
                          question="How long do cats sleep?",
                          passages=tuple(t for _, t in PASSAGES))
    response = ExtractiveModel().generate(request)
    assert response.text == "Cats sleep for most of the day [3]."
    assert response.cost is None  # priced by ragline.cost, not by the provider
    assert response.model == "extractive"


def test_generate_without_passages_explains_what_is_missing() -> None:
    with pytest.raises(InvalidInput, match="needs the request's question and passages"):
        ExtractiveModel().generate(ChatRequest(messages=(Message("user", "hi"),)))


def test_headings_are_never_quoted() -> None:
    passage = ("## Where ragline keeps its index data\n\n"
               "The index lives in a Qdrant Edge shard under .ragline in the working directory.")
    text = ExtractiveModel().answer("Where does ragline keep its index data?", [(1, passage)])
    assert text == ("The index lives in a Qdrant Edge shard under .ragline in the working "
                    "directory [1].")
