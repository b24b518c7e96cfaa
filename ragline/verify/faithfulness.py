"""Faithfulness: how many of an answer's claims the retrieved contexts support.

The answer is split into atomic claims (:func:`ragline.verify.claims.claims`) and
each is judged against all the contexts together. ``score`` is supported claims
divided by claims; an answer that makes no claim scores 1.0 (it asserts nothing
the contexts could fail to back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragline.verify.claims import claims
from ragline.verify.types import Judge, SupportVerdict, support_each

__all__ = ["Faithfulness", "faithfulness"]


@dataclass(frozen=True, slots=True)
class Faithfulness:
    """The faithfulness of one answer: its score and each claim's verdict."""

    score: float
    verdicts: tuple[SupportVerdict, ...]

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The claims judged ``contradicted`` or ``not_found``, in answer order."""
        return tuple(v.statement for v in self.verdicts if not v.supported)

    @property
    def contradicted(self) -> tuple[str, ...]:
        """The claims the contexts contradict."""
        return tuple(v.statement for v in self.verdicts if v.verdict == "contradicted")


def faithfulness(answer: str, contexts: Sequence[str], *, judge: Judge) -> Faithfulness:
    """Judge every claim of ``answer`` against ``contexts`` with ``judge``."""
    verdicts = tuple(support_each(judge, claims(answer), contexts))
    if not verdicts:
        return Faithfulness(1.0, ())
    return Faithfulness(sum(v.supported for v in verdicts) / len(verdicts), verdicts)
