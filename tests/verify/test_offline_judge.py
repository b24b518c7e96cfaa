"""The offline judge: MiniLM similarity plus lexical checks, with the real embedder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ragline.models.embedder import SentenceTransformerEmbedder, int8_is_fast
from ragline.verify.offline_judge import SUMMARY_NEW_TERMS, OfflineJudge
from ragline.verify.types import Judge, support_each

PASSAGES = [
    "The Eiffel Tower was completed in 1889. It is 330 metres tall and stands in Paris.",
    "Gustave Eiffel's company designed and built the tower for the World's Fair.",
    "Qdrant is a vector database written in Rust. It does not run on the JVM.",
]


@pytest.fixture(scope="module")
def judge(judge_embedder: SentenceTransformerEmbedder) -> OfflineJudge:
    """One judge over the judge's own MiniLM (int8), as shipped."""
    return OfflineJudge(judge_embedder)


def test_it_answers_through_the_judge_protocol(judge: OfflineJudge) -> None:
    as_judge: Judge = judge  # as every metric sees it; support_each batches when it can
    assert as_judge.name == "offline"
    statements = ["The Eiffel Tower was completed in 1889.", "Qdrant is written in Go.",
                  "The Eiffel Tower is 1,250 metres tall."]
    verdicts = support_each(as_judge, statements, PASSAGES)
    assert [v.verdict for v in verdicts] == ["supported", "not_found", "contradicted"]
    assert verdicts == [as_judge.support(s, PASSAGES) for s in statements]  # batch == one by one
    scores = [as_judge.relevance("How tall is the Eiffel Tower?", p) for p in PASSAGES]
    assert 1.0 >= scores[0] > scores[1] > scores[2] >= 0.0


def test_a_paraphrase_of_the_evidence_is_supported(judge: OfflineJudge) -> None:
    verdict = judge.support("The Eiffel Tower stands in Paris and was completed in 1889.",
                            PASSAGES)
    assert verdict.verdict == "supported"
    assert verdict.missing == ()
    assert "1889" in verdict.evidence


def test_a_number_absent_from_the_evidence_is_missing(judge: OfflineJudge) -> None:
    verdict = judge.support("The Eiffel Tower is 1,250 metres tall.", PASSAGES)
    assert not verdict.supported
    assert "1250" in verdict.missing


def test_a_different_number_in_the_closest_sentence_contradicts(judge: OfflineJudge) -> None:
    verdict = judge.support("The Eiffel Tower was completed in 1925.", PASSAGES)
    assert verdict.verdict == "contradicted"
    assert "1925" in verdict.missing


def test_number_formats_are_normalised(judge: OfflineJudge) -> None:
    verdict = judge.support("The film grossed 1.5 million.",
                            ["The film grossed $1,500,000 at the box office."])
    assert verdict.supported, verdict.reason


def test_a_name_absent_from_the_evidence_is_missing(judge: OfflineJudge) -> None:
    verdict = judge.support("Qdrant is a vector database written in Go by Google.", PASSAGES)
    assert not verdict.supported
    assert "Google" in verdict.missing


def test_a_negation_the_evidence_lacks_contradicts(judge: OfflineJudge) -> None:
    verdict = judge.support("The Eiffel Tower was not completed in 1889.", PASSAGES)
    assert verdict.verdict == "contradicted"


def test_names_the_evidence_only_mentions_apart_are_not_supported(
        judge: OfflineJudge) -> None:
    evidence = ["Boston College is located in Chestnut Hill, Massachusetts. "
                "The weather there is mild.",
                "Stanford University is a private university in California."]
    verdict = judge.support("Stanford University is located in Chestnut Hill.", evidence)
    assert not verdict.supported
    assert any(m.startswith("together") for m in verdict.missing)


def test_a_pronoun_carries_the_previous_sentences_subject_but_not_its_other_names(
        judge: OfflineJudge) -> None:
    evidence = ["Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in "
                "Chemistry in 1911. Pierre Curie died in 1906."]
    assert judge.support("Marie Curie won the Nobel Prize in Chemistry in 1911.",
                         evidence).supported
    assert judge.support("Marie Curie, born in 1867, won the Nobel Prize in Chemistry in 1911.",
                         evidence).supported
    assert not judge.support("Warsaw won the Nobel Prize in Chemistry in 1911.",
                             evidence).supported
    mixed = judge.support("Marie Curie won the Nobel Prize in Chemistry in 1906.", evidence)
    assert not mixed.supported
    neighbours = ["Boston College is located in Chestnut Hill, Massachusetts. "
                  "Stanford University is a private university in California."]
    moved = judge.support("Stanford University is located in Chestnut Hill.", neighbours)
    assert any(m.startswith("together") for m in moved.missing)


def test_initials_do_not_split_a_name_across_sentences(judge: OfflineJudge) -> None:
    evidence = ["Mark L. Lester is an American film director. Ken Loach is English."]
    assert judge.support("Mark L. Lester is an American film director.", evidence).supported


def test_a_paraphrase_with_new_words_scores_below_a_restatement(judge: OfflineJudge) -> None:
    restated = judge.support("The Eiffel Tower was completed in 1889.", PASSAGES)
    paraphrased = judge.support("The Eiffel Tower was finished in 1889.", PASSAGES)
    assert restated.supported
    assert restated.score > paraphrased.score > 0.5


def test_unrelated_evidence_is_not_found(judge: OfflineJudge) -> None:
    verdict = judge.support("Bananas are rich in potassium.", PASSAGES)
    assert verdict.verdict == "not_found"
    assert verdict.score < judge.support_threshold


