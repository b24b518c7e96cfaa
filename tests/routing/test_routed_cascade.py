"""Routing and cascades as ChatModel wrappers: decisions in Answer.route and the ledger."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.config_routing import RouteRule
from ragline.cost.ledger import calls
from ragline.cost.metered import CostMeter, QueryScope, query_scope
from ragline.cost.report import routing_saving
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.routing.cascade import CascadeChatModel
from ragline.routing.learned import train_router
from ragline.routing.outcomes import Outcomes
from ragline.routing.routed import RoutedChatModel
from ragline.routing.rules import RulesRouter
from ragline.routing.scorers import AnswerCheckScorer, ArithmeticScorer, SelfConsistencyScorer
from ragline.testing import scripted_openai_model
from ragline.types import ChatRequest, Message, RouteSignals
from ragline.verify.guard import AnswerCheck
from ragline.verify.offline_judge import OfflineJudge

Rows = Callable[[], list[dict[str, object]]]
MODELS = {"small": "openai:gpt-4o-mini", "large": "openai:gpt-4o"}
PASSAGE = "Qdrant is written in Rust. It stores vectors in segments on disk."


def ask(question: str, passages: tuple[str, ...] = ()) -> ChatRequest:
    return ChatRequest(messages=(Message("user", question),), question=question,
                       passages=passages)


def test_rules_pick_the_first_matching_tier() -> None:
    router = RulesRouter([RouteRule(tier="small", max_words=4),
                          RouteRule(tier="large", pattern=r"\bwhy\b"),
                          RouteRule(tier="large", max_top_score=0.3)],
                         default_tier="small", models=MODELS)
    short = router.route(ask("What is Qdrant?"), RouteSignals())
    assert (short.tier, short.reason) == ("small", "rules: rule 1 (3 words <= 4)")
    why = router.route(ask("Why does hybrid search beat BM25 here?"), RouteSignals())
    assert (why.tier, why.model) == ("large", "openai:gpt-4o")
    weak = router.route(ask("Which engine stores the vectors on disk?"),
                        RouteSignals(top_score=0.2))
    assert weak.tier == "large" and "top score 0.2 <= 0.3" in weak.reason
    plain = router.route(ask("Which engine stores the vectors on disk?"),
                         RouteSignals(top_score=0.9))
    assert (plain.tier, plain.reason) == ("small", "rules: no rule matched, default tier")


def test_a_routed_call_lands_in_the_ledger_with_its_reason(
        meter: CostMeter, ledger_rows: Rows) -> None:
    small, small_seen = scripted_openai_model("Small [1].", model="gpt-4o-mini")
    large, large_seen = scripted_openai_model("Large [1].", model="gpt-4o")
    routed = RoutedChatModel(
        RulesRouter([RouteRule(tier="large", pattern="why")], default_tier="small",
                    models=MODELS),
        {"small": meter.chat(small), "large": meter.chat(large)})
    with query_scope(QueryScope("q-1", "acme")):
        answer = routed.generate(ask("Why is the sky blue?"))
        other = routed.generate(ask("What is Qdrant?"))
    assert answer.text == "Large [1]."
    assert answer.route == "openai:gpt-4o (routed: rules: rule 1 (matches 'why'))"
    assert other.route == "openai:gpt-4o-mini (routed: rules: no rule matched, default tier)"
    assert (len(small_seen), len(large_seen)) == (1, 1)
    assert [(r["model"], r["route_reason"]) for r in ledger_rows()] == [
        ("gpt-4o", "routed: rules: rule 1 (matches 'why')"),
        ("gpt-4o-mini", "routed: rules: no rule matched, default tier")]


def test_a_cascade_escalates_wrong_arithmetic_and_records_both_attempts(
        meter: CostMeter, ledger_rows: Rows) -> None:
    weak, _ = scripted_openai_model("She has 16 - 3 - 4 = 8 eggs left. #### 8",
                                    model="gpt-4o-mini")
    strong, strong_seen = scripted_openai_model("16 - 3 - 4 = 9 eggs. #### 9", model="gpt-4o")
    cascade = CascadeChatModel([meter.chat(weak), meter.chat(strong)], ArithmeticScorer(),
                               threshold=1.0)
    answer = cascade.generate(ask("How many eggs are left?"))
    assert answer.text.endswith("#### 9") and len(strong_seen) == 1
    assert answer.route.startswith("openai:gpt-4o (cascade: openai:gpt-4o-mini arithmetic "
                                   "0.00 < 1 (wrong: ")
    recorded = ledger_rows()
    assert [r["model"] for r in recorded] == ["gpt-4o-mini", "gpt-4o"]
    assert str(recorded[1]["route_reason"]).startswith("cascade: openai:gpt-4o-mini arithmetic")
    # the cascade's true cost includes the cheap attempt
    assert all(r["cost_usd"] is not None and float(str(r["cost_usd"])) > 0 for r in recorded)


def test_a_cascade_keeps_a_cheap_answer_that_scores_well(meter: CostMeter) -> None:
    weak, _ = scripted_openai_model("16 - 3 - 4 = 9 eggs. #### 9", model="gpt-4o-mini")
    strong, strong_seen = scripted_openai_model("unused", model="gpt-4o")
    cascade = CascadeChatModel([meter.chat(weak), meter.chat(strong)], ArithmeticScorer(),
                               threshold=1.0)
    answer = cascade.generate(ask("How many eggs are left?"))
    assert answer.route == "openai:gpt-4o-mini (cascade: arithmetic 1.00 >= 1)"
    assert strong_seen == []


def test_the_answer_check_scores_rag_answers(judge_embedder: SentenceTransformerEmbedder,
                                            meter: CostMeter) -> None:
    check = AnswerCheck(OfflineJudge(judge_embedder), min_support=0.5)
    weak, _ = scripted_openai_model("Qdrant was written on the Moon in 1850 [1].",
                                    model="gpt-4o-mini")
    strong, _ = scripted_openai_model("Qdrant is written in Rust [1].", model="gpt-4o")
    cascade = CascadeChatModel([meter.chat(weak), meter.chat(strong)],
                               AnswerCheckScorer(check), threshold=0.5)
    answer = cascade.generate(ask("What language is Qdrant written in?", passages=(PASSAGE,)))
    assert answer.text == "Qdrant is written in Rust [1]."
    assert "answer_check 0.00 < 0.5" in answer.route


def test_self_consistency_resamples_the_same_model(meter: CostMeter) -> None:
    replies = iter(["The answer is 42.", "The answer is 41.", "The answer is 40."])
    weak, weak_seen = scripted_openai_model(lambda body: next(replies), model="gpt-4o-mini")
    strong, _ = scripted_openai_model("The answer is 42.", model="gpt-4o")
    cascade = CascadeChatModel([meter.chat(weak), meter.chat(strong)],
                               SelfConsistencyScorer(samples=2), threshold=0.9)
    answer = cascade.generate(ask("What is six times seven?"))
    assert answer.model == "gpt-4o" and "2 resample(s) agree 75%" in answer.route
    assert [body["temperature"] for body in weak_seen] == [0.0, 0.7, 0.7]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with one document: :data:`PASSAGE` under a heading."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text(f"# Qdrant\n\n{PASSAGE}\n")
    return docs


@pytest.mark.model
def test_a_routed_pipeline_from_config(make_settings: Callable[..., Settings],
                                       folder: Path) -> None:
    settings = make_settings(
        generation={"provider": "routed"}, rerank={"model": None},
        routing={"tiers": [{"name": "quote", "model": "extractive"},
                           {"name": "local", "model": "local:SmolLM2-135M-Instruct"}],
                 "rules": [{"tier": "quote", "max_words": 12}], "default_tier": "local"})
    with RAGPipeline.from_settings(settings) as pipeline:
        pipeline.ingest([folder])
        answer = pipeline.answer("What language is Qdrant written in?")
        with pipeline.meter.ledger.engine.connect() as connection:
            generated = connection.execute(select(calls.c.model, calls.c.route_reason).where(
                calls.c.query_id == answer.query_id, calls.c.stage == "generate")).all()
    assert "Rust" in answer.text and answer.citations
    reason = "routed: rules: rule 1 (6 words <= 12)"
    assert answer.route == f"extractive ({reason})"
    assert [tuple(g) for g in generated] == [("extractive", reason)]


def test_the_saving_against_the_strongest_tier_is_reported(meter: CostMeter) -> None:
    small, _ = scripted_openai_model("Small [1].", model="gpt-4o-mini", usage=(1000, 100))
    large, _ = scripted_openai_model("Large [1].", model="gpt-4o", usage=(1000, 100))
    routed = RoutedChatModel(
        RulesRouter([RouteRule(tier="large", pattern="why")], default_tier="small",
                    models=MODELS),
        {"small": meter.chat(small), "large": meter.chat(large)})
    for n, question in enumerate(["What is Qdrant?", "Why Rust?", "Who wrote it?"]):
        with query_scope(QueryScope(f"q-{n}", "acme")):
            routed.generate(ask(question))
    with query_scope(QueryScope("plain", "acme")):
        meter.chat(small).generate(ask("Not routed"))  # left out: no router decided it
    saving = routing_saving(meter.ledger, meter.catalogue, "gpt-4o")
    # gpt-4o-mini $0.15 / $0.60, gpt-4o $2.50 / $10 per million; 1000 in, 100 out a call
    mini, full = Decimal("0.00021"), Decimal("0.0035")
    assert (saving.queries, saving.unpriced) == (3, 0)
    assert saving.actual_usd == 2 * mini + full
    assert saving.strongest_usd == 3 * full
    assert saving.saving_usd == 2 * (full - mini)


@pytest.mark.slow
def test_a_trained_router_in_the_pipeline_reuses_the_query_embedding(
        make_settings: Callable[..., Settings], tmp_path: Path, folder: Path,
        embedder: SentenceTransformerEmbedder) -> None:
    arithmetic = [f"Compute {137 + 7 * i} * {23 + 3 * i} and give the exact product."
                  for i in range(16)]
    lookups = [f"What language is project number {i} written in?" for i in range(16)]
    outcomes = Outcomes(prompts=(*arithmetic, *lookups), quality={
        "small": np.array([0.0] * 16 + [1.0] * 16), "large": np.ones(32)})
    router_file = tmp_path / "router.joblib"
    train_router(outcomes, weak="small", strong="large", kind="knn", embedder=embedder,
                 embedder_name="all-MiniLM-L6-v2").save(router_file)
    settings = make_settings(
        generation={"provider": "routed"}, rerank={"model": None},
        routing={"tiers": [{"name": "quick", "model": "extractive"},
                           {"name": "careful", "model": "extractive"}],
                 "router": "trained", "router_file": str(router_file),
                 "weak_tier": "quick", "strong_tier": "careful"})
    with RAGPipeline.from_settings(settings) as pipeline:
        pipeline.ingest([folder])
        lookup = pipeline.answer("What language is Qdrant written in?")
        sums = pipeline.answer("Compute 151 * 29 and give the exact product.")
        with pipeline.meter.ledger.engine.connect() as connection:
            embeds = connection.execute(select(calls.c.query_id).where(
                calls.c.stage == "embed", calls.c.query_id.in_(
                    (lookup.query_id, sums.query_id)))).all()
    assert "(routed: knn: strong_score" in lookup.route and "< threshold" in lookup.route
    assert ">= threshold" in sums.route
    assert len(embeds) == 2  # one query embedding each, shared by retrieval and the router
