"""Faithfulness over the offline judge and the real MiniLM."""

from __future__ import annotations

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.faithfulness import faithfulness
from ragline.verify.offline_judge import OfflineJudge

CONTEXTS = [
    "Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903.",
    "Curie was the first woman to win a Nobel Prize.",
]


@pytest.fixture(scope="module")
def judge(embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """One judge over the session's MiniLM."""
    return OfflineJudge(embedder)


def test_an_answer_the_contexts_back_scores_one(judge: OfflineJudge) -> None:
    result = faithfulness("Marie Curie was born in Warsaw in 1867 [1]. "
                          "She was the first woman to win a Nobel Prize [2].",
                          CONTEXTS, judge=judge)
    assert result.score == 1.0
    assert result.unsupported == ()
    assert len(result.verdicts) == 2


def test_unsupported_claims_are_listed_and_lower_the_score(judge: OfflineJudge) -> None:
    result = faithfulness("Marie Curie was born in Warsaw in 1867, and she later moved "
                          "to Vienna to study music.", CONTEXTS, judge=judge)
    assert result.score == 0.5
    assert result.unsupported == ("She later moved to Vienna to study music.",)


def test_a_contradicted_claim_is_reported(judge: OfflineJudge) -> None:
    result = faithfulness("Marie Curie was born in Warsaw in 1901.", CONTEXTS, judge=judge)
    assert result.score == 0.0
    assert result.contradicted == ("Marie Curie was born in Warsaw in 1901.",)


def test_an_answer_without_claims_is_vacuously_faithful(judge: OfflineJudge) -> None:
    result = faithfulness("", CONTEXTS, judge=judge)
    assert (result.score, result.verdicts) == (1.0, ())


def test_a_claim_quoted_word_for_word_is_supported_without_the_judge() -> None:
    contexts = ["Growth was less than the state average of 10% in 2000."]
    judge = OfflineJudge(embedder=None)  # loads its embedder only if it is asked
    result = faithfulness("less than the state average of 10 [1]", contexts, judge=judge)
    assert result.score == 1.0
    assert result.verdicts[0].reason == "quoted verbatim from the passages"
    assert judge._embedder is None  # the quote was decided without the judge
