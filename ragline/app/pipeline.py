"""``RAGPipeline``: question -> retrieve -> pack -> generate -> verify -> cited ``Answer``.

Every stage is timed, and every model call (query embedding, reranking,
generation, fallback) is priced and recorded in the cost ledger under the
query's id; ``Answer.cost`` is read back from the ledger. When a cross-encoder
is configured and available offline, a wider pool of chunks is retrieved and
reordered by it before packing. Generation first reserves its estimated cost
against the tenant's and API key's budgets; when a limit is reached the
question is refused or answered on the cheaper ``budgets.downgrade_to`` route,
as configured. The answer of the configured generator is kept only when it
cites at least one packed passage and passes the support check; otherwise the
extractive fallback answers from the same passages, and ``Answer.route``
records why. With ``generation.verify: offline`` the final answer's claims and
citations are then checked against the passages by the offline judge (no LLM)
and the verdicts attached as ``Answer.support``. The pipeline owns no global
state: build it from settings, use it, close it (or use it as a context manager).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Self

from ragline.app.citations import resolve_citations
from ragline.app.support import check_support
from ragline.config import GenerationSettings, Settings
from ragline.cost.budgets import BudgetGuard
from ragline.cost.ledger import INGEST_ID_PREFIX, Ledger
from ragline.cost.metered import CostMeter, QueryScope, new_query_id, query_scope
from ragline.cost.prices import PriceCatalogue
from ragline.errors import BudgetExceeded, ConfigError, InvalidInput, ProviderError
from ragline.evals.guard import check_answer
from ragline.evals.offline_judge import OfflineJudge, default_judge_embedder
from ragline.evals.types import Judge
from ragline.models.chat import ChatModel, chat_model_from_settings, create_chat_model
from ragline.models.embedder import BUNDLED_MINILM, embedder_from_settings
from ragline.models.extractive import ExtractiveModel
from ragline.models.rerank import CrossEncoderReranker, Reranker
from ragline.models.tokens import count_tokens
from ragline.prompts import PromptTemplate, load_prompt
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import Chunker, IngestReport, Progress, ingest_paths
from ragline.rag.packing import pack_context
from ragline.rag.semantic_chunker import SemanticChunker
from ragline.rag.transport import Filters
from ragline.tokens import get_encoding
from ragline.types import (
    Answer,
    ChatRequest,
    ChatResponse,
    QueryCost,
    ScoredChunk,
    SearchMode,
    Usage,
)

NO_PASSAGES = "No indexed passage matches this question, so there is nothing to answer from."
log = logging.getLogger("ragline")


def _reranker(model: str | None) -> Reranker | None:
    """The configured cross-encoder, or None (said once) when it is not available offline."""
    if model is None:
        return None
    if not CrossEncoderReranker.available(model):
        log.warning("reranker %s is not available offline (not a local path nor in the "
                    "Hugging Face cache); answering without reranking. Set rerank.model to a "
                    "local path, or to null to turn reranking off.", model)
        return None
    return CrossEncoderReranker(model)


def downgrade_model(route: str, generation: GenerationSettings) -> ChatModel:
    """The model of a ``budgets.downgrade_to`` route: ``extractive`` or ``provider:model``.

    It takes the timeout and retries of ``generation``, and its key and base URL
    when it is the same provider (another provider's key comes from the environment).
    """
    if route == "extractive":
        return ExtractiveModel()
    provider, _, model = route.partition(":")
    if not model:
        raise ConfigError(f"budgets.downgrade_to must be 'extractive' or 'provider:model', "
                          f"not {route!r}")
    same = provider == generation.provider
    key = generation.api_key.get_secret_value() if same and generation.api_key else None
    return create_chat_model(provider, model=model, api_key=key,
                             base_url=generation.base_url if same else None,
                             timeout_s=generation.timeout_s,
                             max_retries=generation.max_retries)


class RAGPipeline:
    """The main job of ragline: ingest documents, answer questions with citations."""

    def __init__(self, settings: Settings, *, index: QdrantIndex, generator: ChatModel,
                 fallback: ChatModel | None, prompt: PromptTemplate, meter: CostMeter,
                 reranker: Reranker | None = None, budgets: BudgetGuard | None = None,
                 downgrade: ChatModel | None = None, judge: Judge | None = None) -> None:
        self.settings = settings
        self.index = index
        self.reranker = reranker
        self.meter = meter
        self.generator = meter.chat(generator)
        self.fallback = None if fallback is None else meter.chat(fallback, stage="fallback")
        self.budgets = budgets
        self.downgrade = None if downgrade is None else meter.chat(
            downgrade, route_reason="budget downgrade")
        self.prompt = prompt
        self.judge = judge
        self._encoding = get_encoding(settings.chunker.encoding)

    @classmethod
    def from_settings(cls, settings: Settings, *, collection: str | None = None,
                      generator: ChatModel | None = None, rerank: bool = True) -> RAGPipeline:
        """Build the pipeline the settings describe; ``generator`` overrides the configured one.

        ``rerank=False`` skips the reranker (for ingest-only or search-only use).
        """
        generation = settings.generation
        ledger = Ledger.from_settings(settings)
        meter = CostMeter(PriceCatalogue.from_settings(settings.cost), ledger,
                          default_tenant=settings.cost.tenant)
        reranker = _reranker(settings.rerank.model) if rerank else None
        budgets = settings.budgets
        embedder = embedder_from_settings(settings.embedder)
        return cls(settings,
                   index=QdrantIndex.from_settings(
                       settings, collection=collection,
                       embedder=meter.embedder(embedder, model=settings.embedder.model)),
                   generator=generator or chat_model_from_settings(generation),
                   fallback=ExtractiveModel() if generation.fallback == "extractive" else None,
                   prompt=load_prompt(generation.prompt, generation.prompt_version),
                   meter=meter,
                   reranker=None if reranker is None else meter.reranker(
                       reranker, model=settings.rerank.model or ""),
                   budgets=BudgetGuard(ledger, budgets.limits) if budgets.limits else None,
                   downgrade=downgrade_model(budgets.downgrade_to, generation)
                   if budgets.limits and budgets.on_exceed == "downgrade" else None,
                   judge=OfflineJudge(meter.embedder(default_judge_embedder(),
                                                     model=BUNDLED_MINILM, stage="judge"))
                   if generation.verify == "offline" else None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index and the cost ledger."""
        self.index.close()
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
        if kind in ("recursive", "markdown"):
            return RecursiveChunker(
                size_tokens=chunking.size_tokens,
                overlap_tokens=chunking.overlap_tokens if kind == "recursive" else 0,
                encoding=chunking.encoding)
        if kind == "semantic":
            return SemanticChunker(self.index.embedder, min_tokens=chunking.min_tokens,
                                   max_tokens=chunking.size_tokens,
                                   breakpoint=chunking.breakpoint,
                                   threshold=chunking.breakpoint_threshold,
                                   encoding=chunking.encoding)
        raise InvalidInput("chunker must be 'recursive', 'markdown' or 'semantic', "
                           f"but got {kind!r}")

    def ingest(self, paths: Sequence[Path], *, prune: bool = True, chunker: str | None = None,
               on_progress: Progress | None = None, workers: int | None = None) -> IngestReport:
        """Load, chunk, embed and index files or folders; idempotent, resumable (``rag.ingest``).

        Re-ingesting with another chunker replaces every changed document's chunks.
        ``workers`` (default: config ``ingest.workers``) processes load and chunk files.
        The run's embedding calls are recorded in the cost ledger under one id,
        ``ingest-<hex>``.
        """
        ingest = self.settings.ingest
        run = QueryScope(f"{INGEST_ID_PREFIX}{new_query_id()}", self.settings.cost.tenant)
        with query_scope(run):
            return ingest_paths(paths, index=self.index, chunker=self.chunker(chunker),
                                prune=prune, on_progress=on_progress,
                                workers=ingest.workers if workers is None else workers,
                                batch_size=ingest.batch_size, queue_depth=ingest.queue_depth)

    def retrieve(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
                 filters: Filters | None = None) -> list[ScoredChunk]:
        """The ``k`` best chunks for ``question`` (defaults from ``retrieval`` settings).

        Each chunk says which retriever(s) found it (``ScoredChunk.sources``).
        """
        return self.index.search(question, k or self.settings.retrieval.k, filters,
                                 mode or self.settings.retrieval.mode, explain=True)

    def answer(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
               filters: Filters | None = None, tenant: str | None = None,
               session: str | None = None, api_key: str | None = None) -> Answer:
        """Answer ``question`` from the index with ``[n]`` citations; see the module docstring.

        ``tenant`` (default: config ``cost.tenant``), ``session`` and ``api_key``
        (a key id, never the secret) are recorded with every model call of the
        query and select the budgets that apply. Raises
        :class:`~ragline.errors.BudgetExceeded` when a limit is reached and the
        policy is ``reject``.
        """
        if not question or not question.strip():
            raise InvalidInput("the question is empty; ask something, e.g. "
                               "ragline ask \"What does ragline do?\"")
        scope = QueryScope(new_query_id(), tenant or self.settings.cost.tenant, session, api_key)
        with query_scope(scope):
            answer = self._answer(question.strip(), k=k, mode=mode, filters=filters,
                                  scope=scope)
        return replace(answer, cost=self.meter.ledger.query_cost(scope.query_id),
                       query_id=scope.query_id)

    def _answer(self, question: str, *, k: int | None, mode: SearchMode | None,
                filters: Filters | None, scope: QueryScope) -> Answer:
        """The answer, with its cost still to be read from the ledger."""
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000, 3)
            clock = now

        k = k or self.settings.retrieval.k
        if self.reranker is None:
            ranked = self.retrieve(question, k=k, mode=mode, filters=filters)
            lap("retrieve")
        else:
            pool = self.retrieve(question, k=max(k, self.settings.rerank.candidates), mode=mode,
                                 filters=filters)
            lap("retrieve")
            ranked = self.reranker.rerank(question, pool, top_k=k)
            lap("rerank")
        if not ranked:
            timings["total"] = round((time.perf_counter() - started) * 1000, 3)
            return Answer(NO_PASSAGES, (), (), "none (no passages retrieved)", QueryCost(),
                          "off", timings)
        packed = pack_context(ranked, max_tokens=self.settings.context.max_tokens,
                              count_tokens=lambda text: len(
                                  self._encoding.encode(text, disallowed_special=())))
        passages = [{"marker": n, "text": p.chunk.text}
                    for n, p in enumerate(packed.passages, start=1)]
        generation = self.settings.generation
        request = ChatRequest(
            messages=self.prompt.render(passages=passages, question=question),
            max_tokens=generation.max_tokens, temperature=generation.temperature,
            metadata={"question": question, "passages": passages})
        lap("pack")
        response, route = self._generate(request, scope)
        lap("generate")
        text, citations = resolve_citations(response.text, packed.passages)
        verdict = check_support(text, packed.passages, min_support=generation.min_support)
        lap("check")
        if not verdict.supported and self.fallback is not None:
            response = self.fallback.generate(request)
            text, citations = resolve_citations(response.text, packed.passages)
            route = f"{self.fallback.name} (fallback: {route} answer had {verdict.reason})"
            lap("fallback")
        support = None
        if self.judge is not None:
            support = check_answer(text, [p.chunk.text for p in packed.passages],
                                   judge=self.judge)
            lap("verify")
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return Answer(text=text, citations=citations, sources=packed.passages, route=route,
                      cost=QueryCost(), cache="off", timings=timings, support=support)

    def _generate(self, request: ChatRequest, scope: QueryScope) -> tuple[ChatResponse, str]:
        """Generate within the budgets: reserve the estimate, then settle the actual spend.

        Returns the response and the route that produced it. Over budget, the
        downgrade route answers when the policy is ``downgrade``.
        """
        if self.budgets is None:
            return self.generator.generate(request), self.generator.name
        tokens, usd = self._estimate(request)
        try:
            reservation = self.budgets.reserve(scope.tenant, scope.api_key, usd=usd,
                                               tokens=tokens)
        except BudgetExceeded as exc:
            if self.downgrade is None:
                raise
            return self.downgrade.generate(request), f"{self.downgrade.name} (budget: {exc})"
        try:
            response = self.generator.generate(request)
        except ProviderError as exc:
            spent = exc.partial if isinstance(exc.partial, ChatResponse) else None
            self.budgets.settle(reservation, usd=spent.cost if spent else 0.0,
                                tokens=spent.usage.total_tokens if spent else 0)
            raise
        except BaseException:
            self.budgets.release(reservation)
            raise
        self.budgets.settle(reservation, usd=response.cost, tokens=response.usage.total_tokens)
        return response, self.generator.name

    def _estimate(self, request: ChatRequest) -> tuple[int, float]:
        """Tokens and USD a request may spend at most: its prompt plus ``max_tokens`` out.

        A model without a known price reserves no dollars (its tokens still count).
        """
        model = request.model or self.generator.model
        prompt = count_tokens("\n".join(m.content for m in request.messages), model)
        usage = Usage(input_tokens=prompt, output_tokens=request.max_tokens, estimated=True)
        cost = self.meter.catalogue.cost(model, usage)
        return usage.total_tokens, 0.0 if cost is None else float(cost)
