"""Yes/no questions answered from passages: detection, claims, and answers by the real
offline judge (its own MiniLM), each part cited to the passage that decides it."""

from __future__ import annotations

import re

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.offline_judge import OfflineJudge
from ragline.verify.yesno import YesNo, answer_yes_no, claims_of, is_yes_no

NEW_PORNOGRAPHERS = ("The New Pornographers is a Canadian indie rock band formed in 1997 in "
                     "Vancouver, British Columbia.")
KINGS_OF_LEON = ("Kings of Leon is an American rock band that formed in Nashville, Tennessee, "
                 "in 1999.")
MCILRATH = ('Timothy James "Tim" McIlrath (born November 3, 1978) is an American punk rock '
            "musician.")
SLAWSON = ("Spike Slawson is an American punk rock musician, a member of Me First and the "
           "Gimme Gimmes and Swingin' Utters.")
DISTRACTORS = [
    "The Eiffel Tower was completed in 1889. It is 330 metres tall and stands in Paris.",
    "Calochone is a genus of flowering plants in the Rubiaceae family.",
    "Qdrant is a vector database written in Rust. It does not run on the JVM.",
]
BOTH_AMERICAN = "Are both The New Pornographers and Kings of Leon American rock bands?"


@pytest.fixture(scope="module")
def judge(judge_embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """The shipped offline judge over its own MiniLM."""
    return OfflineJudge(judge_embedder)


def cited(answer: YesNo) -> list[int]:
    """The passage numbers the answer's text cites, in order."""
    return [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]


@pytest.mark.parametrize("question", [
    BOTH_AMERICAN,
    "Does Alice say the budget grew while Bob says it shrank?",
    "Isn't Qdrant written in Rust?",
    "Were Up and The Watercolor released in the same year?",
    "Yukio Mishima and Roberto Bolaño, are Chilean?",
])
def test_yes_no_questions_are_detected(question: str) -> None:
    assert is_yes_no(question)


@pytest.mark.parametrize("question", [
    "Is Arthur's Magazine or First for Women older?",  # a choice
    "Which magazine was started first, Arthur's Magazine or First for Women?",
    "Jinchang and Liling, are located in which country?",
    "Did the Romans eat hummus? If so, what was in it?",  # two questions
    "Had Bernie Sanders been nominated, how would the election have gone?",
    "Who founded Qdrant?",
])
def test_other_questions_are_not(question: str) -> None:
    assert not is_yes_no(question)
    assert claims_of(question) == ()


def test_a_shared_predicate_gives_one_claim_per_subject() -> None:
    assert claims_of(BOTH_AMERICAN) == ("The New Pornographers is an American rock band",
                                        "Kings of Leon is an American rock band")
    assert claims_of("Are Jane and First for Women both women's magazines?") == (
        "Jane is a women's magazine", "First for Women is a women's magazine")
    assert claims_of("Did both Carl Boese and Franco Zeffirelli direct and produce film?") == (
        "Carl Boese did direct and produce film", "Franco Zeffirelli did direct and produce film")
    assert claims_of("Are Gin and tonic and Paloma both cocktails based on tequila?") == (
        "Gin and tonic is a cocktail based on tequila", "Paloma is a cocktail based on tequila")
    assert len(claims_of("Are Alpha, Beta and Gamma all Greek letters?")) == 3


def test_clauses_are_split_and_names_numbers_and_negations_kept() -> None:
    assert claims_of("Does Alice say the budget grew while Bob says it shrank?") == (
        "Alice say the budget grew", "Bob says it shrank")
    assert claims_of("Is the Eiffel Tower in Paris, and is Big Ben in London?") == (
        "the Eiffel Tower is in Paris", "Big Ben is in London")
    assert claims_of("Was the Eiffel Tower completed in 1889?") == (
        "the Eiffel Tower completed in 1889",)
    assert claims_of("Is Qdrant not written in Go?") == ("Qdrant is not written in Go",)
    assert claims_of("Is Paris the capital and largest city of France?") == (
        "Paris is the capital and largest city of France",)
    assert claims_of("Do Randal Kleiser and Kyle Schickner have the same nationality?") == (
        "the nationality of Randal Kleiser", "the nationality of Kyle Schickner")


def test_every_part_supported_answers_yes_citing_each(judge: OfflineJudge) -> None:
    passages = [DISTRACTORS[0], SLAWSON, DISTRACTORS[1], MCILRATH]
    answer = answer_yes_no("Are both Tim McIlrath and Spike Slawson American punk rock "
                           "musicians?", passages, judge=judge)
    assert answer is not None and answer.verdict == "yes", answer
    assert [p.verdict for p in answer.parts] == ["supported", "supported"]
    assert [p.marker for p in answer.parts] == [4, 2]  # McIlrath's passage, then Slawson's
    assert answer.text.startswith("Yes. ") and cited(answer) == [4, 2]
    assert "American punk rock musician" in answer.text


def test_a_contradicted_part_answers_no_citing_the_conflict(judge: OfflineJudge) -> None:
    passages = [KINGS_OF_LEON, DISTRACTORS[2], NEW_PORNOGRAPHERS]
    answer = answer_yes_no(BOTH_AMERICAN, passages, judge=judge)
    assert answer is not None and answer.verdict == "no", answer
    pornographers, kings = answer.parts
    assert pornographers.verdict == "contradicted" and pornographers.marker == 3
    assert "Canadian" in pornographers.evidence and "Canadian" in pornographers.reason
    assert kings.verdict == "supported" and kings.marker == 1
    assert answer.text.startswith("No. The New Pornographers is a Canadian indie rock band")
    assert cited(answer) == [3, 1]


def test_a_part_missing_from_the_passages_declines(judge: OfflineJudge) -> None:
    answer = answer_yes_no(BOTH_AMERICAN, [NEW_PORNOGRAPHERS, *DISTRACTORS], judge=judge)
    assert answer is not None and answer.verdict == "declined", answer
    assert answer.parts[1].verdict == "not_found" and answer.parts[1].marker is None
    assert answer.text == ("I can't answer yes or no: the indexed documents do not say whether "
                           "Kings of Leon is an American rock band.")
    # the other half alone would say "no": nothing of it is given as the answer
    assert answer.parts[0].verdict == "contradicted" and "No." not in answer.text


def test_a_name_is_found_as_the_passage_writes_it(judge: OfflineJudge) -> None:
    passages = ["Kenneth Charles Loach (born 17 June 1936) is an English director of "
                "television and independent film.", *DISTRACTORS]
    answer = answer_yes_no("Is Ken Loach American?", passages, judge=judge)
    assert answer is not None and answer.verdict == "no", answer
    assert answer.parts[0].marker == 1 and "English" in answer.parts[0].reason


def test_a_denial_in_the_evidence_answers_no(judge: OfflineJudge) -> None:
    answer = answer_yes_no("Does Qdrant run on the JVM?", DISTRACTORS, judge=judge)
    assert answer is not None and answer.verdict == "no", answer
    assert answer.parts[0].marker == 3 and "does not run on the JVM" in answer.text
    hedged = answer_yes_no("Is Ana Lopez a singer?",
                           ["Ana Lopez is not only a singer but also an actor."], judge=judge)
    assert hedged is not None and hedged.verdict == "yes", hedged  # "not only" denies nothing


def test_both_clauses_of_a_while_question_are_checked(judge: OfflineJudge) -> None:
    passages = [DISTRACTORS[0], "The Globex memo says costs fell sharply in March.",
                "Acme's annual report says revenue grew in 2020."]
    question = "Does Acme's report say revenue grew in 2020 while the Globex memo says costs fell?"
    answer = answer_yes_no(question, passages, judge=judge)
    assert answer is not None and answer.verdict == "yes", answer
    assert cited(answer) == [3, 2]
    other = answer_yes_no(question.replace("2020", "2021"), passages, judge=judge)
    assert other is not None and other.verdict != "yes"


def test_same_property_comparisons(judge: OfflineJudge) -> None:
    up = "Up is a 2009 American 3D computer-animated comedy-adventure film produced by Pixar."
    watercolor = '"The Watercolor (Tr: Suluboya)" is a 2009 Turkish animated film.'
    same_year = answer_yes_no("Were Up and The Watercolor released in the same year?",
                              [watercolor, DISTRACTORS[0], up], judge=judge)
    assert same_year is not None and same_year.verdict == "yes", same_year
    assert [p.values for p in same_year.parts] == [("2009",), ("2009",)]
    assert cited(same_year) == [3, 1]
    barnes = ("James Dixon Swan (born 28 April 1956), better known as Jimmy Barnes, is a "
              "Scottish-Australian rock singer-songwriter.")
    fleischman = "Robert Fleischman (born March 11, 1953) is an American musician."
    nationality = answer_yes_no("Do musicians Robert Fleischman and Jimmy Barnes have the "
                                "same nationality?", [fleischman, barnes], judge=judge)
    assert nationality is not None and nationality.verdict == "no", nationality
    assert nationality.parts[1].values == ("Australian", "Scottish")
    unknown = answer_yes_no("Were Up and The Watercolor released in the same year?", [up],
                            judge=judge)
    assert unknown is not None and unknown.verdict == "declined"


def test_other_questions_get_no_yes_no_answer(judge: OfflineJudge) -> None:
    assert answer_yes_no("Who founded Qdrant?", DISTRACTORS, judge=judge) is None
