"""The LLM judge over the real openai SDK (scripted server): prompts, JSON, repair, pricing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ragline.cost.ledger import Ledger
from ragline.cost.metered import CostMeter, QueryScope, query_scope
from ragline.cost.prices import PriceCatalogue
from ragline.evals.errors import JudgeOutputInvalid
from ragline.evals.llm_judge import LLMJudge, RelevanceReply, parse_reply
from ragline.testing import scripted_openai_model

SUPPORTED = json.dumps({"verdict": "supported", "score": 0.9, "missing": [],
                        "evidence": "Qdrant is written in Rust.", "reason": "stated"})


def replies(*texts: str) -> Any:
    """A scripted server answering ``texts`` in turn."""
    queue = list(texts)
    return lambda body: queue.pop(0)


def test_support_sends_the_versioned_prompt_and_parses_json() -> None:
    model, seen = scripted_openai_model(SUPPORTED)
    judge = LLMJudge(model)
    assert judge.name == "llm:openai:gpt-4o-mini@s1r1"
    verdict = judge.support("Qdrant is written in Rust.", ["Qdrant is written in Rust.", "x"])
    assert (verdict.verdict, verdict.score, verdict.supported) == ("supported", 0.9, True)
    assert verdict.evidence == "Qdrant is written in Rust."
    system, user = seen[0]["messages"]
    assert system["role"] == "system" and "one JSON object" in system["content"]
    assert user["content"] == ("Evidence:\n[1] Qdrant is written in Rust.\n\n[2] x\n\n"
                               "Statement: Qdrant is written in Rust.")


def test_relevance_tolerates_a_json_fence() -> None:
    model, seen = scripted_openai_model('```json\n{"relevance": 0.5, "reason": "partly"}\n```')
    assert LLMJudge(model).relevance("Where?", "Here.") == 0.5
    assert seen[0]["messages"][1]["content"] == "Question: Where?\n\nPassage: Here."


def test_invalid_json_is_sent_back_once_for_repair() -> None:
    model, seen = scripted_openai_model(replies("Sure! It is supported.", SUPPORTED))
    verdict = LLMJudge(model).support("a", ["a"])
    assert verdict.supported
    assert len(seen) == 2
    repair = seen[1]["messages"]
    assert repair[2] == {"role": "assistant", "content": "Sure! It is supported."}
    assert repair[3]["role"] == "user"
    assert "not valid JSON" in repair[3]["content"]


def test_schema_errors_are_repaired_too() -> None:
    wrong = json.dumps({"verdict": "maybe", "score": 2})
    model, seen = scripted_openai_model(replies(wrong, SUPPORTED))
    assert LLMJudge(model).support("a", ["a"]).supported
    assert "verdict" in seen[1]["messages"][3]["content"]


def test_invalid_twice_raises_a_clear_error() -> None:
    model, seen = scripted_openai_model(replies("nope", '{"relevance": "high"}'))
    with pytest.raises(JudgeOutputInvalid, match="invalid JSON twice") as caught:
        LLMJudge(model).relevance("q", "p")
    assert caught.value.reply == '{"relevance": "high"}'
    assert len(seen) == 2


def test_parse_reply_rejects_extra_keys() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        parse_reply('{"relevance": 1, "why": "x"}', RelevanceReply)


def test_judge_calls_are_priced_through_the_cost_meter(tmp_path: Path) -> None:
    model, _ = scripted_openai_model(replies("bad", SUPPORTED), usage=(1000, 100))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    meter = CostMeter(PriceCatalogue.load(), ledger)
    judge = LLMJudge(meter.chat(model, stage="judge"))
    with query_scope(QueryScope("judge-query", "default")):
        judge.support("a", ["a"])
    cost = ledger.query_cost("judge-query")
    assert cost.calls == 2  # the first answer and its repair
    assert set(cost.by_stage) == {"judge"}
    assert cost.total_usd is not None and cost.total_usd > 0
    ledger.close()


def test_generate_questions_for_answer_relevancy() -> None:
    model, seen = scripted_openai_model('{"questions": ["Where is the index?", "What?", "x?"]}')
    questions = LLMJudge(model).generate_questions("The index is in .ragline.", n=2)
    assert questions == ["Where is the index?", "What?"]
    assert seen[0]["messages"][1]["content"] == (
        "Write 2 questions for this answer.\n\nAnswer: The index is in .ragline.")
