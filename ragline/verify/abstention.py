"""Abstention: decide that the passages do not answer a question, and say so.

Two rules and one calibrated score, in this order:

1. No sentence of the passages holds any content word of the question: nothing
   there is about it.
2. A name or number of the question is in no passage ("Who founded Qdrant in
   1999?" over passages that never say 1999): the passages are about something
   else.
3. A logistic model over what retrieval and the answer show: the share of the
   question's IDF weight the best sentence holds, the share no passage holds, the
   question words the best sentence misses, and the answering model's own
   probability for its answer when it reports one. Above ``threshold`` the
   question is declined. The weights are fitted by ``benchmarks/answers.py
   --calibrate`` on one half of SQuAD 2.0 (the SQuAD-500 sample, split by
   paragraph), and the threshold is set there for at most 10 % of answerable
   questions declined; the benchmark reports the other half.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.models.sentence_rank import SentenceRanker
from ragline.text import STOPWORDS

ABSTAINED = "abstained"
"""The route of a declined answer starts with this: ``abstained (<reason>)``."""
ABSTAIN_TEXT = "I don't have enough information in the indexed documents to answer that."
_NAME_OR_NUMBER = re.compile(r"\b(?:\d[\d,.]*|[A-Z][a-z]+(?:[A-Z][a-z]+)*)\b")
_CLOSEST = 2
_SNIPPET_CHARS = 160

# Fitted by `python benchmarks/answers.py --calibrate` on the tune half of SQuAD-500
# (coverage, unknown share, missed share of the best sentence, log confidence). The
# confidence, no better than chance there, is left out (weight 0): the check then runs
# before generation. The threshold declines at most 10 % of the tune half's answerable
# questions; on the held-out half it declined 23 % of the unanswerable questions and
# 9 % of the answerable ones (5-fold AUC 0.58).
WEIGHTS = (-1.1979, -0.9607, 1.2252, 0.0)
BIAS = 0.3139
DEFAULT_THRESHOLD = 0.57


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the abstention check reads of one question, its passages and its answer."""

    coverage: float
    unknown_share: float
    missed_share: float
    log_confidence: float
    unknown_names: tuple[str, ...]
    any_overlap: bool

    def features(self) -> tuple[float, float, float, float]:
        """The calibrated model's inputs, in the order of ``WEIGHTS``."""
        return (self.coverage, self.unknown_share, self.missed_share, self.log_confidence)


def evidence(question: str, passages: Sequence[str],
             confidence: float | None = None) -> Evidence:
    """Read ``question`` against ``passages`` (and the answer's ``confidence``, the
    model's probability for it, when known)."""
    ranker = SentenceRanker(question, list(enumerate(passages, start=1)))
    best = ranker.ranked[0] if ranker.ranked else None
    wanted = ranker.wanted
    coverage = ranker.coverage(best) if best is not None else 0.0
    missed = len(wanted - best.terms) / len(wanted) if best is not None and wanted else 1.0
    joined = " ".join(passages).lower()
    names = tuple(dict.fromkeys(
        match[0] for match in _NAME_OR_NUMBER.finditer(question)
        if match.start() > 0 and match[0].lower() not in STOPWORDS
        and match[0].lower() not in joined))
    return Evidence(
        coverage=coverage, unknown_share=ranker.unknown_share(), missed_share=missed,
        log_confidence=math.log(max(confidence, 1e-6)) if confidence is not None else 0.0,
        unknown_names=names,
        any_overlap=best is not None and ranker.score(best) > 0)


class Abstainer:
    """Decides whether to decline a question; :meth:`reason` says why, or None to answer."""

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD,
                 weights: Sequence[float] = WEIGHTS, bias: float = BIAS) -> None:
        if len(weights) != len(WEIGHTS):
            raise ValueError(f"give {len(WEIGHTS)} weights, not {len(weights)}")
        self.threshold = threshold
        self.weights = tuple(weights)
        self.bias = bias

    @property
    def reads_confidence(self) -> bool:
        """Whether the score reads the model's confidence (then it runs after generation,
        and only the rules before)."""
        return self.weights[-1] != 0

    def probability(self, seen: Evidence) -> float:
        """The calibrated probability that the passages do not answer the question."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, seen.features(), strict=True))
        return 1 / (1 + math.exp(-z))

    def reason(self, question: str, passages: Sequence[str],
               confidence: float | None = None) -> str | None:
        """Why the question should be declined, or None when the passages may answer it."""
        seen = evidence(question, passages, confidence)
        ruled = _ruled(seen)
        if ruled is not None:
            return ruled
        p = self.probability(seen)
        if p > self.threshold:
            return (f"the passages likely do not answer it: p={p:.2f} > {self.threshold:.2f}; "
                    f"the best sentence holds {seen.coverage:.0%} of the question")
        return None


    def rule(self, question: str, passages: Sequence[str]) -> str | None:
        """Why the rules alone decline the question (no calibrated score), or None."""
        return _ruled(evidence(question, passages))


def _ruled(seen: Evidence) -> str | None:
    if not seen.any_overlap:
        return "no passage shares a word with the question"
    if seen.unknown_names:
        return f"no passage mentions {', '.join(map(repr, seen.unknown_names))}"
    return None


def _quoted(text: str) -> str:
    cut = text[:_SNIPPET_CHARS] + ("\u2026" if len(text) > _SNIPPET_CHARS else "")
    return f"\u201c{cut}\u201d"


def declined_text(passages: Sequence[str]) -> str:
    """The answer that declines: :data:`ABSTAIN_TEXT`, then the closest passages quoted
    (without citation markers: they support nothing)."""
    closest = [" ".join(p.split()) for p in passages[:_CLOSEST]]
    quoted = "; ".join(_quoted(c) for c in closest)
    return f"{ABSTAIN_TEXT} The closest passages say: {quoted}" if quoted else ABSTAIN_TEXT
