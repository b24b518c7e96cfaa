"""Scorers a cascade uses to decide whether a cheap answer is good enough.

Each returns a :class:`Score` in [0, 1] (higher is better) with a reason:

- :class:`AnswerCheckScorer`: for RAG answers, the answer check's faithfulness
  and citation recall (the lower of the two; 0 without a valid citation).
- :class:`SelfConsistencyScorer`: asks the same model ``samples`` more times at a
  higher temperature and scores how well the answers agree (token F1 of their
  final answers); a model that knows the answer tends to repeat it.
- :class:`ArithmeticScorer`: for reasoning answers, recomputes every
  ``a op b = c`` in the answer (:func:`~ragline.routing.arithmetic.check_arithmetic`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from ragline.models.chat import ChatModel
from ragline.routing.arithmetic import check_arithmetic
from ragline.text import words
from ragline.types import ChatRequest, ChatResponse
from ragline.verify.guard import AnswerCheck


@dataclass(frozen=True, slots=True)
class Score:
    """How good an answer looks, in [0, 1], and why."""

    value: float
    reason: str


@runtime_checkable
class AnswerScorer(Protocol):
    """Scores ``response``, the answer ``model`` gave to ``request``."""

    name: str

    def score(self, request: ChatRequest, response: ChatResponse, model: ChatModel) -> Score:
        """The answer's score; it may call ``model`` again (self-consistency)."""
        ...


class AnswerCheckScorer:
    """The answer check's score of a RAG answer: min(faithfulness, citation recall)."""

    name = "answer_check"

    def __init__(self, check: AnswerCheck) -> None:
        self.check = check

    def score(self, request: ChatRequest, response: ChatResponse, model: ChatModel) -> Score:
        """0 without a valid citation; 1 for a request without passages (nothing to check)."""
        if not request.passages:
            return Score(1.0, "no passages to check against")
        verdict = self.check(response.text, request.passages)
        return Score(verdict.score, verdict.reason)


class ArithmeticScorer:
    """The share of the answer's arithmetic that recomputes correctly (1.0 when it has none)."""

    name = "arithmetic"

    def score(self, request: ChatRequest, response: ChatResponse, model: ChatModel) -> Score:
        """Recompute the expressions of ``response.text``."""
        checked = check_arithmetic(response.text)
        if not checked.wrong:
            return Score(checked.score, f"{checked.expressions} expression(s) check out")
        return Score(checked.score, "wrong: " + "; ".join(checked.wrong[:3]))


def _final(text: str) -> list[str]:
    """The words of an answer's last sentence: where its final answer usually is."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return [w.lower() for w in words(lines[-1])] if lines else []


def _f1(a: list[str], b: list[str]) -> float:
    common = sum((Counter(a) & Counter(b)).values())
    if not a or not b or common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


class SelfConsistencyScorer:
    """Agreement of ``samples`` re-sampled answers with the first (token F1 of final lines)."""

    name = "self_consistency"

    def __init__(self, *, samples: int = 2, temperature: float = 0.7) -> None:
        self.samples = samples
        self.temperature = temperature

    def score(self, request: ChatRequest, response: ChatResponse, model: ChatModel) -> Score:
        """Mean agreement of the extra samples with ``response``; each sample is a metered
        call of ``model``."""
        again = replace(request, temperature=self.temperature)
        first = _final(response.text)
        agreement = [_f1(first, _final(model.generate(again).text))
                     for _ in range(self.samples)]
        value = sum(agreement) / len(agreement) if agreement else 1.0
        return Score(value, f"{len(agreement)} resample(s) agree {value:.0%}")
