"""The answer cache inside ``RAGPipeline.answer``: exact and semantic hits, the ledger's
zero-cost rows with their savings, invalidation by ingest and delete, tenants, single-flight,
and the Redis backend."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from ragline.app.pipeline import RAGPipeline
from ragline.cache.redis_store import RedisCacheStore
from ragline.config import Settings
from ragline.cost.ledger import calls
from ragline.cost.report import cost_report
from ragline.testing import ScriptedServer, openai_chat_model, openai_text_reply

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

TEXT = "Hybrid search fuses BM25 and dense results inside Qdrant."
REPLY = "Hybrid search fuses BM25 and dense results inside Qdrant [1]."
QUESTION = "How does hybrid search work?"


class Upstream:
    """A scripted OpenAI upstream that counts the requests it answers (optionally slowly)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.requests = 0
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._reply = openai_text_reply(REPLY, usage=(400, 25))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.requests += 1
        time.sleep(self.delay_s)
        return self._reply(request)

    def model(self) -> Any:
        return openai_chat_model(ScriptedServer(self))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "search.md").write_text(f"# Search\n\n{TEXT}\n")
    (folder / "cats.md").write_text("# Cats\n\nCats sleep for most of the day.\n")
    return folder


def cached_settings(make_settings: Callable[..., Settings], **cache: Any) -> Settings:
    return make_settings(cache={"mode": "exact", **cache},
                         generation={"verify": "none", "fallback": "none"})


def cache_rows(pipeline: RAGPipeline) -> list[dict[str, Any]]:
    with pipeline.meter.ledger.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(
            select(calls).where(calls.c.stage == "cache").order_by(calls.c.id))]


