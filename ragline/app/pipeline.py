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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Self

from ragline.app.answer_caching import cache_probe, cached_answer
from ragline.app.citations import resolve_citations
from ragline.app.notices import first_today, reranker_missing
from ragline.app.streaming import AnswerStream, Prepared, stream_answer
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
    ChatResponse,
    QueryCost,
    RouteSignals,
    ScoredChunk,
    SearchMode,
)
from ragline.verify.abstention import ABSTAINED
from ragline.verify.guard import AnswerCheck, check_answer
from ragline.verify.offline_judge import OfflineJudge, default_judge_embedder
from ragline.verify.types import Judge

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
        question = self.checked(question, what="query")
        return self.index.search(question, self._k(k), filters,
                                 mode or self.settings.retrieval.mode, explain=True)

    def _k(self, k: int | None) -> int:
        """``k``, or ``retrieval.k`` when None; :class:`InvalidInput` below 1."""
        if k is None:
            return self.settings.retrieval.k
        if k < 1:
            raise InvalidInput(f"k must be at least 1, but got {k}")
        return k

    def checked(self, question: str, *, what: str = "question") -> str:
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
        question = self.checked(question)
        scope = QueryScope(new_query_id(), tenant or self.settings.cost.tenant, session, api_key)
        with query_scope(scope), request_deadline(self.settings.generation.deadline_s):
            if self.answer_cache is not None:
                return cached_answer(self, question, self.answer_cache, k=self._k(k),
                                     mode=mode or self.settings.retrieval.mode,
                                     filters=filters, scope=scope)
            return self.costed(self.prepare_and_generate(question, k=k, mode=mode, filters=filters),
                               scope)

    def stream(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
               filters: Filters | None = None, tenant: str | None = None,
               session: str | None = None, api_key: str | None = None) -> AnswerStream:
        """:meth:`answer`, streamed: iterate the text deltas as the model writes them; the
        stream's ``answer`` is the final :class:`Answer` once it is exhausted.

        The deltas are the model's raw text; the final answer's text has its citation
        markers resolved (markers pointing at nothing dropped), so a display should
        replace the streamed text with it. A cache hit is replayed word by word; a miss
        is stored when the stream completes. Bad input raises here, before any delta.
        """
        question = self.checked(question)
        k = self._k(k)
        scope = QueryScope(new_query_id(), tenant or self.settings.cost.tenant, session, api_key)
        return AnswerStream(stream_answer(self, question, k=k,
                                          mode=mode or self.settings.retrieval.mode,
                                          filters=filters, scope=scope))

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
        question = self.checked(question)
        return cache_probe(self, question, self.answer_cache, k=self._k(k),
                           mode=mode or self.settings.retrieval.mode, filters=filters,
                           tenant=tenant or self.settings.cost.tenant).found

    def costed(self, answer: Answer, scope: QueryScope) -> Answer:
        """``answer`` with the cost of its query, read from the ledger, and its query id."""
        return replace(answer, cost=self.meter.ledger.query_cost(scope.query_id),
                       query_id=scope.query_id)

    def prepare_and_generate(self, question: str, *, k: int | None, mode: SearchMode | None,
                             filters: Filters | None, vector: Vectors | None = None) -> Answer:
        """The answer, uncached, with its cost still to be read from the ledger; ``vector``
        is the question's embedding when it is known already."""
        prepared = self.prepare(question, k=k, mode=mode, filters=filters, vector=vector)
        if prepared.request is None:
            return prepared.no_passages()
        response = self.model.generate(prepared.request)
        prepared.lap("generate")
        return self.finish(prepared, response)

    def prepare(self, question: str, *, k: int | None, mode: SearchMode | None,
                filters: Filters | None, vector: Vectors | None = None) -> Prepared:
        """The first half of an answer: retrieve (with ``vector`` when known), rerank and
        pack, and the request to generate from (None when nothing was retrieved)."""
        prepared = Prepared()
        k = self._k(k)
        if vector is None:
            vector = self.index.embedder.embed_query(question)
        pool = self.index.search(question, max(k, self.settings.rerank.candidates)
                                 if self.reranker else k, filters,
                                 mode or self.settings.retrieval.mode, query_vector=vector,
                                 explain=True)
        signals = retrieval_signals(question, vector, self.settings.embedder.model, pool)
        prepared.lap("retrieve")
        ranked = pool
        if self.reranker is not None:
            ranked = self.reranker.rerank(question, pool, top_k=k)
            prepared.lap("rerank")
        if not ranked:
            return prepared
        packed = pack_context(ranked, max_tokens=self.settings.context.max_tokens,
                              count_tokens=lambda text: len(
                                  self._encoding.encode(text, disallowed_special=())))
        prepared.passages = packed.passages
        prepared.request = self._request(
            question, tuple(p.chunk.text for p in packed.passages), signals)
        prepared.lap("pack")
        return prepared

    def finish(self, prepared: Prepared, response: ChatResponse) -> Answer:
        """The second half: the model's ``response`` to the prepared request as an
        :class:`Answer`, citations resolved and (with ``generation.verify``) checked."""
        prepared.timings.update(response.timings)
        text, citations = resolve_citations(response.text, prepared.passages)
        support = None
        route = response.route or self.model.name
        if self.judge is not None and not route.startswith(ABSTAINED):
            texts = tuple(p.chunk.text for p in prepared.passages)
            support = (response.support if response.support is not None
                       and text == response.text.strip()
                       else check_answer(text, texts, judge=self.judge))
            prepared.lap("verify")
        return Answer(text=text, citations=citations, sources=prepared.passages,
                      route=route, cost=QueryCost(), cache="off",
                      timings=prepared.total(), support=support)

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
