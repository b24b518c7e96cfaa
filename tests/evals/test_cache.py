"""The judge cache: a batch asks the cache per statement, the inner judge once for the misses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ragline.evals.cache import CachedJudge
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.faithfulness import faithfulness
from ragline.verify.offline_judge import OfflineJudge
from ragline.verify.types import SupportVerdict, support_each

EVIDENCE = ["The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
            "Qdrant is a vector database written in Rust."]
STATEMENTS = ["The Eiffel Tower was completed in 1889.", "Qdrant is written in Go.",
              "Qdrant is written in Rust.", "The tower stands in Paris."]


class CountingOfflineJudge(OfflineJudge):
    """The real offline judge, recording each batch and each single call it is asked."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        super().__init__(embedder)
        self.batches: list[list[str]] = []
        self.singles = 0

    def support(self, statement: str, evidence: Sequence[str], *,
                context: str = "") -> SupportVerdict:
        self.singles += 1
        return super().support(statement, evidence, context=context)

    def support_many(self, statements: Sequence[str], evidence: Sequence[str], *,
                     context: str = "") -> list[SupportVerdict]:
        self.batches.append(list(statements))
        return super().support_many(statements, evidence, context=context)


def same(got: Sequence[SupportVerdict], wanted: Sequence[SupportVerdict]) -> bool:
    """Equal verdicts, scores equal up to floating-point noise."""
    return ([replace(v, score=0.0) for v in got] == [replace(v, score=0.0) for v in wanted]
            and [v.score for v in got] == pytest.approx([v.score for v in wanted], abs=1e-6))


def test_a_batch_sends_only_the_misses_to_the_inner_judge_in_one_batch(
        tmp_path: Path, judge_embedder: SentenceTransformerEmbedder) -> None:
    inner = CountingOfflineJudge(judge_embedder)
    cached = CachedJudge(inner, tmp_path / "cache.sqlite")
    expected = OfflineJudge(judge_embedder).support_many(STATEMENTS, EVIDENCE)

    first = cached.support(STATEMENTS[1], EVIDENCE)  # one statement cached beforehand
    inner.batches.clear()
    verdicts = support_each(cached, STATEMENTS, EVIDENCE)  # batched, as every metric asks

    # a batch of 3 embeds with other padding than the batch of 4: scores agree to ~1e-8
    assert same(verdicts, expected) and same([first], expected[1:2])
    assert inner.batches == [[STATEMENTS[0], STATEMENTS[2], STATEMENTS[3]]]
    assert (cached.hits, cached.misses) == (1, 4)  # the single call's miss, then 3 misses
    cached.close()


def test_a_repeated_batch_makes_no_judge_call_and_duplicates_are_asked_once(
        tmp_path: Path, judge_embedder: SentenceTransformerEmbedder) -> None:
    inner = CountingOfflineJudge(judge_embedder)
    cached = CachedJudge(inner, tmp_path / "cache.sqlite")
    twice = [STATEMENTS[0], STATEMENTS[1], STATEMENTS[0]]
    first = cached.support_many(twice, EVIDENCE)
    assert inner.batches == [[STATEMENTS[0], STATEMENTS[1]]]
    assert first[0] == first[2]
    cached.close()

    inner.batches.clear()
    reopened = CachedJudge(inner, tmp_path / "cache.sqlite")  # answers outlive the process
    assert reopened.support_many(twice, EVIDENCE) == first
    assert reopened.support(STATEMENTS[1], EVIDENCE) == first[1]
    assert inner.batches == [] and inner.singles == 0
    reopened.close()


def test_faithfulness_through_the_cache_batches_the_claims(
        tmp_path: Path, judge_embedder: SentenceTransformerEmbedder) -> None:
    inner = CountingOfflineJudge(judge_embedder)
    cached = CachedJudge(inner, tmp_path / "cache.sqlite")
    answer = "The Eiffel Tower was completed in 1889. Qdrant is written in Rust."
    result = faithfulness(answer, EVIDENCE, judge=cached)
    assert len(inner.batches) == 1 and inner.singles == 0
    assert result == faithfulness(answer, EVIDENCE, judge=OfflineJudge(judge_embedder))
    assert result.score == 1.0
    cached.close()
