"""The runner: metrics per case in suite order, resumable after a crash, judge cached."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ragline.cost.ledger import Ledger
from ragline.cost.metered import CostMeter
from ragline.cost.prices import PriceCatalogue
from ragline.evals.case_metrics import Measured, standard_metrics
from ragline.evals.llm_judge import LLMJudge
from ragline.evals.results import RunResult
from ragline.evals.runner import CHECKPOINT, Answerer, run_suite
from ragline.evals.suites import Suite
from ragline.evals.testing import assert_metrics, evaluate
from ragline.evals.types import EvalCase
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.testing import scripted_openai_model
from ragline.types import Answer, Usage
from ragline.verify.offline_judge import OfflineJudge
from ragline.verify.types import Judge
from tests.evals.conftest import CountingJudge, FixedAnswerer

CASES = tuple(EvalCase(id=f"c{n}", question=q, reference_answer=ref, relevant_doc_ids=(doc,))
              for n, (q, ref, doc) in enumerate([
                  ("Where does ragline keep its index?", "In a Qdrant Edge shard.", "storage.md"),
                  ("What is recorded in the cost ledger?", "Every model call is priced.",
                   "costs.md"),
                  ("How long do cats sleep?", "Cats sleep for most of the day.", "pets.txt"),
                  ("Where is the index folder?", "Under the .ragline folder.", "storage.md"),
                  ("Is every model call priced?", "Every model call is priced.", "costs.md"),
              ], start=1))
SUITE = Suite("tiny", CASES)


def test_rows_come_back_in_suite_order_with_metrics_cost_and_timing(tmp_path: Path) -> None:
    answerer, judge = FixedAnswerer(), CountingJudge()
    result = run_suite(SUITE, answerer, judge, metrics=standard_metrics(), run_dir=tmp_path,
                       concurrency=3)
    assert isinstance(answerer, Answerer)
    assert [row.id for row in result.cases] == ["c1", "c2", "c3", "c4", "c5"]
    assert (result.suite, result.judge) == ("tiny", "counting")
    first = result.cases[0]
    assert first.metrics["hit_rate@k"] == 1.0 and first.metrics["mrr"] == 1.0
    assert first.sources[0] == "storage.md"
    assert first.cost_usd == 0.001 and first.answer_ms >= 0
    assert {"context_precision", "context_recall", "token_f1", "ndcg@k"} <= set(result.means)
    assert result.total_cost_usd == pytest.approx(0.005)
    again = RunResult.load(result.save(tmp_path / "run.json"))
    assert again == result


def test_same_inputs_give_identical_results_whatever_the_concurrency(tmp_path: Path) -> None:
    one = run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=standard_metrics(),
                    run_dir=tmp_path / "a", concurrency=1)
    four = run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=standard_metrics(),
                     run_dir=tmp_path / "b", concurrency=4)
    assert [(r.id, r.metrics, r.answer) for r in one.cases] == \
        [(r.id, r.metrics, r.answer) for r in four.cases]
    assert one.means == four.means


def test_a_killed_run_resumes_without_redoing_cases(tmp_path: Path) -> None:
    crashing = FixedAnswerer(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_suite(SUITE, crashing, CountingJudge(), metrics=standard_metrics(),
                  run_dir=tmp_path, concurrency=1)
    lines = (tmp_path / CHECKPOINT).read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["c1", "c2"]
    resumed = FixedAnswerer()
    result = run_suite(SUITE, resumed, CountingJudge(), metrics=standard_metrics(),
                       run_dir=tmp_path, concurrency=2)
    assert sorted(resumed.calls) == sorted(c.question for c in CASES[2:])
    assert [row.id for row in result.cases] == ["c1", "c2", "c3", "c4", "c5"]


def test_a_torn_checkpoint_line_is_redone(tmp_path: Path) -> None:
    run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=standard_metrics(),
              run_dir=tmp_path)
    checkpoint = tmp_path / CHECKPOINT
    lines = checkpoint.read_text().splitlines()
    checkpoint.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    answerer = FixedAnswerer()
    run_suite(SUITE, answerer, CountingJudge(), metrics=standard_metrics(), run_dir=tmp_path)
    assert len(answerer.calls) == 1


def test_judge_answers_are_cached_so_a_rerun_makes_no_judge_call(tmp_path: Path) -> None:
    first_judge = CountingJudge()
    first = run_suite(SUITE, FixedAnswerer(), first_judge, metrics=standard_metrics(),
                      run_dir=tmp_path)
    assert first_judge.calls > 0
    (tmp_path / CHECKPOINT).unlink()  # answer everything again: only the judge cache is left
    second_judge = CountingJudge()
    second = run_suite(SUITE, FixedAnswerer(), second_judge, metrics=standard_metrics(),
                       run_dir=tmp_path)
    assert second_judge.calls == 0
    assert second.means == first.means


def test_each_case_carries_what_its_llm_judge_calls_cost(tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> str:
        if "Statement:" in body["messages"][-1]["content"]:
            return json.dumps({"verdict": "supported", "score": 1.0})
        return json.dumps({"relevance": 0.5})

    model, seen = scripted_openai_model(reply, usage=(1000, 100))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    judge = LLMJudge(CostMeter(PriceCatalogue.load(), ledger).chat(model, stage="judge"))
    result = run_suite(SUITE, FixedAnswerer(), judge, metrics=standard_metrics(),
                       run_dir=tmp_path / "run", concurrency=3)
    costs = [row.judge_cost_usd or 0.0 for row in result.cases]
    per_call = float(PriceCatalogue.load().cost(
        "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=100)) or 0)
    assert all(c > 0 for c in costs)
    assert sum(costs) == pytest.approx(per_call * len(seen))  # every call counted once
    assert result.total_judge_cost_usd == pytest.approx(sum(costs))
    alone = run_suite(SUITE, FixedAnswerer(), judge, metrics=standard_metrics(),
                      run_dir=tmp_path / "alone", concurrency=1)
    assert [row.judge_cost_usd for row in alone.cases] == pytest.approx(costs)  # no cross-talk
    assert RunResult.load(result.save(tmp_path / "run.json")) == result
    (tmp_path / "run" / CHECKPOINT).unlink()  # score again: every verdict comes from the cache
    again = run_suite(SUITE, FixedAnswerer(), judge, metrics=standard_metrics(),
                      run_dir=tmp_path / "run")
    assert again.total_judge_cost_usd == 0.0
    ledger.close()


def test_custom_metrics_plug_in_with_details(tmp_path: Path) -> None:
    def length(case: EvalCase, answer: Answer, judge: Judge) -> Measured:
        return Measured({"words": float(len(answer.text.split()))}, {"note": case.id})

    result = run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=[length],
                       run_dir=tmp_path)
    assert set(result.means) == {"words"}
    assert result.cases[0].details == {"note": "c1"}


def test_evaluate_and_assert_metrics_read_well() -> None:
    result = evaluate(FixedAnswerer(), CASES, CountingJudge())
    assert_metrics(result, {"mrr": 0.5, "recall@k": 1.0})  # names that are no identifiers
    with pytest.raises(AssertionError) as caught:
        assert_metrics(result, {"token_f1": 0.99, "answer_correctness": 0.9, "ndcg@k": 1.1})
    message = str(caught.value)
    assert "token_f1: mean" in message and "under the threshold 0.990" in message
    assert "answer_correctness: not measured" in message
    assert "ndcg@k: mean 1.000 is under the threshold 1.100" in message
    assert "case c" in message


def test_an_edited_case_or_another_judge_is_redone(tmp_path: Path) -> None:
    run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=standard_metrics(),
              run_dir=tmp_path)
    edited = Suite("tiny", (EvalCase(id="c1", question="How long do cats sleep?"),
                            *CASES[1:]))
    answerer = FixedAnswerer()
    run_suite(edited, answerer, CountingJudge(), metrics=standard_metrics(), run_dir=tmp_path)
    assert answerer.calls == ["How long do cats sleep?"]

    class OtherJudge(CountingJudge):
        name = "other"

    again = FixedAnswerer()
    result = run_suite(edited, again, OtherJudge(), metrics=standard_metrics(),
                       run_dir=tmp_path)
    assert len(again.calls) == 5 and result.judge == "other"


def test_other_metric_options_a_changed_setup_or_judge_thresholds_redo_every_case(
        tmp_path: Path, judge_embedder: SentenceTransformerEmbedder) -> None:
    def run(judge: Judge, k: int = 5, setup: str = "") -> list[str]:
        answerer = FixedAnswerer()
        run_suite(SUITE, answerer, judge, metrics=standard_metrics(k=k), run_dir=tmp_path,
                  setup=setup)
        return answerer.calls

    judge = OfflineJudge(judge_embedder)
    assert len(run(judge)) == len(CASES)
    assert run(judge) == []  # nothing changed: all resumed
    assert len(run(judge, k=3)) == len(CASES)
    assert len(run(judge, k=3, setup="generation.model: other")) == len(CASES)
    assert len(run(OfflineJudge(judge_embedder, support_threshold=0.5), k=3,
                   setup="generation.model: other")) == len(CASES)


class LyingAnswerer(FixedAnswerer):
    """Adds an unsupported sentence that cites a source that does not exist."""

    def answer(self, question: str) -> Answer:
        fixed = super().answer(question)
        return replace(fixed, text=fixed.text + " Dogs fly to the moon [9].")


def test_faithfulness_and_citations_report_their_problems(tmp_path: Path) -> None:
    honest = run_suite(SUITE, FixedAnswerer(), CountingJudge(), metrics=standard_metrics(),
                       run_dir=tmp_path / "honest")
    assert honest.means["faithfulness"] == 1.0
    assert honest.means["citation_recall"] == honest.means["citation_precision"] == 1.0
    lying = run_suite(SUITE, LyingAnswerer(), CountingJudge(), metrics=standard_metrics(),
                      run_dir=tmp_path / "lying")
    row = lying.cases[0]
    assert row.metrics["faithfulness"] == 0.5
    assert row.metrics["citation_recall"] == 0.5
    assert row.details["unsupported_claims"] == ["Dogs fly to the moon."]
    assert row.details["broken_citations"] == ["Dogs fly to the moon. [9]: no such source"]
