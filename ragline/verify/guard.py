"""The support check a pipeline runs on every answer: faithfulness and citations.

:func:`check_answer` judges each claim of an answer against the passages it was
given and each citation against the passage it points at, with any
:class:`~ragline.verify.types.Judge` (the offline one by default: no LLM, about
15 ms per short answer on two cores, see benchmarks/README.md), and returns an
:class:`~ragline.types.AnswerSupport` to attach to the ``Answer``.
:class:`AnswerCheck` turns that into a decision (may this answer stand?) that the
fallback and cascade wrappers of ``ragline.routing`` act on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.types import AnswerSupport, CitationSupport, ClaimSupport
from ragline.verify.citations import citation_quality
from ragline.verify.claims import markers
from ragline.verify.faithfulness import faithfulness
from ragline.verify.types import Judge


def check_answer(answer: str, passages: Sequence[str], *, judge: Judge) -> AnswerSupport:
    """Judge ``answer`` (with ``[n]`` markers into ``passages``) against ``passages``."""
    started = time.perf_counter()
    faith = faithfulness(answer, passages, judge=judge)
    cited = citation_quality(answer, passages, judge=judge)
    return AnswerSupport(
        faithfulness=faith.score,
        claims=tuple(ClaimSupport(v.statement, v.verdict, v.score, v.missing)
                     for v in faith.verdicts),
        citation_recall=cited.recall, citation_precision=cited.precision,
        citations=tuple(CitationSupport(s.sentence, s.cited, s.recalled, s.precise)
                        for s in cited.sentences),
        judge=judge.name, latency_ms=(time.perf_counter() - started) * 1000)


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """Whether an answer may stand as it is: ``passed``, the ``reason`` when it may not,
    and the support check behind the decision (None when it was not needed)."""

    passed: bool
    reason: str
    support: AnswerSupport | None = None

    @property
    def score(self) -> float:
        """The answer's quality in [0, 1] for a cascade: 0 without a valid citation, else
        the lower of its faithfulness and its citation recall."""
        if self.support is None:
            return 0.0
        return min(self.support.faithfulness, self.support.citation_recall)


class AnswerCheck:
    """The one answer check that decides fallback and escalation.

    An answer stands when it cites at least one of its passages (a marker
    ``[n]`` with ``1 <= n <= len(passages)``) and the judge finds at least
    ``min_support`` of its claims supported by the passages (:func:`check_answer`).
    """

    def __init__(self, judge: Judge, *, min_support: float = 0.5) -> None:
        self.judge = judge
        self.min_support = min_support

    def __call__(self, answer: str, passages: Sequence[str]) -> CheckedAnswer:
        """Decide whether ``answer`` may stand on ``passages``."""
        if not any(1 <= n <= len(passages) for n in markers(answer)):
            return CheckedAnswer(False, "no valid citation")
        support = check_answer(answer, passages, judge=self.judge)
        if support.faithfulness < self.min_support:
            return CheckedAnswer(
                False, f"{support.faithfulness:.0%} of its claims supported by the passages",
                support)
        return CheckedAnswer(True, "supported", support)
