"""Per-case metrics: functions of ``(case, answer, judge)`` that the runner applies.

A :data:`CaseMetric` returns :class:`Measured`: metric values by name (a metric
that does not apply to the case, e.g. recall without relevant ids, is left
out, never scored 0) and JSON-able ``details`` for the report (unsupported
claims, broken citations...). :func:`standard_metrics` is the default set.
A metric built with options carries them in a ``metric_id`` attribute, which the
runner's checkpoint fingerprint reads (its ``__qualname__`` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ragline.evals.metrics.answer import exact_match, semantic_similarity, token_f1
from ragline.evals.metrics.ragas import answer_relevancy, context_precision, context_recall
from ragline.evals.metrics.retrieval import retrieval_metrics
from ragline.evals.types import EvalCase
from ragline.protocols import Embedder
from ragline.types import Answer
from ragline.verify.citations import citation_quality
from ragline.verify.faithfulness import faithfulness
from ragline.verify.types import Judge


@dataclass(frozen=True, slots=True)
class Measured:
    """Metric values of one case (name -> value) and details shown in the report."""

    values: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


CaseMetric = Callable[[EvalCase, Answer, Judge], Measured]


def _references(case: EvalCase) -> list[str]:
    answers = case.metadata.get("answers")
    if isinstance(answers, list):
        return [str(a) for a in answers]
    return [] if case.reference_answer is None else [case.reference_answer]


def retrieval_metric(k: int = 5) -> CaseMetric:
    """``hit_rate@k``, ``recall@k``, ``mrr``, ``ndcg@k`` of the answer's sources' documents.

    Graded relevance comes from ``case.metadata['relevance']`` when present.
    """

    def measure(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
        grades = case.metadata.get("relevance")
        relevant: Mapping[str, int] | tuple[str, ...] = (
            grades if isinstance(grades, Mapping) else case.relevant_doc_ids)
        docs = [source.chunk.doc_id for source in answer.sources]
        return Measured(retrieval_metrics(docs, relevant, k=k))

    measure.metric_id = f"retrieval@{k}"  # type: ignore[attr-defined]
    return measure


def answer_metric(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
    """SQuAD ``exact_match`` and ``token_f1`` against the reference answer(s), when any."""
    references = _references(case)
    if not references and not case.metadata.get("is_impossible"):
        return Measured()
    return Measured({"exact_match": exact_match(answer.text, references),
                     "token_f1": token_f1(answer.text, references)})


def faithfulness_metric(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
    """``faithfulness`` of the answer to its sources; details list its ``unsupported_claims``."""
    result = faithfulness(answer.text, [source.chunk.text for source in answer.sources],
                          judge=judge)
    return Measured({"faithfulness": result.score},
                    {"unsupported_claims": list(result.unsupported)})


def citation_metric(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
    """ALCE ``citation_recall`` and ``citation_precision``; details list ``broken_citations``:
    markers that point at no source, and cited sentences their sources do not support."""
    passages = [source.chunk.text for source in answer.sources]
    quality = citation_quality(answer.text, passages, judge=judge)
    broken = []
    for item in quality.sentences:
        nowhere = [n for n in item.cited if not 1 <= n <= len(passages)]
        if nowhere:
            broken.append(f"{item.sentence} {nowhere}: no such source")
        elif item.cited and not item.recalled:
            broken.append(f"{item.sentence} {list(item.cited)}: not supported by its sources")
    return Measured({"citation_recall": quality.recall,
                     "citation_precision": quality.precision},
                    {"broken_citations": broken})


def ragas_metric(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
    """RAGAS ``context_recall`` (needs a reference answer) and ``context_precision``."""
    contexts = [source.chunk.text for source in answer.sources]
    values: dict[str, float] = {}
    precision = context_precision(case.question, contexts, judge)
    if precision is not None:
        values["context_precision"] = precision
    if case.reference_answer:
        recall = context_recall(case.reference_answer, contexts, judge)
        if recall is not None:
            values["context_recall"] = recall
    return Measured(values)


QuestionWriter = Callable[[str], list[str]]
"""Writes the questions an answer answers, e.g. ``LLMJudge.generate_questions``."""


def embedding_metric(embedder: Embedder, *,
                     question_writer: QuestionWriter | None = None) -> CaseMetric:
    """``answer_relevancy`` and ``semantic_similarity`` to the reference answer, when any.

    With ``question_writer`` answer relevancy is RAGAS's (cosine of the question
    with questions written from the answer); without, the offline question-answer cosine.
    """

    def measure(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
        generated = question_writer(answer.text) if question_writer and answer.text else []
        values = {"answer_relevancy": answer_relevancy(case.question, answer.text, embedder,
                                                       generated_questions=generated)}
        if case.reference_answer:
            values["semantic_similarity"] = semantic_similarity(
                answer.text, case.reference_answer, embedder)
        return Measured(values)

    model = getattr(embedder, "model_name", type(embedder).__name__)
    measure.metric_id = (  # type: ignore[attr-defined]
        f"embedding:{model}:{'written-questions' if question_writer else 'cosine'}")
    return measure


def standard_metrics(*, embedder: Embedder | None = None, k: int = 5,
                     question_writer: QuestionWriter | None = None) -> list[CaseMetric]:
    """Retrieval, answer, faithfulness, citation and RAGAS metrics, plus the embedding
    ones when ``embedder`` is given."""
    metrics: list[CaseMetric] = [retrieval_metric(k), answer_metric, faithfulness_metric,
                                 citation_metric, ragas_metric]
    if embedder is not None:
        metrics.append(embedding_metric(embedder, question_writer=question_writer))
    return metrics
