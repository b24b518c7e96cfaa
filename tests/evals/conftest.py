"""Eval test doubles: a fixed-passage answerer and a judge that counts its calls."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from ragline.text import content_terms
from ragline.types import Answer, Chunk, QueryCost, ScoredChunk
from ragline.verify.types import SupportVerdict

PASSAGES = {
    "storage.md": "ragline keeps its index in a Qdrant Edge shard under the .ragline folder.",
    "costs.md": "Every model call is priced and recorded in the cost ledger.",
    "pets.txt": "Cats sleep for most of the day.",
}


class FixedAnswerer:
    """Answers with the passage sharing most words with the question, citing it first."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_after = fail_after
        self._lock = threading.Lock()

    def answer(self, question: str) -> Answer:
        with self._lock:
            if self.fail_after is not None and len(self.calls) >= self.fail_after:
                raise KeyboardInterrupt("simulated kill")
            self.calls.append(question)
        terms = set(content_terms(question))
        ranked = sorted(PASSAGES, key=lambda d: (-len(terms & set(content_terms(PASSAGES[d]))), d))
        sources = tuple(ScoredChunk(Chunk.create(doc, PASSAGES[doc], {}, 0), 1.0 / (n + 1))
                        for n, doc in enumerate(ranked))
        return Answer(text=PASSAGES[ranked[0]] + " [1]", citations=(), sources=sources,
                      route="fixed", cost=QueryCost(total_usd=0.001, calls=1), cache="off",
                      timings={})


class CountingJudge:
    """Support = every content word of the statement is in the evidence; relevance = overlap."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def support(self, statement: str, evidence: Sequence[str]) -> SupportVerdict:
        self._count()
        have = set(content_terms(" ".join(evidence)))
        missing = tuple(t for t in content_terms(statement) if t not in have)
        return SupportVerdict(statement, "not_found" if missing else "supported",
                              0.0 if missing else 1.0, missing)

    def relevance(self, question: str, passage: str) -> float:
        self._count()
        terms = set(content_terms(question))
        return len(terms & set(content_terms(passage))) / max(len(terms), 1)


@pytest.fixture
def counting_judge() -> CountingJudge:
    """A fresh :class:`CountingJudge`."""
    return CountingJudge()
