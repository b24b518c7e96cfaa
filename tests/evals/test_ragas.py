"""RAGAS context recall, context precision and answer relevancy through a judge."""

from __future__ import annotations

import pytest

from ragline.evals.case_metrics import embedding_metric
from ragline.evals.metrics.ragas import answer_relevancy, context_precision, context_recall
from ragline.evals.types import EvalCase
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.types import Answer, QueryCost
from ragline.verify.types import Judge


def test_context_recall_is_the_share_of_supported_reference_sentences(
        counting_judge: Judge) -> None:
    judge = counting_judge
    reference = "Cats sleep all day. Dogs bark at night."
    assert context_recall(reference, ["Cats sleep all day long."], judge) == 0.5
    assert context_recall(reference, [], judge) == 0.0
    assert context_recall("", ["x"], judge) is None


def test_context_precision_averages_precision_at_relevant_ranks(
        counting_judge: Judge) -> None:
    judge = counting_judge
    question = "Where do cats sleep?"
    relevant, other = "Cats sleep in boxes.", "Stock prices fell."
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert context_precision(question, [relevant, other, relevant], judge) == pytest.approx(5 / 6)
    assert context_precision(question, [other, relevant], judge) == pytest.approx(0.5)
    assert context_precision(question, [other], judge) == 0.0
    assert context_precision(question, [], judge) is None


def test_answer_relevancy_offline_and_with_generated_questions(
        embedder: SentenceTransformerEmbedder) -> None:
    question = "Where does ragline keep its index?"
    on_topic = answer_relevancy(question, "ragline keeps its index in a Qdrant shard.", embedder)
    off_topic = answer_relevancy(question, "Cats sleep most of the day.", embedder)
    assert on_topic > off_topic
    echoed = answer_relevancy(question, "irrelevant", embedder,
                              generated_questions=[question, question])
    assert echoed == pytest.approx(1.0, abs=1e-5)


def test_embedding_metric_uses_the_question_writer_when_given(
        embedder: SentenceTransformerEmbedder, counting_judge: Judge) -> None:
    case = EvalCase(id="c", question="Where does ragline keep its index?",
                    reference_answer="In a Qdrant shard.")
    answer = Answer(text="Cats sleep.", citations=(), sources=(), route="r", cost=QueryCost(),
                    cache="off", timings={})
    offline = embedding_metric(embedder)(case, answer, counting_judge).values
    written = embedding_metric(embedder, question_writer=lambda text: [case.question])(
        case, answer, counting_judge).values
    assert offline["answer_relevancy"] < 0.5
    assert written["answer_relevancy"] == pytest.approx(1.0, abs=1e-5)
    assert offline["semantic_similarity"] == written["semantic_similarity"]
