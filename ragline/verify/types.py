"""The judge protocol and verdict type that every answer check speaks.

A :class:`Judge` decides whether evidence supports a statement; faithfulness,
citation checks (here) and the eval harness's context and relevancy metrics are
all built on its two questions, so an offline judge and an LLM judge are
interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Verdict = Literal["supported", "contradicted", "not_found"]


@dataclass(frozen=True, slots=True)
class SupportVerdict:
    """How well ``evidence`` backs one statement.

    ``score`` is the judge's support in [0, 1]; ``verdict`` its decision;
    ``missing`` lists what the evidence lacks (numbers, names, negations...),
    ``evidence`` quotes the best-matching evidence sentence, ``reason`` says why.
    """

    statement: str
    verdict: Verdict
    score: float
    missing: tuple[str, ...] = ()
    evidence: str = ""
    reason: str = ""

    @property
    def supported(self) -> bool:
        """True when the verdict is ``supported``."""
        return self.verdict == "supported"


@runtime_checkable
class Judge(Protocol):
    """Decides support and relevance; every metric that needs judgement asks one of these."""

    @property
    def name(self) -> str:
        """``offline`` or ``llm:<provider:model>``, recorded in every run."""
        ...

    def support(self, statement: str, evidence: Sequence[str]) -> SupportVerdict:
        """Whether the passages in ``evidence``, taken together, support ``statement``."""
        ...

    def relevance(self, question: str, passage: str) -> float:
        """How useful ``passage`` is for answering ``question``, in [0, 1]."""
        ...


@runtime_checkable
class BatchJudge(Judge, Protocol):
    """A judge that can decide several statements against the same evidence at once."""

    def support_many(self, statements: Sequence[str],
                     evidence: Sequence[str]) -> list[SupportVerdict]:
        """:meth:`Judge.support` for each statement, in order, in one batch."""
        ...


def support_each(judge: Judge, statements: Sequence[str],
                 evidence: Sequence[str]) -> list[SupportVerdict]:
    """Each statement judged against ``evidence``, batched when ``judge`` can (a
    :class:`BatchJudge`)."""
    if isinstance(judge, BatchJudge):
        return judge.support_many(statements, evidence)
    return [judge.support(statement, evidence) for statement in statements]
