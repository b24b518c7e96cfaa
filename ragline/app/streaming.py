"""Answers as streams: the halves of an answer, and the stream the pipeline hands out.

:class:`Prepared` is what :meth:`~ragline.app.pipeline.RAGPipeline.prepare` leaves for the
model (the packed passages, the request, the timings so far); :func:`stream_answer`
generates the text deltas of one answer, cache first, and ends with the :class:`Answer`
that :class:`AnswerStream` keeps.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ragline.app.answer_caching import cache_probe, cacheable, serve_hit
from ragline.cache.chat import replay_chunks
from ragline.cost.metered import QueryScope, query_scope
from ragline.models.retry import request_deadline
from ragline.models.streaming import DeltaStream
from ragline.protocols import Filters
from ragline.types import Answer, ChatRequest, QueryCost, ScoredChunk, SearchMode

if TYPE_CHECKING:
    from ragline.app.pipeline import RAGPipeline

NO_PASSAGES = "No indexed passage matches this question, so there is nothing to answer from."
NO_PASSAGES_ROUTE = "none (no passages retrieved)"


@dataclass
class Prepared:
    """An answer half made: the packed ``passages`` (marker ``[n]`` is ``passages[n-1]``),
    the ``request`` for the model (None when nothing was retrieved), and ``timings``."""

    passages: tuple[ScoredChunk, ...] = ()
    request: ChatRequest | None = None
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    clock: float = 0.0

    def lap(self, stage: str) -> None:
        """Record the ms since the previous lap (or the start) as ``stage``."""
        now = time.perf_counter()
        self.timings[stage] = round((now - (self.clock or self.started)) * 1000, 3)
        self.clock = now

    def total(self) -> dict[str, float]:
        """The timings with ``total``, the ms since the start."""
        return {**self.timings, "total": round((time.perf_counter() - self.started) * 1000, 3)}

    def no_passages(self) -> Answer:
        """The answer when nothing was retrieved: it says so, and cites nothing."""
        return Answer(NO_PASSAGES, (), (), NO_PASSAGES_ROUTE, QueryCost(), "off", self.total())


class AnswerStream(DeltaStream[Answer]):
    """Iterate the text deltas of an answer; ``answer`` is set when the stream ends.
    ``close()`` stops early: the model's stream is closed and nothing is cached.

    The source runs in a copy of the context the stream was made in, so the query scope
    it sets for its model calls never leaks into the caller's code.
    """

    def __init__(self, source: Iterator[str | Answer]) -> None:
        super().__init__(source, context=contextvars.copy_context())

    @property
    def answer(self) -> Answer | None:
        """The final :class:`Answer`, once the stream is exhausted."""
        return self.final


def stream_answer(pipeline: RAGPipeline, question: str, *, k: int, mode: SearchMode,
                  filters: Filters | None, scope: QueryScope) -> Iterator[str | Answer]:
    """The deltas of ``question``'s answer, then the :class:`Answer` (cost from the ledger).

    With the answer cache on, a hit is replayed word by word and written to the ledger as
    :func:`~ragline.app.answer_caching.serve_hit` does; a miss is streamed from the model
    and stored once complete (a stream closed early stores nothing). The answer is
    yielded after the query's scope is left, so nothing stays set once it is read.
    """
    final: list[Answer] = []
    with query_scope(scope), request_deadline(pipeline.settings.generation.deadline_s):
        yield from _deltas(pipeline, question, k=k, mode=mode, filters=filters, scope=scope,
                           final=final)
    yield final[0]


def _deltas(pipeline: RAGPipeline, question: str, *, k: int, mode: SearchMode,
            filters: Filters | None, scope: QueryScope, final: list[Answer]) -> Iterator[str]:
    """The text of :func:`stream_answer`; the finished answer is appended to ``final``."""
    cache = pipeline.answer_cache
    probe = None
    if cache is not None:
        probe = cache_probe(pipeline, question, cache, k=k, mode=mode, filters=filters,
                            tenant=scope.tenant)
        if probe.found.hit is not None:
            answer = pipeline.costed(serve_hit(probe.found.hit, pipeline.meter.ledger, scope,
                                               probe.started, probe.embed_ms), scope)
            yield from replay_chunks(answer.text)
            final.append(answer)
            return
    prepared = pipeline.prepare(question, k=k, mode=mode, filters=filters,
                                vector=probe.vector if probe is not None else None)
    if prepared.request is None:
        answer = prepared.no_passages()
        yield answer.text
    else:
        chat = pipeline.model.stream(prepared.request)
        yield from chat
        assert chat.response is not None  # set when the stream is exhausted
        prepared.lap("generate")
        answer = pipeline.finish(prepared, chat.response)
    answer = pipeline.costed(answer, scope)
    if cache is not None and probe is not None:
        answer = replace(answer, cache="miss", timings={**probe.timings(), **answer.timings})
        if cacheable(answer):
            cache.store_answer(question, answer, tenant=scope.tenant, params=probe.params,
                               vector=probe.vector)
    final.append(answer)
