"""``RAGPipeline``: question -> retrieve -> pack -> generate -> cite -> ``Answer``.

The pipeline only orchestrates. Retrieval embeds the question once; that vector
and the retrieval signals (top score, margin, dense/BM25 agreement) travel in
the request (:class:`~ragline.types.RouteSignals`) to the chat model, which is
the stack :func:`~ragline.routing.compose.chat_stack` builds from the config:
routing or cascades, budgets, circuit breakers, hedging and the fallback chain
are all wrappers inside it, and the one answer check
(:class:`~ragline.verify.guard.AnswerCheck`: the offline judge's claims and
citations) decides fallback there. ``Answer.route`` is the route the stack
reports. With ``generation.verify: offline`` the final answer's support check is
attached as ``Answer.support``. Every stage is timed, and every model call is
priced and recorded in the cost ledger under the query's id; ``Answer.cost`` is
read back from the ledger. The pipeline owns no global state: build it from
settings, use it, close it (or use it as a context manager).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Self

from ragline.app.answer_caching import cache_params, cacheable, serve_hit, shared_hit
from ragline.app.citations import resolve_citations
from ragline.app.notices import first_today, reranker_missing
from ragline.cache.answers import AnswerCache, CacheLookup, open_answer_cache
from ragline.config import Settings
from ragline.cost.budgets import BudgetGuard
from ragline.cost.ledger import INGEST_ID_PREFIX, Ledger
from ragline.cost.metered import CostMeter, QueryScope, new_query_id, query_scope
from ragline.cost.prices import PriceCatalogue
from ragline.errors import ConfigError, InvalidInput
from ragline.models.chat import ChatModel
from ragline.models.embedder import BUNDLED_MINILM, embedder_from_settings
from ragline.models.rerank import CrossEncoderReranker, Reranker
from ragline.models.retry import request_deadline
from ragline.prompts import PromptTemplate, load_prompt
from ragline.protocols import Filters, Index, Vectors
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import Chunker, DocumentProgress, IngestReport, Progress, ingest_paths
from ragline.rag.packing import pack_context
from ragline.rag.semantic_chunker import SemanticChunker
from ragline.routing.compose import chat_stack
from ragline.text import nfc
from ragline.tokens import get_encoding
from ragline.types import (
    CHUNKER_KINDS,
    Answer,
    ChatRequest,
    QueryCost,
    RouteSignals,
    ScoredChunk,
    SearchMode,
)
from ragline.verify.guard import AnswerCheck, check_answer
from ragline.verify.offline_judge import OfflineJudge, default_judge_embedder
from ragline.verify.types import Judge

NO_PASSAGES = "No indexed passage matches this question, so there is nothing to answer from."
log = logging.getLogger("ragline")


def _reranker(settings: Settings, collection: str | None, *,
              notices: bool) -> Reranker | None:
    """The configured cross-encoder, or None when it is not available offline: a warning
    then, once a day per collection (remembered in ``<home>/notices.json``)."""
    model = settings.rerank.model
    if model is None:
        return None
    if not CrossEncoderReranker.available(model):
        key = f"reranker-offline/{collection or settings.collection}/{model}"
        if notices and first_today(settings.home, key):
            log.warning("%s", reranker_missing(model))
        return None
    return CrossEncoderReranker(model)


def _needs_check(settings: Settings) -> bool:
    """Whether anything acts on the answer check: a fallback, a cascade scoring with it,
    or ``Answer.support``."""
    generation, routing = settings.generation, settings.routing
    cascade = (generation.provider == "routed" and routing.strategy == "cascade"
               and routing.cascade_scorer == "answer_check")
    return (generation.verify == "offline" or generation.fallback == "extractive"
            or bool(routing.fallback) or cascade)


class RAGPipeline:
    """The main job of ragline: ingest documents, answer questions with citations."""

    def __init__(self, settings: Settings, *, index: Index, model: ChatModel,
                 prompt: PromptTemplate, meter: CostMeter, reranker: Reranker | None = None,
                 budgets: BudgetGuard | None = None, judge: Judge | None = None,
                 answer_cache: AnswerCache | None = None) -> None:
        self.settings = settings
        self.answer_cache = answer_cache
        self.index = index
        self.reranker = reranker
        self.meter = meter
        self.model = model
        self.budgets = budgets
        self.prompt = prompt
        self.judge = judge
        self._encoding = get_encoding(settings.chunker.encoding)

    @classmethod
    def from_settings(cls, settings: Settings, *, collection: str | None = None,
                      generator: ChatModel | None = None, rerank: bool = True,
                      notices: bool = True) -> RAGPipeline:
        """Build the pipeline the settings describe; ``generator`` replaces the configured
        answering model (the wrappers of the stack still apply).

        ``rerank=False`` skips the reranker (for ingest-only or search-only use).
        ``notices=False`` keeps the once-a-day warning about a missing cross-encoder
        unsaid (for callers that state it themselves, as ``ragline demo`` does).
        """
        generation = settings.generation
        ledger = Ledger.from_settings(settings)
        meter = CostMeter(PriceCatalogue.from_settings(settings.cost), ledger,
                          default_tenant=settings.cost.tenant)
        reranker = _reranker(settings, collection, notices=notices) if rerank else None
        embedder = meter.embedder(embedder_from_settings(settings.embedder),
                                  model=settings.embedder.model)
        judge = OfflineJudge(meter.embedder(default_judge_embedder(), model=BUNDLED_MINILM,
                                            stage="judge"))
        check = (AnswerCheck(judge, min_support=generation.min_support)
                 if _needs_check(settings) else None)
        stack = chat_stack(settings, meter, generator=generator, check=check,
                           embedder=embedder)
        return cls(settings,
                   index=QdrantIndex.from_settings(settings, collection=collection,
                                                   embedder=embedder),
                   model=stack.model,
                   prompt=load_prompt(generation.prompt, generation.prompt_version),
                   meter=meter,
                   reranker=None if reranker is None else meter.reranker(
                       reranker, model=settings.rerank.model or ""),
                   budgets=stack.budgets,
                   judge=judge if generation.verify == "offline" else None,
                   answer_cache=open_answer_cache(settings, embedder, stack=stack.model.name))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index, the answer cache and the cost ledger."""
        self.index.close()
        if self.answer_cache is not None:
            self.answer_cache.close()
        self.meter.ledger.close()

    def chunker(self, kind: str | None = None) -> Chunker:
        """The chunker of ``kind`` (default from settings).

        ``recursive``: heading sections, then paragraphs, lines, sentences and
        words, with overlap inside a section. ``markdown``: the same cuts without
        overlap, so every chunk is one heading section, or a run of its
        paragraphs when the section is too long. ``semantic``: cuts where the
        meaning shifts between sentences.
        """
        chunking = self.settings.chunker
        kind = kind or chunking.kind
        if kind not in CHUNKER_KINDS:
            *first, last = (repr(k) for k in CHUNKER_KINDS)
            raise InvalidInput(f"chunker must be {', '.join(first)} or {last}, but got {kind!r}")
        if kind in ("recursive", "markdown"):
            return RecursiveChunker(
                size_tokens=chunking.size_tokens,
                overlap_tokens=chunking.overlap_tokens if kind == "recursive" else 0,
                encoding=chunking.encoding)
        return SemanticChunker(self.index.embedder, min_tokens=chunking.min_tokens,
                               max_tokens=chunking.size_tokens,
                               breakpoint=chunking.breakpoint,
                               threshold=chunking.breakpoint_threshold,
                               encoding=chunking.encoding)

    def ingest(self, paths: Sequence[Path], *, prune: bool = True, chunker: str | None = None,
               on_progress: Progress | None = None, workers: int | None = None,
               on_document: DocumentProgress | None = None) -> IngestReport:
        """Load, chunk, embed and index files or folders; idempotent, resumable (``rag.ingest``).

        Re-ingesting with another chunker replaces every changed document's chunks.
        ``workers`` (default: config ``ingest.workers``) processes load and chunk files;
        files over ``ingest.max_file_mb`` are skipped. ``on_document`` gets the
        progress of each large document. The run's embedding calls are recorded
        in the cost ledger under one id, ``ingest-<hex>``. Ctrl-C raises
        :class:`~ragline.rag.ingest.IngestInterrupted` with what was completed.
        """
        ingest = self.settings.ingest
        run = QueryScope(f"{INGEST_ID_PREFIX}{new_query_id()}", self.settings.cost.tenant)
        with query_scope(run):
            report = ingest_paths(paths, index=self.index, chunker=self.chunker(chunker),
                                  prune=prune, on_progress=on_progress,
                                  workers=ingest.workers if workers is None else workers,
                                  batch_size=ingest.batch_size, queue_depth=ingest.queue_depth,
                                  max_file_mb=ingest.max_file_mb, on_document=on_document)
        self.forget_cached(report.replaced)
        return report

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Remove these documents and their chunks from the index, and every cached answer
        drawn from them; returns how many chunks were removed."""
        removed = self.index.delete(doc_ids)
        self.forget_cached(doc_ids)
        return removed

    def forget_cached(self, doc_ids: Sequence[str]) -> int:
        """Drop the cached answers (semantic entries) drawn from ``doc_ids``; how many.

        Every write to the collection already changes its index version, so no entry
        of the older version is served again; this frees their space at once.
        """
        if self.answer_cache is None or not doc_ids:
            return 0
        return self.answer_cache.invalidate_docs(doc_ids)

    def retrieve(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
                 filters: Filters | None = None) -> list[ScoredChunk]:
        """The ``k`` best chunks for ``question`` (defaults from ``retrieval`` settings).

        Each chunk says which retriever(s) found it (``ScoredChunk.retrievers``).
        """
        question = self._checked(question, what="query")
        return self.index.search(question, self._k(k), filters,
                                 mode or self.settings.retrieval.mode, explain=True)

    def _k(self, k: int | None) -> int:
        """``k``, or ``retrieval.k`` when None; :class:`InvalidInput` below 1."""
        if k is None:
            return self.settings.retrieval.k
        if k < 1:
            raise InvalidInput(f"k must be at least 1, but got {k}")
        return k

    def _checked(self, question: str, *, what: str = "question") -> str:
        """The question stripped and in Unicode NFC (as the index stores text);
        :class:`InvalidInput` when empty or longer than ``generation.max_question_chars``."""
        text = nfc(question).strip() if question else ""
        if not text:
            raise InvalidInput(f"the {what} is empty; ask something, e.g. "
                               "ragline ask \"What does ragline do?\"")
        limit = self.settings.generation.max_question_chars
        if len(text) > limit:
            raise InvalidInput(f"the {what} is {len(text):,} characters long; the limit is "
                               f"{limit:,} (generation.max_question_chars): shorten it, or "
                               "raise the limit")
        return text

    def answer(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
               filters: Filters | None = None, tenant: str | None = None,
               session: str | None = None, api_key: str | None = None) -> Answer:
        """Answer ``question`` from the index with ``[n]`` citations; see the module docstring.

        ``tenant`` (default: config ``cost.tenant``), ``session`` and ``api_key``
        (a key id, never the secret) are recorded with every model call of the
        query and select the budgets that apply. Raises
        :class:`~ragline.errors.BudgetExceeded` when a limit is reached and the
        policy is ``reject``, and :class:`~ragline.errors.InvalidInput` for an empty
        or overlong question or a ``k`` below 1. Model calls of the question share one
        deadline, ``generation.deadline_s``.
        """
        question = self._checked(question)
        scope = QueryScope(new_query_id(), tenant or self.settings.cost.tenant, session, api_key)
        with query_scope(scope), request_deadline(self.settings.generation.deadline_s):
            if self.answer_cache is not None:
                return self._cached_answer(question, self.answer_cache, k=self._k(k),
                                           mode=mode or self.settings.retrieval.mode,
                                           filters=filters, scope=scope)
            return self._costed(self._answer(question, k=k, mode=mode, filters=filters),
                                scope)

    def cache_lookup(self, question: str, *, k: int | None = None,
                     mode: SearchMode | None = None, filters: Filters | None = None,
                     tenant: str | None = None) -> CacheLookup:
        """What the answer cache holds for ``question`` as :meth:`answer` would ask it: a hit
        (exact or semantic, with the stored question and similarity) or a miss with the
        candidates rejected and why. Nothing is retrieved, generated or recorded.
        Raises :class:`~ragline.errors.ConfigError` when ``cache.mode`` is off.
        """
        if self.answer_cache is None:
            raise ConfigError("the answer cache is off (cache.mode: off); set cache.mode to "
                              "exact or semantic")
        question = self._checked(question)
        k = self._k(k)
        params = cache_params(self.settings, self.index, self.model.name, k=k,
                              mode=mode or self.settings.retrieval.mode, filters=filters,
                              rerank=self.reranker is not None)
        return self.answer_cache.lookup(
            question, tenant=tenant or self.settings.cost.tenant, params=params,
            vector=lambda: self.index.embedder.embed_query(question))

    def _costed(self, answer: Answer, scope: QueryScope) -> Answer:
        """``answer`` with the cost of its query, read from the ledger, and its query id."""
        return replace(answer, cost=self.meter.ledger.query_cost(scope.query_id),
                       query_id=scope.query_id)

    def _cached_answer(self, question: str, cache: AnswerCache, *, k: int, mode: SearchMode,
                       filters: Filters | None, scope: QueryScope) -> Answer:
        """The answer from ``cache`` (exact, then by meaning), else computed and stored.

        A hit is written to the ledger as a zero-cost call with what it saved. Concurrent
        identical questions are answered once; the others are served that answer.
        """
        started = time.perf_counter()
        params = cache_params(self.settings, self.index, self.model.name, k=k, mode=mode,
                              filters=filters, rerank=self.reranker is not None)
        vectors: list[Vectors] = []
        embed_ms: dict[str, float] = {}

        def embed() -> Vectors:
            clock = time.perf_counter()
            vectors.append(self.index.embedder.embed_query(question))
            embed_ms["embed"] = round((time.perf_counter() - clock) * 1000, 3)
            return vectors[0]

        found = cache.lookup(question, tenant=scope.tenant, params=params, vector=embed)
        if found.hit is not None:
            return self._costed(serve_hit(found.hit, self.meter.ledger, scope, started,
                                          embed_ms), scope)
        looked = round((time.perf_counter() - started) * 1000 - sum(embed_ms.values()), 3)

        def produce() -> Answer:
            answer = self._answer(question, k=k, mode=mode, filters=filters,
                                  vector=vectors[0] if vectors else None)
            timings = {"cache": looked, **embed_ms, **answer.timings,
                       "total": round((time.perf_counter() - started) * 1000, 3)}
            answer = self._costed(replace(answer, cache="miss", timings=timings), scope)
            if cacheable(answer):
                cache.store_answer(question, answer, tenant=scope.tenant, params=params,
                                   vector=vectors[0] if vectors else None)
            return answer

        answer, led = cache.once(question, tenant=scope.tenant, params=params, produce=produce)
        if led:
            return answer
        return self._costed(serve_hit(shared_hit(answer, question), self.meter.ledger, scope,
                                      started, embed_ms), scope)

    def _answer(self, question: str, *, k: int | None, mode: SearchMode | None,
                filters: Filters | None, vector: Vectors | None = None) -> Answer:
        """The answer, with its cost still to be read from the ledger; ``vector`` is the
        question's embedding when it is known already."""
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000, 3)
            clock = now

        k = self._k(k)
        if vector is None:
            vector = self.index.embedder.embed_query(question)
        pool = self.index.search(question, max(k, self.settings.rerank.candidates)
                                 if self.reranker else k, filters,
                                 mode or self.settings.retrieval.mode, query_vector=vector,
                                 explain=True)
        signals = retrieval_signals(question, vector, self.settings.embedder.model, pool)
        lap("retrieve")
        ranked = pool
        if self.reranker is not None:
            ranked = self.reranker.rerank(question, pool, top_k=k)
            lap("rerank")
        if not ranked:
            timings["total"] = round((time.perf_counter() - started) * 1000, 3)
            return Answer(NO_PASSAGES, (), (), "none (no passages retrieved)", QueryCost(),
                          "off", timings)
        packed = pack_context(ranked, max_tokens=self.settings.context.max_tokens,
                              count_tokens=lambda text: len(
                                  self._encoding.encode(text, disallowed_special=())))
        texts = tuple(p.chunk.text for p in packed.passages)
        request = self._request(question, texts, signals)
        lap("pack")
        response = self.model.generate(request)
        lap("generate")
        timings.update(response.timings)
        text, citations = resolve_citations(response.text, packed.passages)
        support = None
        if self.judge is not None:
            support = (response.support if response.support is not None
                       and text == response.text.strip()
                       else check_answer(text, texts, judge=self.judge))
            lap("verify")
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return Answer(text=text, citations=citations, sources=packed.passages,
                      route=response.route or self.model.name, cost=QueryCost(), cache="off",
                      timings=timings, support=support)

    def _request(self, question: str, texts: tuple[str, ...],
                 signals: RouteSignals) -> ChatRequest:
        """The prompt over the packed ``texts`` (marker ``[n]`` is ``texts[n-1]``) as a request."""
        generation = self.settings.generation
        return ChatRequest(
            messages=self.prompt.render(
                passages=[{"marker": n, "text": t} for n, t in enumerate(texts, start=1)],
                question=question),
            max_tokens=generation.max_tokens, temperature=generation.temperature,
            question=question, passages=texts, signals=signals)



def retrieval_signals(question: str, vector: object, embedder: str,
                      hits: Sequence[ScoredChunk]) -> RouteSignals:
    """What retrieval tells a router: the query vector, top score, margin, and the share
    of hits that both the dense and the BM25 retriever found."""
    if not hits:
        return RouteSignals(query=question, query_vector=vector, embedder=embedder)
    both = sum(1 for h in hits if "dense" in h.retrievers and "bm25" in h.retrievers)
    return RouteSignals(
        query=question, query_vector=vector, embedder=embedder, top_score=hits[0].score,
        margin=hits[0].score - hits[1].score if len(hits) > 1 else hits[0].score,
        agreement=both / len(hits), retrieved=len(hits))
