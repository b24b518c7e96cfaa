"""Copy-constrained answers of the local SmolLM2: always a verbatim slice of a passage."""

from __future__ import annotations

import re

import pytest

from ragline.models.copy_decoding import _closed, trimmed
from ragline.models.local import LocalChatModel, copy_style
from ragline.types import ChatRequest, Message

PASSAGES = (
    "Qdrant is a vector database written in Rust. It was first released in 2021 by a "
    "team in Berlin.",
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. Gustave "
    "Eiffel's company designed and built it.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen. It "
    "takes place in the chloroplasts of plant cells.",
)
QUESTIONS = (
    "What language is Qdrant written in?",
    "When was the Eiffel Tower completed?",
    "Where does photosynthesis take place?",
    "Whose company built the Eiffel Tower?",
    "What does photosynthesis turn into glucose?",
    "Which city is the Qdrant team in?",
)
_MARKER = re.compile(r" \[(\d+)\]$")


def _request(question: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", question),), question=question,
                       passages=PASSAGES, max_tokens=96)


def test_why_and_how_questions_get_a_sentence_and_others_a_span() -> None:
    assert copy_style("Why is the sky blue?", "span") == "sentence"
    assert copy_style("How does hybrid search work?", "span") == "sentence"
    assert copy_style("How many moons has Mars?", "span") == "span"
    assert copy_style("What is Qdrant?", "span") == "span"
    assert copy_style("What is Qdrant?", "sentence") == "sentence"
    assert copy_style("What is Qdrant?", "free") is None


def test_a_span_that_opens_a_code_span_is_closed_within_the_source() -> None:
    text = "It lives in a shard under `.ragline/collections/<name>/` by default."
    start, end = text.index("a shard"), text.index("<name>") + len("<name>")
    assert text[start:_closed(text, start, end)] == (
        "a shard under `.ragline/collections/<name>/`")
    assert _closed(text, start, text.index(" under")) == text.index(" under")  # nothing open


def test_a_trimmed_span_keeps_the_code_span_it_closed() -> None:
    text = "It lives in a shard under `.ragline/collections/<name>/` by default."
    start = text.index("a shard")
    a, b = trimmed(text, start, text.index("<name") + len("<name"))
    assert text[a:b] == "a shard under `.ragline/collections/<name>/`"
    a, b = trimmed(text, start, text.index("`") + 1)  # a span that ends on the opening mark
    assert text[a:b] == "a shard under"
    assert trimmed(text, start, start + 1) == (start, start + 1)


@pytest.mark.slow
@pytest.mark.parametrize("style", ["span", "sentence"])
def test_every_answer_is_a_verbatim_slice_of_the_passage_it_cites(style: str) -> None:
    model = LocalChatModel(answer_style="span" if style == "span" else "sentence")
    for question in QUESTIONS:
        response = model.generate(_request(question))
        marker = _MARKER.search(response.text) or re.search(r" \[(\d+)\]\.?$", response.text)
        assert marker is not None, response.text
        cited = PASSAGES[int(marker[1]) - 1]
        copied = response.text[:marker.start()]
        assert copied and copied in cited, (question, response.text)
        assert response.confidence is not None and 0 < response.confidence <= 1
        assert response.usage.output_tokens > 0


@pytest.mark.slow
def test_a_span_answer_is_a_phrase_of_the_sentence_and_repeatable() -> None:
    model = LocalChatModel(answer_style="span")
    request = _request("What language is Qdrant written in?")
    response = model.generate(request)
    copied = response.text.removesuffix(" [1]")
    assert copied != response.text and "Rust" in copied
    assert len(copied) < len("Qdrant is a vector database written in Rust")
    assert not copied.startswith("Qdrant")  # an answer does not start with the question's words
    assert model.generate(request).text == response.text  # greedy: the same answer again


@pytest.mark.slow
def test_a_stream_yields_the_copied_answer_word_by_word() -> None:
    model = LocalChatModel(answer_style="span")
    request = _request("What language is Qdrant written in?")
    stream = model.stream(request)
    assert "".join(stream) == model.generate(request).text
    assert stream.final is not None and stream.final.text.endswith(" [1]")
