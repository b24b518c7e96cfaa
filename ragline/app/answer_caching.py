"""What the pipeline does around its answer cache (:mod:`ragline.cache.answers`).

:func:`cache_params` says what an answer depends on besides the question, so that a
change to any of it is a different entry; :func:`cacheable` says which answers may be
kept; :func:`serve_hit` turns a cache hit into the query's answer and its ledger row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ragline.cache.answers import AnswerCache, CacheHit, CacheLookup
from ragline.cache.keys import canonical_json
from ragline.config import Settings
from ragline.cost.ledger import CallRecord, Ledger
from ragline.cost.metered import QueryScope
from ragline.protocols import Filters, Index, Vectors
from ragline.types import Answer, SearchMode, Usage

if TYPE_CHECKING:
    from ragline.app.pipeline import RAGPipeline

ANSWER_SECTIONS = ("embedder", "index", "retrieval", "rerank", "context", "generation",
                   "routing")
"""The settings sections that shape an answer from a given index content; the others
(home, ingest, cost, budgets, cache) do not, and the chunker's effect is the content's."""
CACHE_PROVIDER = "ragline"
CACHE_MODEL = "answer-cache"


def settings_digest(settings: Settings) -> str:
    """A short hash of the :data:`ANSWER_SECTIONS` of ``settings`` (secrets masked)."""
    dumped = settings.model_dump(include=set(ANSWER_SECTIONS), mode="json")
    return hashlib.sha256(canonical_json(dumped).encode()).hexdigest()[:16]


def cache_params(settings: Settings, index: Index, stack: str, *, k: int, mode: SearchMode,
                 filters: Filters | None, rerank: bool) -> dict[str, Any]:
    """What an answer depends on besides its question: the collection and its current
    index version, the retrieval request, whether a reranker ran, the answering stack,
    and a digest of the settings that shape answers."""
    return {"collection": index.name, "index_version": index.version(), "k": k,
            "mode": mode, "filters": filters or {}, "rerank": rerank, "stack": stack,
            "prompt": settings.generation.prompt,
            "prompt_version": settings.generation.prompt_version,
            "settings": settings_digest(settings)}


def cacheable(answer: Answer) -> bool:
    """Whether ``answer`` may be served again: it has sources, and it is not a fallback or a
    budget downgrade (a degraded answer is given once, never repeated from the cache)."""
    return bool(answer.sources) and "(fallback:" not in answer.route \
        and "(budget:" not in answer.route


def shared_hit(answer: Answer, question: str) -> CacheHit:
    """The answer a concurrent identical question produced, as an exact hit."""
    saved = None if answer.cost.total_usd is None else Decimal(str(answer.cost.total_usd))
    return CacheHit(replace(answer, cache="exact", query_id="", timings={}), "exact",
                    question, 1.0, saved)


def serve_hit(hit: CacheHit, ledger: Ledger, scope: QueryScope, started: float,
              embedded: Mapping[str, float]) -> Answer:
    """``hit`` as this query's answer, recorded in ``ledger`` as a zero-cost call that saved
    what the original answer cost (``stage`` and ``cache`` say how it was served).

    ``embedded`` holds the ms the question's embedding took (``embed``) when the lookup
    needed one; ``timings`` shows it apart from the cache's own ``cache`` ms.
    """
    total = round((time.perf_counter() - started) * 1000, 3)
    elapsed = round(total - sum(embedded.values()), 3)
    ledger.record(CallRecord.of(
        Usage(), stage="cache", provider=CACHE_PROVIDER, model=CACHE_MODEL,
        cost_usd=Decimal(0), savings_usd=hit.saved_usd, latency_ms=elapsed,
        query_id=scope.query_id, session=scope.session, tenant=scope.tenant,
        api_key=scope.api_key, route_reason=f"{hit.label}: {hit.answer.route}",
        cache=hit.how))
    return replace(hit.answer, cache=hit.label, route=f"{hit.answer.route} (cache hit)",
                   timings={**embedded, "cache": elapsed, "total": total})


@dataclass
class CacheProbe:
    """What asking the cache left: its answer (``found``), the entry ``params``, the
    question's ``vector`` when the semantic part embedded it, and the ms spent."""

    found: CacheLookup
    params: dict[str, Any]
    started: float
    vector: Vectors | None = None
    embed_ms: dict[str, float] = field(default_factory=dict)
    looked_ms: float = 0.0

    def timings(self) -> dict[str, float]:
        """The lookup's timings: ``cache``, and ``embed`` when it embedded the question."""
        return {"cache": self.looked_ms, **self.embed_ms}


def cache_probe(pipeline: RAGPipeline, question: str, cache: AnswerCache, *, k: int,
                mode: SearchMode, filters: Filters | None, tenant: str) -> CacheProbe:
    """Ask ``cache`` for ``question`` as the pipeline would answer it for ``tenant``; the
    question is embedded only if the semantic part needs it."""
    started = time.perf_counter()
    params = cache_params(pipeline.settings, pipeline.index, pipeline.model.name, k=k,
                          mode=mode, filters=filters, rerank=pipeline.reranker is not None)
    probe = CacheProbe(CacheLookup(None), params, started)

    def embed() -> Vectors:
        clock = time.perf_counter()
        probe.vector = pipeline.index.embedder.embed_query(question)
        probe.embed_ms["embed"] = round((time.perf_counter() - clock) * 1000, 3)
        return probe.vector

    probe.found = cache.lookup(question, tenant=tenant, params=params, vector=embed)
    probe.looked_ms = round((time.perf_counter() - started) * 1000
                            - sum(probe.embed_ms.values()), 3)
    return probe


def cached_answer(pipeline: RAGPipeline, question: str, cache: AnswerCache, *, k: int,
                  mode: SearchMode, filters: Filters | None, scope: QueryScope) -> Answer:
    """The answer from ``cache`` (exact, then by meaning), else computed and stored.

    A hit is written to the ledger as a zero-cost call with what it saved. Concurrent
    identical questions are answered once; the others are served that answer.
    """
    probe = cache_probe(pipeline, question, cache, k=k, mode=mode, filters=filters,
                        tenant=scope.tenant)
    ledger = pipeline.meter.ledger
    if probe.found.hit is not None:
        return pipeline.costed(serve_hit(probe.found.hit, ledger, scope, probe.started,
                                         probe.embed_ms), scope)

    def produce() -> Answer:
        answer = pipeline.prepare_and_generate(question, k=k, mode=mode, filters=filters,
                                               vector=probe.vector)
        timings = {**probe.timings(), **answer.timings,
                   "total": round((time.perf_counter() - probe.started) * 1000, 3)}
        answer = pipeline.costed(replace(answer, cache="miss", timings=timings), scope)
        if cacheable(answer):
            cache.store_answer(question, answer, tenant=scope.tenant, params=probe.params,
                               vector=probe.vector)
        return answer

    answer, led = cache.once(question, tenant=scope.tenant, params=probe.params,
                             produce=produce)
    if led:
        return answer
    return pipeline.costed(serve_hit(shared_hit(answer, question), ledger, scope,
                                     probe.started, probe.embed_ms), scope)