def test_a_repeated_question_is_served_exactly_at_no_cost_with_its_saving(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    upstream = Upstream()
    with RAGPipeline.from_settings(cached_settings(make_settings), generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        first = pipeline.answer(QUESTION)
        again = pipeline.answer(f"  {QUESTION} ")
        rows = cache_rows(pipeline)
        report = {row.key: row for row in cost_report(pipeline.meter.ledger, by="model")}
    assert upstream.requests == 1
    assert first.cache == "miss" and again.cache == "exact"
    assert (again.text, again.citations, again.sources) == (first.text, first.citations,
                                                           first.sources)
    assert again.route == f"{first.route} (cache hit)"
    assert {"cache", "retrieve", "generate", "total"} <= first.timings.keys()
    assert again.timings.keys() == {"cache", "total"}  # exact: nothing embedded
    assert first.cost.total_usd == pytest.approx(75e-6)  # 400 x $0.15 + 25 x $0.60 per M
    assert again.cost.total_usd == 0 and again.query_id != first.query_id
    assert [(r["query_id"], r["cache"], r["cost_usd"]) for r in rows] == [
        (again.query_id, "exact", Decimal(0))]
    assert rows[0]["savings_usd"] == pytest.approx(Decimal("0.000075"))
    assert report["answer-cache"].savings_usd == pytest.approx(Decimal("0.000075"))


def test_the_cache_is_off_by_default(make_settings: Callable[..., Settings],
                                     corpus: Path) -> None:
    upstream = Upstream()
    settings = make_settings(generation={"verify": "none", "fallback": "none"})
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        answers = [pipeline.answer(QUESTION) for _ in range(2)]
    assert [a.cache for a in answers] == ["off", "off"] and upstream.requests == 2


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_reingesting_a_changed_document_or_deleting_one_makes_entries_stale(
        make_settings: Callable[..., Settings], corpus: Path, backend: str,
        request: pytest.FixtureRequest) -> None:
    upstream = Upstream()
    store: dict[str, Any] = {}
    if backend == "redis":
        store = {"backend": "redis", "redis_url": request.getfixturevalue("redis_url"),
                 "redis_prefix": f"ragline-test:{uuid.uuid4().hex}"}
    settings = cached_settings(make_settings, mode="semantic",
                               semantic={"threshold": 0.8}, **store)
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        assert pipeline.answer(QUESTION).cache == "miss"
        assert pipeline.answer(QUESTION).cache == "exact"
        semantic = pipeline.answer_cache.semantic if pipeline.answer_cache else None
        assert semantic is not None and semantic.count() == 1
        (corpus / "search.md").write_text(f"# Search\n\n{TEXT} It also reranks.\n")
        report = pipeline.ingest([corpus])
        assert report.replaced == [str((corpus / "search.md").resolve())]
        assert semantic.count() == 0  # dropped with the document it was answered from
        assert pipeline.answer(QUESTION).cache == "miss"
        assert pipeline.answer(QUESTION).cache == "exact"
        pipeline.delete([str((corpus / "cats.md").resolve())])
        assert pipeline.answer(QUESTION).cache == "miss"  # another index version
        assert pipeline.answer_cache is not None
        pipeline.answer_cache.clear()
    assert upstream.requests == 3


def test_tenants_never_share_an_answer(make_settings: Callable[..., Settings],
                                       corpus: Path) -> None:
    upstream = Upstream()
    settings = cached_settings(make_settings, mode="semantic", semantic={"threshold": 0.5})
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        caches = [pipeline.answer(QUESTION, tenant=tenant).cache
                  for tenant in ("acme", "globex", "acme")]
    assert caches == ["miss", "miss", "exact"] and upstream.requests == 2


def test_a_paraphrase_is_served_by_meaning_and_a_negation_is_not(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    upstream = Upstream()
    settings = cached_settings(make_settings, mode="semantic", semantic={"threshold": 0.8})
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        first = pipeline.answer(QUESTION)
        paraphrase = pipeline.answer("How does the hybrid search work?")
        negated = pipeline.cache_lookup("How does hybrid search not work?")
        distant = pipeline.cache_lookup("Why do cats sleep so much?")
        assert pipeline.answer_cache is not None
        counters = pipeline.answer_cache.counters.snapshot()
    assert paraphrase.cache.startswith("semantic (similarity 0.9")
    assert paraphrase.text == first.text and paraphrase.cost.total_usd == 0
    assert negated.hit is None
    assert [r.entry.question for r in negated.rejected] == [QUESTION]
    assert "negation" in negated.rejected[0].reason
    assert distant.hit is None and all("below the threshold" in r.reason
                                       for r in distant.rejected)
    assert upstream.requests == 1
    assert counters == {"exact_hits": 0, "semantic_hits": 1, "misses": 3, "stored": 1,
                        "below_threshold": 1, "verification_rejects": 1}


def test_concurrent_identical_questions_make_one_upstream_call(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    upstream = Upstream(delay_s=0.3)
    with RAGPipeline.from_settings(cached_settings(make_settings), generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        results: list[str] = []
        threads = [threading.Thread(target=lambda: results.append(
            pipeline.answer(QUESTION).cache)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        served = len(cache_rows(pipeline))
    assert upstream.requests == 1
    assert sorted(results) == ["exact"] * 19 + ["miss"] and served == 19


def test_the_redis_backend_serves_across_pipelines_and_clears(
        make_settings: Callable[..., Settings], corpus: Path, redis_url: str) -> None:
    upstream = Upstream()
    prefix = f"ragline-test:{uuid.uuid4().hex}"
    settings = cached_settings(make_settings, backend="redis", redis_url=redis_url,
                               redis_prefix=prefix)
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        pipeline.ingest([corpus])
        assert pipeline.answer(QUESTION).cache == "miss"
    with RAGPipeline.from_settings(settings, generator=upstream.model(),
                                   rerank=False) as pipeline:
        assert pipeline.answer(QUESTION).cache == "exact"
        assert pipeline.answer_cache is not None and pipeline.answer_cache.clear() == 1
        assert pipeline.answer(QUESTION).cache == "miss"
        pipeline.answer_cache.clear()
    cleaner = RedisCacheStore(redis_url, prefix=prefix)
    assert sum(1 for _ in cleaner.client.scan_iter(match=f"{prefix}:*")) == 0
    cleaner.close()
    assert upstream.requests == 2
