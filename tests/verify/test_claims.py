"""Claims: sentences of an answer, split at clause conjunctions, markers stripped."""

from __future__ import annotations

from ragline.verify.claims import claims, markers, strip_markers


def test_each_sentence_is_a_claim_and_markers_are_stripped() -> None:
    answer = "Qdrant is written in Rust [1]. It supports hybrid search [2, 3]."
    assert claims(answer) == ["Qdrant is written in Rust.", "It supports hybrid search."]


def test_a_sentence_splits_where_both_sides_are_claims() -> None:
    answer = "The library was founded in 1998, and it moved to Berlin in 2004."
    assert claims(answer) == ["The library was founded in 1998.", "It moved to Berlin in 2004."]


def test_a_semicolon_splits_two_claims() -> None:
    assert claims("Paris is the capital of France; Rome is the capital of Italy.") == [
        "Paris is the capital of France.", "Rome is the capital of Italy."]


def test_a_conjunction_joining_short_phrases_does_not_split() -> None:
    assert claims("He bought salt, and pepper.") == ["He bought salt, and pepper."]
    assert claims("Tom and Jerry chase each other.") == ["Tom and Jerry chase each other."]


def test_markers_are_read_in_order_without_repeats() -> None:
    assert markers("A [2]. B [1, 2]. C [3].") == (2, 1, 3)
    assert markers("no citation here") == ()
    assert strip_markers("Rust [1].") == "Rust."


def test_an_empty_answer_has_no_claims() -> None:
    assert claims("") == []
    assert claims("   ") == []
