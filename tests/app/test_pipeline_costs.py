"""What a RAG query costs: ledger rows per model call, Answer.cost, budgets in the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.cost.ledger import calls
from ragline.errors import BudgetExceeded, ConfigError
from ragline.models.openai_chat import OpenAIChatModel
from ragline.routing.compose import model_for_route
from ragline.testing import scripted_openai_model

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

TEXT = "Hybrid search fuses BM25 and dense results inside Qdrant."
REPLY = "Qdrant fuses the dense and the BM25 results of a hybrid search [1]."  # a paraphrase


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "search.md").write_text(f"# Search\n\n{TEXT}\n")
    return folder


def rows(pipeline: RAGPipeline) -> list[dict[str, object]]:
    with pipeline.meter.ledger.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(calls).order_by(calls.c.id))]


def test_every_call_of_a_query_is_in_the_ledger(make_settings: Callable[..., Settings],
                                                corpus: Path) -> None:
    model, _ = scripted_openai_model(REPLY, usage=(400, 25))
    with RAGPipeline.from_settings(make_settings(), generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("How does hybrid search work?", tenant="acme",
                                 session="s-1", api_key="key-7")
        recorded = rows(pipeline)
    ingest, *query = recorded
    assert str(ingest["query_id"]).startswith("ingest-") and ingest["stage"] == "embed"
    assert ingest["input_tokens"] > 0 and ingest["estimated"]
    # the query embedding, the answer, then the support check's embeddings (stage judge)
    assert [r["stage"] for r in query][:2] == ["embed", "generate"]
    assert {r["stage"] for r in query[2:]} == {"judge"}
    assert {(r["query_id"], r["tenant"], r["session"], r["api_key"]) for r in query} == {
        (answer.query_id, "acme", "s-1", "key-7")}
    generate = query[1]
    assert (generate["provider"], generate["model"]) == ("openai", "gpt-4o-mini")
    assert (generate["input_tokens"], generate["output_tokens"]) == (400, 25)
    assert generate["error"] is None and generate["latency_ms"] > 0
    # gpt-4o-mini: 400 x $0.15 + 25 x $0.60 per million
    assert answer.cost.by_stage["generate"] == pytest.approx(75e-6)
    assert answer.cost.total_usd == pytest.approx(75e-6)


def test_an_unknown_price_is_reported_not_free(make_settings: Callable[..., Settings],
                                               corpus: Path) -> None:
    model, _ = scripted_openai_model(REPLY, model="acme-finetune-7b")
    with RAGPipeline.from_settings(make_settings(), generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("How does hybrid search work?")
    assert answer.cost.total_usd is None
    assert answer.cost.by_stage["generate"] is None
    assert answer.cost.by_stage["embed"] == 0.0
    assert answer.cost.unpriced == ("acme-finetune-7b",)


def test_a_price_override_from_the_config(make_settings: Callable[..., Settings],
                                          corpus: Path) -> None:
    model, _ = scripted_openai_model(REPLY, model="acme-finetune-7b", usage=(1000, 100))
    settings = make_settings(cost={"price_overrides": {
        "acme-finetune-7b": {"provider": "openai_compatible", "input": 1.0, "output": 2.0}}})
    with RAGPipeline.from_settings(settings, generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("How does hybrid search work?")
    assert answer.cost.total_usd == pytest.approx(1000e-6 + 200e-6)


def tiny_budget(make_settings: Callable[..., Settings], on_exceed: str) -> Settings:
    return make_settings(budgets={"on_exceed": on_exceed, "limits": [
        {"scope": "tenant", "key": "acme", "period": "day", "usd": 1e-6}]})


def test_over_budget_the_question_is_refused(make_settings: Callable[..., Settings],
                                             corpus: Path) -> None:
    model, seen = scripted_openai_model(REPLY)
    settings = tiny_budget(make_settings, "reject")
    with RAGPipeline.from_settings(settings, generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        with pytest.raises(BudgetExceeded, match="acme") as caught:
            pipeline.answer("How does hybrid search work?", tenant="acme")
        assert (caught.value.scope, caught.value.period) == ("tenant", "day")
        assert seen == []  # the provider was never called
        other = pipeline.answer("How does hybrid search work?", tenant="globex")
    assert other.route == "openai:gpt-4o-mini" and len(seen) == 1


def test_over_budget_the_question_is_downgraded(make_settings: Callable[..., Settings],
                                                corpus: Path) -> None:
    model, seen = scripted_openai_model(REPLY)
    settings = tiny_budget(make_settings, "downgrade")
    with RAGPipeline.from_settings(settings, generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("How does hybrid search work?", tenant="acme")
        recorded = rows(pipeline)
    assert answer.route.startswith("extractive (budget: ")
    assert "BM25" in answer.text and answer.citations
    assert seen == []
    [generated] = [r for r in recorded if r["stage"] == "generate"]
    assert (generated["model"], generated["route_reason"]) == ("extractive", "budget downgrade")


def test_within_budget_the_actual_spend_is_booked(make_settings: Callable[..., Settings],
                                                  corpus: Path) -> None:
    model, _ = scripted_openai_model(REPLY, usage=(400, 25))
    settings = make_settings(budgets={"on_exceed": "reject", "limits": [
        {"scope": "api_key", "key": "*", "period": "month", "usd": 1.0, "tokens": 100_000}]})
    with RAGPipeline.from_settings(settings, generator=model, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        pipeline.answer("How does hybrid search work?", api_key="key-7")
        assert pipeline.budgets is not None
        usd, tokens = pipeline.budgets.spent("api_key", "key-7", "month")
    assert float(usd) == pytest.approx(75e-6)
    assert tokens == 425


def test_the_downgrade_route_takes_the_generation_settings(
        make_settings: Callable[..., Settings]) -> None:
    generation = make_settings(generation={
        "provider": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "timeout_s": 7,
        "max_retries": 1}).generation
    model = model_for_route("openai_compatible:tiny-1b", generation)
    assert isinstance(model, OpenAIChatModel)
    assert (model.name, model.timeout_s, model.retry.max_retries) == (
        "openai_compatible:tiny-1b", 7, 1)
    assert model_for_route("extractive", generation).name == "extractive"
    with pytest.raises(ConfigError, match=r"budgets\.downgrade_to"):
        model_for_route("cheaper please", generation)