def test_no_evidence_is_not_found(judge: OfflineJudge) -> None:
    assert judge.support("Anything at all.", []).verdict == "not_found"


def test_a_short_answer_is_judged_with_its_question_as_context(judge: OfflineJudge) -> None:
    evidence = ["The Oberoi Group is a hotel company with its head office in Delhi."]
    question = "The Oberoi family is part of a hotel company that has a head office in what city?"
    assert judge.support("Delhi", evidence, context=question).supported
    wrong = judge.support("Mumbai", evidence, context=question)
    assert not wrong.supported
    assert wrong.missing == ("Mumbai",)


def test_a_bare_yes_or_no_is_judged_by_similarity_to_its_question(
        judge: OfflineJudge) -> None:
    evidence = ["Both Ralph Waldo Emerson and Henry David Thoreau were American writers."]
    question = "Were Emerson and Thoreau both American writers?"
    for answer in ("Yes.", "yes", "No"):
        verdict = judge.support(answer, evidence, context=question)
        assert verdict.missing == ()
        assert verdict.verdict == "supported"


def test_relevance_ranks_the_passage_that_answers_first(judge: OfflineJudge) -> None:
    question = "When was the Eiffel Tower completed?"
    scores = [judge.relevance(question, p) for p in PASSAGES]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1] > scores[2]


def test_threads_sharing_one_judge_get_the_verdicts_of_a_lone_caller(
        judge_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ragline.verify.offline_judge.CACHE_SIZE", 3)  # constant eviction
    evidence = ["Qdrant is written in Rust.", "Redis keeps data in memory.",
                "PostgreSQL stores rows in pages of 8 kB.", "SQLite is a single file."]
    statements = ["Qdrant is written in Rust.", "Redis keeps its data in memory.",
                  "PostgreSQL pages hold 8 kB.", "SQLite is one file.",
                  "Qdrant is written in Go."] * 4
    alone = [OfflineJudge(judge_embedder).support(s, evidence) for s in statements]
    shared = OfflineJudge(judge_embedder)
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda s: shared.support(s, evidence), statements))
    assert [(v.verdict, round(v.score, 6)) for v in together] == [
        (v.verdict, round(v.score, 6)) for v in alone]


def test_a_batch_gives_the_verdicts_of_one_call_each(
        judge_embedder: SentenceTransformerEmbedder) -> None:
    statements = ["The Eiffel Tower was completed in 1889.", "It is 300 metres tall.",
                  "Qdrant is written in Go.", "Qdrant does not run on the JVM.", "yes",
                  "Gustave Eiffel's company built the tower for the World's Fair."]
    batch = OfflineJudge(judge_embedder).support_many(statements, PASSAGES,
                                                      context="About the tower:")
    one_by_one = [OfflineJudge(judge_embedder).support(s, PASSAGES, context="About the tower:")
                  for s in statements]
    assert batch == one_by_one
    assert [v.verdict for v in batch] == ["supported", "contradicted", "not_found",
                                          "supported", "supported", "supported"]


def test_a_batch_embeds_once_and_repeated_passages_are_read_once(
        judge_embedder: SentenceTransformerEmbedder) -> None:
    calls: list[list[str]] = []

    class Recording:
        def embed_documents(self, texts: list[str]) -> object:
            calls.append(texts)
            return judge_embedder.embed_documents(texts)

    judge = OfflineJudge(Recording())  # type: ignore[arg-type]
    judge.support_many(["The tower is 330 metres tall.", "It stands in Paris."],
                       [PASSAGES[0], PASSAGES[0]])
    assert len(calls) == 1
    assert len(set(calls[0])) == len(calls[0])  # each text embedded once
    judge.support("The tower is 330 metres tall.", [PASSAGES[0]])
    assert len(calls) == 1  # everything it needs is cached


def test_the_shipped_judge_embeds_with_int8_where_it_is_fast_and_says_so(
        judge_embedder: SentenceTransformerEmbedder) -> None:
    default = OfflineJudge()
    assert isinstance(default.embedder, SentenceTransformerEmbedder)
    assert default.embedder.int8 == int8_is_fast()
    assert f"all-MiniLM-L6-v2/int8={int8_is_fast()}" in OfflineJudge(judge_embedder).fingerprint
    assert OfflineJudge(judge_embedder, support_threshold=0.5).fingerprint != \
        OfflineJudge(judge_embedder).fingerprint


def test_new_terms_are_the_content_words_the_evidence_lacks(judge: OfflineJudge) -> None:
    assert judge.new_terms("The Eiffel Tower stands in Paris.", PASSAGES) == frozenset()
    assert judge.new_terms("The Eiffel Tower, in Paris, is painted bright green.",
                           PASSAGES) == {"paint", "bright", "green"}
    assert judge.new_terms("The tower was completed in 1925.", PASSAGES) == frozenset()


def test_a_summary_is_hallucinated_from_summary_new_terms_new_words() -> None:
    judge = OfflineJudge(object())  # type: ignore[arg-type]  # lexical: never embeds
    source = ["The Eiffel Tower was completed in 1889 and stands in Paris."]
    faithful = "The Eiffel Tower, completed in 1889, stands in Paris."
    embellished = ("The Eiffel Tower, completed in 1889, stands in Paris, where millions "
                   "of delighted tourists admire its elegant wrought iron lattice.")
    assert SUMMARY_NEW_TERMS == 7
    assert not judge.summary_hallucinated(faithful, source)
    assert len(judge.new_terms(embellished, source)) >= SUMMARY_NEW_TERMS
    assert judge.summary_hallucinated(embellished, source)
    assert not judge.summary_hallucinated(embellished, source, limit=100)
