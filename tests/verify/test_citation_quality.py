"""ALCE citation recall and precision over the offline judge and the real MiniLM."""

from __future__ import annotations

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.citations import citation_quality
from ragline.verify.offline_judge import OfflineJudge

PASSAGES = [
    "The Amazon river flows through Brazil, Peru and Colombia into the Atlantic Ocean.",
    "The Nile is the longest river in Africa and flows north into the Mediterranean Sea.",
    "Mount Kilimanjaro is the highest mountain in Africa, at 5,895 metres.",
]


@pytest.fixture(scope="module")
def judge(embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """One judge over the session's MiniLM."""
    return OfflineJudge(embedder)


def test_correct_citations_are_recalled_and_precise(judge: OfflineJudge) -> None:
    answer = ("The Nile flows north into the Mediterranean Sea [2]. "
              "Kilimanjaro is the highest mountain in Africa [3].")
    result = citation_quality(answer, PASSAGES, judge=judge)
    assert (result.recall, result.precision) == (1.0, 1.0)


def test_a_citation_to_the_wrong_passage_is_neither(judge: OfflineJudge) -> None:
    result = citation_quality("The Nile flows north into the Mediterranean Sea [1].",
                              PASSAGES, judge=judge)
    assert (result.recall, result.precision) == (0.0, 0.0)


def test_a_sentence_without_citations_is_not_recalled(judge: OfflineJudge) -> None:
    answer = "The Nile flows north into the Mediterranean Sea. Kilimanjaro is in Africa [3]."
    result = citation_quality(answer, PASSAGES, judge=judge)
    assert result.recall == 0.5
    assert result.precision == 1.0
    assert result.sentences[0].cited == ()


def test_a_superfluous_extra_citation_is_imprecise(judge: OfflineJudge) -> None:
    result = citation_quality("The Nile flows north into the Mediterranean Sea [2, 3].",
                              PASSAGES, judge=judge)
    assert result.recall == 1.0
    assert result.sentences[0].precise == (True, False)
    assert result.precision == 0.5


def test_a_marker_past_the_passages_is_imprecise(judge: OfflineJudge) -> None:
    result = citation_quality("The Nile flows north into the Mediterranean Sea [9].",
                              PASSAGES, judge=judge)
    assert (result.recall, result.precision) == (0.0, 0.0)


def test_an_answer_that_cites_nothing_scores_zero(judge: OfflineJudge) -> None:
    result = citation_quality("", PASSAGES, judge=judge)
    assert (result.recall, result.precision, result.sentences) == (0.0, 0.0, ())


def test_a_short_quote_of_the_cited_passage_is_recalled_and_precise() -> None:
    passages = ["Growth was less than the state average of 10% in 2000.",
                "Paris is the capital of France."]
    judge = OfflineJudge(embedder=None)  # loads its embedder only if it is asked
    quoted = citation_quality("less than the state average of 10 [1]", passages, judge=judge)
    assert (quoted.recall, quoted.precision) == (1.0, 1.0)
    assert judge._embedder is None  # decided without the judge
    misplaced = citation_quality("less than the state average of 10 [2]", passages,
                                 judge=OfflineJudge(embedder=None))
    assert misplaced.precision == 0.0  # the quote is of [1], not of the passage it cites
