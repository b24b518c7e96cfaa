"""The extractive provider: answers with the retrieved sentences that best match the question.

No model is involved. The sentences of the packed passages are ranked by
:class:`~ragline.models.sentence_rank.SentenceRanker` (IDF-weighted question
terms, lightly favouring higher-ranked passages); the best sentence is quoted
with its ``[n]`` marker, and a second one when it covers question terms the first
misses.
Headings and table rows are never quoted. It is
the rules-based fallback that guarantees a cited, grounded answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

from ragline.errors import InvalidInput
from ragline.models.sentence_rank import SentenceRanker
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta, word_deltas
from ragline.types import ChatRequest, ChatResponse, Usage

_SECOND_SENTENCE_SHARE = 0.5


def cite(sentence: str, marker: int) -> str:
    """``sentence`` citing passage ``marker``: ``[marker]`` before its closing punctuation
    ("It is fast." -> "It is fast [2]."), after any closing quote or bracket that follows
    that punctuation ('He said "no."' -> 'He said "no." [2]'), or at the end when it has
    no closing punctuation ("It is fast" -> "It is fast [2]")."""
    body = sentence.rstrip(".!?")
    if not body.strip():  # all punctuation: nothing to put the marker before
        return f"{sentence} [{marker}]"
    return f"{body.rstrip()} [{marker}]{sentence[len(body):]}"


def _passages(request: ChatRequest) -> tuple[str, list[tuple[int, str]]]:
    if not request.question or not request.passages:
        raise InvalidInput("the extractive provider answers RAG requests only: it needs the "
                           "request's question and passages (RAGPipeline sets both)")
    return request.question, list(enumerate(request.passages, start=1))


class ExtractiveModel:
    """A :class:`~ragline.models.chat.ChatModel` that quotes passages instead of generating.

    No model reads or writes tokens, so usage is all zeros; ``cost`` is None like
    every provider's (the price catalogue prices it). Streams yield the answer
    word by word.
    """

    name = "extractive"
    provider = "extractive"
    model = "extractive"

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Quote the best-matching sentence(s) of ``request.passages`` with their markers."""
        started = time.perf_counter()
        question, passages = _passages(request)
        text = self.answer(question, passages)
        return ChatResponse(text=text, model=self.model, usage=Usage(), cost=None,
                            latency_ms=(time.perf_counter() - started) * 1000)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """:meth:`generate`; it is fast and never waits, so it runs on the event loop."""
        return self.generate(request)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The answer of :meth:`generate`, word by word (each word with its trailing space)."""
        return ChatStream(self._words(request))

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def words() -> AsyncIterator[Delta]:
            for item in self._words(request):
                yield item

        return AsyncChatStream(words())

    def _words(self, request: ChatRequest) -> Iterator[Delta]:
        yield from word_deltas(self.generate(request))  # a bad request raises at first next()

    def answer(self, question: str, passages: list[tuple[int, str]]) -> str:
        """Return the quoted answer for ``question`` from ``(marker, text)`` passages."""
        ranker = SentenceRanker(question, passages)
        if not ranker.ranked:
            return "The retrieved passages hold no text to answer from."
        best = ranker.ranked[0]
        if ranker.score(best) == 0:
            first = ranker.sentences[0]
            return ("The retrieved passages do not answer this directly. The closest passage "
                    f"says: {cite(first.text, first.marker)}")
        chosen = [best]
        covered = best.terms & ranker.wanted
        extra = max(ranker.ranked[1:], key=lambda s: ranker.score(s, covered), default=None)
        if extra is not None and (ranker.score(extra, covered)
                                  >= _SECOND_SENTENCE_SHARE * ranker.score(best)):
            chosen.append(extra)
        return " ".join(cite(s.text, s.marker) for s in chosen)
