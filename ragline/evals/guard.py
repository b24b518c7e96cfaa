"""The support check a pipeline runs on every answer: faithfulness and citations.

:func:`check_answer` judges each claim of an answer against the passages it was
given and each citation against the passage it points at, with any
:class:`~ragline.evals.types.Judge` (the offline one by default: no LLM, about
15 ms per short answer on two cores, see benchmarks/README.md), and returns an
:class:`~ragline.types.AnswerSupport` to attach to the ``Answer``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ragline.evals.citations import citation_quality
from ragline.evals.faithfulness import faithfulness
from ragline.evals.types import Judge
from ragline.types import AnswerSupport, CitationSupport, ClaimSupport


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
