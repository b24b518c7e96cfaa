"""The abstention check: decline what the passages do not answer, answer what they do."""

from __future__ import annotations

from ragline.verify.abstention import ABSTAIN_TEXT, Abstainer, declined_text, evidence

PASSAGES = (
    "Qdrant is a vector database written in Rust. It stores vectors with payloads.",
    "BM25 ranks documents by the terms they share with the query, weighted by rarity.",
)


def test_a_question_the_passages_answer_is_not_declined() -> None:
    assert Abstainer().reason("What language is Qdrant written in?", PASSAGES) is None


def test_a_question_with_no_word_in_the_passages_is_declined() -> None:
    reason = Abstainer().reason("Who painted the Mona Lisa?", PASSAGES)
    assert reason == "no passage shares a word with the question"


def test_a_name_or_number_no_passage_mentions_declines_the_question() -> None:
    reason = Abstainer().reason("Was Qdrant written in Rust by Microsoft in 1999?", PASSAGES)
    assert reason == "no passage mentions 'Microsoft', '1999'"


def test_the_first_word_of_a_question_is_not_taken_for_a_name() -> None:
    assert evidence("Which database stores vectors?", PASSAGES).unknown_names == ()


def test_the_calibrated_score_declines_above_its_threshold() -> None:
    question = "What vectors does Qdrant keep in its payload index?"
    seen = evidence(question, PASSAGES)
    assert 0 < seen.coverage < 1 and seen.missed_share > 0
    strict = Abstainer(threshold=0.2, weights=(-1.0, 1.0, 4.0, 0.0), bias=0.0)
    lenient = Abstainer(threshold=0.99, weights=(-1.0, 1.0, 4.0, 0.0), bias=0.0)
    assert strict.probability(seen) > 0.2
    reason = strict.reason(question, PASSAGES)
    assert reason is not None and reason.startswith("the passages likely do not answer it")
    assert lenient.reason(question, PASSAGES) is None


def test_the_score_reads_the_models_confidence_only_when_weighted() -> None:
    assert not Abstainer(weights=(-1.0, 1.0, 1.0, 0.0)).reads_confidence
    reading = Abstainer(weights=(0.0, 0.0, 0.0, -1.0), bias=-2.0, threshold=0.5)
    assert reading.reads_confidence
    question = "What language is Qdrant written in?"
    assert reading.reason(question, PASSAGES, confidence=0.9) is None
    assert reading.reason(question, PASSAGES, confidence=0.01) is not None


def test_a_declined_answer_quotes_the_closest_passages_without_markers() -> None:
    text = declined_text(PASSAGES)
    assert text.startswith(ABSTAIN_TEXT)
    assert "Qdrant is a vector database" in text and "BM25 ranks" in text
    assert "[" not in text
    assert declined_text(()) == ABSTAIN_TEXT
