"""``RAGPipeline``: question -> retrieve -> pack -> generate -> verify -> cited ``Answer``.

Every stage is timed. When a cross-encoder is configured and available offline,
a wider pool of chunks is retrieved and reordered by it before packing. The
answer of the configured generator is kept only when it cites at least one
packed passage and passes the support check; otherwise the extractive fallback
answers from the same passages, and ``Answer.route`` records why. The pipeline
owns no global state: build it from settings, use it, close it (or use it as a
context manager).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from ragline.app.citations import resolve_citations
from ragline.app.support import check_support
from ragline.config import Settings
from ragline.errors import InvalidInput
from ragline.models.chat import ChatModel, chat_model_from_settings
from ragline.models.embedder import embedder_from_settings
from ragline.models.extractive import ExtractiveModel
from ragline.models.rerank import CrossEncoderReranker, Reranker
from ragline.prompts import PromptTemplate, load_prompt
from ragline.rag.chunker import RecursiveChunker
from ragline.rag.index import QdrantIndex
from ragline.rag.ingest import Chunker, IngestReport, Progress, ingest_paths
from ragline.rag.packing import pack_context
from ragline.rag.semantic_chunker import SemanticChunker
from ragline.rag.transport import Filters
from ragline.tokens import get_encoding
from ragline.types import Answer, ChatRequest, ChatResponse, ScoredChunk, SearchMode

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


class RAGPipeline:
    """The main job of ragline: ingest documents, answer questions with citations."""

    def __init__(self, settings: Settings, *, index: QdrantIndex, generator: ChatModel,
                 fallback: ChatModel | None, prompt: PromptTemplate,
                 reranker: Reranker | None = None) -> None:
        self.settings = settings
        self.index = index
        self.reranker = reranker
        self.generator = generator
        self.fallback = fallback
        self.prompt = prompt
        self._encoding = get_encoding(settings.chunker.encoding)

    @classmethod
    def from_settings(cls, settings: Settings, *, collection: str | None = None,
                      generator: ChatModel | None = None, rerank: bool = True) -> RAGPipeline:
        """Build the pipeline the settings describe; ``generator`` overrides the configured one.

        ``rerank=False`` skips the reranker (for ingest-only or search-only use).
        """
        generation = settings.generation
        return cls(settings,
                   index=QdrantIndex.from_settings(
                       settings, collection=collection,
                       embedder=embedder_from_settings(settings.embedder)),
                   generator=generator or chat_model_from_settings(generation),
                   fallback=ExtractiveModel() if generation.fallback == "extractive" else None,
                   prompt=load_prompt(generation.prompt, generation.prompt_version),
                   reranker=_reranker(settings.rerank.model) if rerank else None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the index."""
        self.index.close()

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
        """
        ingest = self.settings.ingest
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
               filters: Filters | None = None) -> Answer:
        """Answer ``question`` from the index with ``[n]`` citations; see the module docstring."""
        if not question or not question.strip():
            raise InvalidInput("the question is empty; ask something, e.g. "
                               "ragline ask \"What does ragline do?\"")
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
            return Answer(NO_PASSAGES, (), (), "none (no passages retrieved)", 0.0, "off", timings)
        packed = pack_context(ranked, max_tokens=self.settings.context.max_tokens,
                              count_tokens=lambda text: len(
                                  self._encoding.encode(text, disallowed_special=())))
        passages = [{"marker": n, "text": p.chunk.text}
                    for n, p in enumerate(packed.passages, start=1)]
        generation = self.settings.generation
        request = ChatRequest(
            messages=self.prompt.render(passages=passages, question=question.strip()),
            max_tokens=generation.max_tokens, temperature=generation.temperature,
            metadata={"question": question.strip(), "passages": passages})
        lap("pack")
        responses: list[ChatResponse] = [self.generator.generate(request)]
        lap("generate")
        text, citations = resolve_citations(responses[0].text, packed.passages)
        verdict = check_support(text, packed.passages, min_support=generation.min_support)
        lap("check")
        route = self.generator.name
        if not verdict.supported and self.fallback is not None:
            responses.append(self.fallback.generate(request))
            text, citations = resolve_citations(responses[-1].text, packed.passages)
            route = f"{self.fallback.name} (fallback: {self.generator.name} answer had "\
                    f"{verdict.reason})"
            lap("fallback")
        costs = [r.cost for r in responses]
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return Answer(text=text, citations=citations, sources=packed.passages, route=route,
                      cost=None if None in costs else sum(c for c in costs if c is not None),
                      cache="off", timings=timings)
