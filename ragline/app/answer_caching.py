"""What the pipeline does around its answer cache (:mod:`ragline.cache.answers`).

:func:`cache_params` says what an answer depends on besides the question, so that a
change to any of it is a different entry; :func:`cacheable` says which answers may be
kept; :func:`serve_hit` turns a cache hit into the query's answer and its ledger row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ragline.cache.answers import CacheHit
from ragline.cache.keys import canonical_json
from ragline.config import Settings
from ragline.cost.ledger import CallRecord, Ledger
from ragline.cost.metered import QueryScope
from ragline.protocols import Filters, Index
from ragline.types import Answer, SearchMode, Usage

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
