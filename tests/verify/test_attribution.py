"""Post-hoc citation attribution with the real offline judge (bundled MiniLM)."""

from __future__ import annotations

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.attribution import Attribution, attribute
from ragline.verify.guard import AnswerCheck
from ragline.verify.offline_judge import OfflineJudge

EIFFEL = "The Eiffel Tower was completed in 1889. It is 330 metres tall and stands in Paris."
QDRANT = "Qdrant is a vector database written in Rust. It does not run on the JVM."
PASSAGES = [EIFFEL, QDRANT]


@pytest.fixture(scope="module")
def judge(judge_embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """One judge over the judge's own MiniLM (int8 where fast), as shipped."""
    return OfflineJudge(judge_embedder)


def test_each_sentence_cites_the_passage_it_comes_from(judge: OfflineJudge) -> None:
    answer = ("Qdrant is a vector database that is written in Rust. "
              "The Eiffel Tower in Paris was completed in 1889.")
    result = attribute(answer, PASSAGES, judge=judge)
    assert result == Attribution(
        "Qdrant is a vector database that is written in Rust [2]. "
        "The Eiffel Tower in Paris was completed in 1889 [1].",
        (("Qdrant is a vector database that is written in Rust.", 2),
         ("The Eiffel Tower in Paris was completed in 1889.", 1)),
        ())
    # the answer check that rejected the uncited answer now lets it stand
    check = AnswerCheck(judge)
    assert check(answer, PASSAGES).reason == "no valid citation"
    assert check(result.text, PASSAGES).passed


def test_an_unsupported_sentence_stays_unmarked_and_is_listed(judge: OfflineJudge) -> None:
    answer = ("The Eiffel Tower was completed in 1889. "
              "It was painted bright green by Napoleon in 1700. "
              "Qdrant is written in Rust.")
    result = attribute(answer, PASSAGES, judge=judge)
    assert result.text == ("The Eiffel Tower was completed in 1889 [1]. "
                           "It was painted bright green by Napoleon in 1700. "
                           "Qdrant is written in Rust [2].")
    assert result.unsupported == ("It was painted bright green by Napoleon in 1700.",)
    assert [marker for _, marker in result.added] == [1, 2]


def test_a_cited_sentence_keeps_its_marker(judge: OfflineJudge) -> None:
    # even a marker at the wrong passage is the model's own: attribution leaves it alone
    answer = ("Qdrant does not run on the JVM [2]. The Eiffel Tower stands in Paris [2]. "
              "Qdrant is a vector database written in Rust.")
    result = attribute(answer, PASSAGES, judge=judge)
    assert result.text == ("Qdrant does not run on the JVM [2]. The Eiffel Tower stands in "
                           "Paris [2]. Qdrant is a vector database written in Rust [2].")
    assert result.added == (("Qdrant is a vector database written in Rust.", 2),)
    assert result.unsupported == ()


def test_text_between_sentences_is_kept(judge: OfflineJudge) -> None:
    answer = ("  In short:\n\nQdrant is a vector database written in Rust.\n"
              "The Eiffel Tower was completed in 1889.\n\n- Qdrant does not run on the JVM\n")
    result = attribute(answer, PASSAGES, judge=judge)
    assert result.text == ("  In short:\n\nQdrant is a vector database written in Rust [2].\n"
                           "The Eiffel Tower was completed in 1889 [1].\n\n"
                           "- Qdrant does not run on the JVM [2]\n")
    assert result.unsupported == ("In short:",)


@pytest.mark.parametrize(("sentence", "cited"), [
    ("Qdrant is written in Rust!", "Qdrant is written in Rust [2]!"),
    ("Qdrant is written in Rust", "Qdrant is written in Rust [2]"),
    ("Qdrant is written in Rust...", "Qdrant is written in Rust [2]..."),
    ('The docs say "Qdrant is written in Rust."', 'The docs say "Qdrant is written in Rust." [2]'),
])
def test_the_marker_goes_before_the_closing_punctuation(judge: OfflineJudge, sentence: str,
                                                         cited: str) -> None:
    docs = "The docs say Qdrant is written in Rust."
    assert attribute(sentence, ["Paris is in France.", docs], judge=judge).text == cited


def test_the_best_supporting_passage_wins(judge: OfflineJudge) -> None:
    sentence = "Qdrant is a vector database written in Rust."
    loose = ("Written in Rust by a team in Berlin, Qdrant is a vector database that many "
             "search products use.")
    weak, strong = (judge.support(sentence, [p]) for p in (loose, QDRANT))
    assert weak.supported and strong.supported and weak.score < strong.score
    assert attribute(sentence, [loose, QDRANT], judge=judge).added == ((sentence, 2),)


def test_a_tie_goes_to_the_higher_ranked_passage(judge: OfflineJudge) -> None:
    result = attribute("Qdrant is written in Rust.", [EIFFEL, QDRANT, QDRANT], judge=judge)
    assert result.text == "Qdrant is written in Rust [2]."


def test_nothing_to_attribute(judge: OfflineJudge) -> None:
    assert attribute("", PASSAGES, judge=judge) == Attribution("", (), ())
    cited = "Qdrant is written in Rust [2]."
    assert attribute(cited, PASSAGES, judge=judge) == Attribution(cited, (), ())
    uncited = "Qdrant is written in Rust."
    assert attribute(uncited, [], judge=judge) == Attribution(uncited, (), (uncited,))
