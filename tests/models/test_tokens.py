"""Token counting works offline with tiktoken's real encodings."""

from __future__ import annotations

import pytest

from ragline.errors import InvalidInput
from ragline.models.tokens import count_tokens
from ragline.tokens import encoding_name_for_model, get_encoding


def test_tiktoken_encodings_load_without_network() -> None:
    cl100k = get_encoding("cl100k_base")
    o200k = get_encoding("o200k_base")
    # Reference ids from the encodings' public vocabularies.
    assert cl100k.encode("hello world") == [15339, 1917]
    assert o200k.encode("hello world") == [24912, 2375]


def test_model_names_map_to_their_encoding() -> None:
    assert encoding_name_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_name_for_model("gpt-4") == "cl100k_base"
    assert encoding_name_for_model("gpt-3.5-turbo") == "cl100k_base"
    assert count_tokens("hello world", "gpt-4o") == 2


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown tiktoken encoding"):
        get_encoding("p50k_base")


@pytest.mark.slow
def test_local_models_are_counted_with_their_own_tokenizer() -> None:
    from ragline.models.local import load_local_tokenizer

    text = "Qdrant is written in Rust."
    expected = len(load_local_tokenizer().encode(text, add_special_tokens=False))
    assert count_tokens(text, "SmolLM2-135M-Instruct") == expected
    assert expected > 0
