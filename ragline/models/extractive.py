"""The extractive provider: answers with the retrieved sentences that best match the question.

No model is involved. Every sentence of the packed passages is scored by the
IDF-weighted question terms it contains (IDF over those sentences), lightly
favouring higher-ranked passages; the best sentence is quoted with its ``[n]``
marker, and a second one when it covers question terms the first misses.
Headings and table rows are never quoted. It is
the rules-based fallback that guarantees a cited, grounded answer.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from ragline.errors import InvalidInput
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.text import content_terms, sentences
from ragline.types import ChatRequest, ChatResponse, Usage

_MIN_WORDS = 4
_SECOND_SENTENCE_SHARE = 0.5
_RANK_DECAY = 0.1


@dataclass(frozen=True, slots=True)
class _Candidate:
    marker: int
    text: str
    terms: frozenset[str]


def _quotable(sentence: str) -> bool:
    """A real sentence: at least a few words, not a Markdown heading or table row."""
    return len(sentence.split()) >= _MIN_WORDS and not sentence.startswith(("#", "|"))


def _cite(sentence: str, marker: int) -> str:
    """Put ``[marker]`` before the sentence's closing punctuation: 'It is fast [2].'."""
    body = sentence.rstrip(".!?")
    return f"{body} [{marker}]{sentence[len(body):]}"


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
        response = self.generate(request)
        yield from re.findall(r"\S+\s*", response.text)
        yield response

    def answer(self, question: str, passages: list[tuple[int, str]]) -> str:
        """Return the quoted answer for ``question`` from ``(marker, text)`` passages."""
        candidates = [
            _Candidate(marker, text[start:end], frozenset(content_terms(text[start:end])))
            for marker, text in passages for start, end in sentences(text)
            if _quotable(text[start:end])
        ]
        if not candidates:
            return "The retrieved passages hold no text to answer from."
        wanted = set(content_terms(question))
        frequency = Counter(t for c in candidates for t in c.terms)
        idf = {t: math.log(1 + len(candidates) / frequency[t]) for t in frequency}

        def score(candidate: _Candidate, covered: frozenset[str] = frozenset()) -> float:
            gain = sum(idf[t] for t in (candidate.terms & wanted) - covered)
            return gain / (1 + _RANK_DECAY * (candidate.marker - 1))

        ranked = sorted(candidates, key=lambda c: -score(c))
        best = ranked[0]
        if score(best) == 0:
            return ("The retrieved passages do not answer this directly. The closest passage "
                    f"says: {_cite(candidates[0].text, candidates[0].marker)}")
        chosen = [best]
        covered = best.terms & wanted
        extra = max(ranked[1:], key=lambda c: score(c, covered), default=None)
        if extra is not None and score(extra, covered) >= _SECOND_SENTENCE_SHARE * score(best):
            chosen.append(extra)
        return " ".join(_cite(c.text, c.marker) for c in chosen)
