"""The default judge: MiniLM similarity plus lexical evidence, no LLM.

:meth:`OfflineJudge.support` decides one statement against evidence passages:

1. The evidence is split into sentences and two-sentence windows; the
   :data:`CANDIDATES` with the most of the statement's content words are embedded
   with the statement (one batch; embeddings cached per text) and the best cosine
   ``similarity`` is kept with its sentence.
2. ``coverage`` is the share of the statement's content words (stemmed) found
   anywhere in the evidence.
3. Key items of the statement must appear in the evidence: numbers (``1,500``,
   ``1.5 million`` and ``1500`` are one number; years and dates' days included),
   names (capitalised words and multiword names, month names too), and negations
   (in the best sentence). The names and numbers must also stand together in one
   sentence or window. What fails is listed in ``missing``.
4. ``score = SIMILARITY_WEIGHT * similarity + (1 - SIMILARITY_WEIGHT) * coverage``.
   The verdict is ``contradicted`` when the best sentence is close
   (``similarity >= CONTRADICTION_SIMILARITY``) and disagrees: the statement is negated
   and the sentence is not, or the statement's number is missing and the sentence
   holds a different one;
   ``supported`` when nothing is missing and ``score >= SUPPORT_THRESHOLD``;
   ``not_found`` otherwise.

:meth:`OfflineJudge.relevance` is ``RELEVANCE_WEIGHT * max(cosine, 0) + (1 -
RELEVANCE_WEIGHT) * overlap`` where ``overlap`` is the share of the question's
content words found in the passage.

The thresholds and how they were calibrated are in ``ragline/evals/calibration.md``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ragline.evals.types import SupportVerdict, Verdict
from ragline.protocols import Embedder, Vectors
from ragline.text import STOPWORDS, sentences, stem, words

__all__ = [
    "CANDIDATES",
    "CONTRADICTION_SIMILARITY",
    "RELEVANCE_WEIGHT",
    "SIMILARITY_WEIGHT",
    "SUMMARY_THRESHOLD",
    "SUPPORT_THRESHOLD",
    "OfflineJudge",
]

SUPPORT_THRESHOLD = 0.92
"""Least ``score`` for ``supported`` (calibration.md: best F1 on HaluEval items 0-249)."""
SIMILARITY_WEIGHT = 0.1
"""Weight of the best cosine in ``score``; the rest is content-word coverage (same source)."""
SUMMARY_THRESHOLD = 0.72
"""A multi-claim text (a summary) is hallucinated when a claim scores below this
(calibration.md: best balanced accuracy on FaithBench dev, itself the calibration half)."""
CONTRADICTION_SIMILARITY = 0.60
"""Least cosine of the best sentence for a disagreement with it to be a contradiction."""
CANDIDATES = 2
"""Evidence sentences or windows embedded per statement (the best by word overlap)."""
RELEVANCE_WEIGHT = 0.7
"""Weight of the cosine in :meth:`OfflineJudge.relevance`; the rest is word overlap."""
CACHE_SIZE = 4096
"""Embeddings kept per judge (least recently used dropped first)."""

_NUMBER = re.compile(r"(?<![\w.])[$£€]?(\d[\d,]*(?:\.\d+)?)\s*(%|percent|thousand|million|"
                     r"billion|trillion)?", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of|the|de|von|van|for|and)?\s*[A-Z][\w'-]*)*")
_NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor",
                        "without", "cannot", "n't"})


def _norm(word: str) -> str:
    """A lower-cased word without its possessive, lightly stemmed."""
    return stem(word.removesuffix("'s").rstrip("'"))


def _terms(text: str) -> set[str]:
    """Normalised content words of ``text``; numbers are left to the number check."""
    return {_norm(w) for w in words(text)
            if w not in STOPWORDS and len(w) > 1 and not w[0].isdigit() and w not in _SCALE}


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What the lexical checks need to know about a text."""

    terms: frozenset[str]
    numbers: frozenset[float]
    negated: bool

    @classmethod
    def of(cls, text: str) -> _Evidence:
        """The normalised words, numbers and negation of ``text``."""
        parts = {p for w in words(text) for p in (w, *w.split("-")) if p}  # "pan-Arabism"
        return cls(frozenset(map(_norm, parts)), frozenset(_numbers(text)),
                   any(w in _NEGATIONS for w in words(text.replace("n't", " n't"))))


def _numbers(text: str) -> list[float]:
    found = []
    for match in _NUMBER.finditer(text):
        digits = match.group(1).rstrip(".,").replace(",", "")
        try:
            value = float(digits)
        except ValueError:
            continue
        scale = (match.group(2) or "").lower()
        found.append(value * _SCALE.get(scale, 1.0))
    return found


def _names(text: str) -> list[str]:
    """Capitalised names in ``text``; leading stopwords (``The``, ``In``) are dropped."""
    found = []
    for match in _NAME.finditer(text):
        tokens = match.group(0).split()
        while tokens and tokens[0].lower() in STOPWORDS:
            tokens.pop(0)
        if tokens:
            found.append(" ".join(tokens))
    return found


class OfflineJudge:
    """A :class:`~ragline.evals.types.Judge` that needs no LLM (MiniLM + lexical checks)."""

    def __init__(self, embedder: Embedder | None = None, *,
                 support_threshold: float = SUPPORT_THRESHOLD,
                 similarity_weight: float = SIMILARITY_WEIGHT) -> None:
        if not 0.0 <= similarity_weight <= 1.0:
            raise ValueError(f"similarity_weight must be in [0, 1], but got {similarity_weight}")
        self._embedder = embedder
        self.support_threshold = support_threshold
        self.similarity_weight = similarity_weight
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Always ``offline``."""
        return "offline"

    @property
    def embedder(self) -> Embedder:
        """The embedder in use; the bundled MiniLM unless one was given."""
        if self._embedder is None:
            from ragline.models.embedder import SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder()
        return self._embedder

    def support(self, statement: str, evidence: Sequence[str], *,
                context: str = "") -> SupportVerdict:
        """Whether the passages in ``evidence`` together support ``statement``.

        ``context`` (say, the question a short answer replies to) is read before the
        statement for similarity, and lends its words when the statement has none
        (a bare "yes"); numbers, names and negations are required of the statement only.
        """
        units = _units(evidence)
        own = _terms(statement) - {"yes"}
        terms = own or _terms(context)
        if not units or not terms:
            reason = "no evidence" if not units else "no content words"
            return SupportVerdict(statement, "not_found", 0.0, reason=reason)
        unit_terms = {u: _terms(u) for u in units}
        candidates = sorted(units, key=lambda u: -len(terms & unit_terms[u]))[:CANDIDATES]
        vectors = self._embed([f"{context} {statement}".strip(), *candidates])
        cosines = vectors[1:] @ vectors[0]
        best = int(np.argmax(cosines))
        similarity = float(cosines[best])
        whole = _Evidence.of(" ".join(evidence))
        # A bare "yes" / "no" affirms or denies the context: it has no words, names or
        # negation of its own to look up, so only similarity judges it.
        checked = statement if own else ""
        coverage = len(own & whole.terms) / len(own) if own else 1.0
        score = self.similarity_weight * similarity + (1 - self.similarity_weight) * coverage
        score = min(max(score, 0.0), 1.0)
        claim, near = _Evidence.of(checked), _Evidence.of(candidates[best])
        missing = _missing(checked, claim, whole, near, [_Evidence.of(u) for u in units])
        if similarity >= CONTRADICTION_SIMILARITY and (conflict := _conflict(claim, near,
                                                                             whole)):
            return SupportVerdict(statement, "contradicted", score, missing, candidates[best],
                                  conflict)
        supported = not missing and score >= self.support_threshold
        verdict: Verdict = "supported" if supported else "not_found"
        reason = (f"similarity {similarity:.2f}, coverage {coverage:.2f}"
                  + (f"; missing {', '.join(missing)}" if missing else ""))
        return SupportVerdict(statement, verdict, score, missing, candidates[best], reason)

    def relevance(self, question: str, passage: str) -> float:
        """Usefulness of ``passage`` for ``question`` in [0, 1]: cosine and word overlap."""
        terms = _terms(question)
        overlap = len(terms & _terms(passage)) / len(terms) if terms else 0.0
        vectors = self._embed([question, passage])
        cosine = max(float(vectors[0] @ vectors[1]), 0.0)
        return min(RELEVANCE_WEIGHT * cosine + (1 - RELEVANCE_WEIGHT) * overlap, 1.0)

    def _embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in one batch, reusing cached vectors (safe across threads)."""
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            known.update(zip(todo, self.embedder.embed_documents(todo), strict=True))
        with self._lock:
            for text in texts:
                self._cache[text] = known[text]
                self._cache.move_to_end(text)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])


def _units(evidence: Sequence[str]) -> list[str]:
    """Sentences of each passage and windows of two neighbouring sentences."""
    units: list[str] = []
    for passage in evidence:
        spans = [passage[s:e] for s, e in sentences(passage)]
        units.extend(spans)
        units.extend(f"{a} {b}" for a, b in pairwise(spans))
    return list(dict.fromkeys(units))


def _missing(statement: str, claim: _Evidence, whole: _Evidence, near: _Evidence,
             units: list[_Evidence]) -> tuple[str, ...]:
    """Numbers, names and negations of the statement that the evidence lacks.

    Present items must also stand together in one sentence or window: a claim that
    joins two names the evidence only mentions apart is not backed by it.
    """
    missing = [_format(n) for n in sorted(claim.numbers - whole.numbers)]
    names = _names(statement)
    missing += [n for n in names if any(_norm(w) not in whole.terms for w in words(n))]
    if claim.negated and not near.negated and len(_terms(statement)) > 1:
        missing.append("negation")
    keys = [_terms(n) for n in names] + [{_format(n)} for n in claim.numbers]
    if not missing and len(keys) > 1 and not any(
            all(key <= unit.terms | {_format(n) for n in unit.numbers} for key in keys)
            for unit in units):
        missing.append("together: " + ", ".join([*names, *map(_format, claim.numbers)]))
    return tuple(dict.fromkeys(missing))


def _conflict(claim: _Evidence, near: _Evidence, whole: _Evidence) -> str:
    """Why the close sentence ``near`` contradicts the claim, or ``''``."""
    if claim.negated and not near.negated:
        return "negated, but the closest evidence sentence is not"
    if claim.numbers - whole.numbers and near.numbers - claim.numbers:
        return "a different number in the closest evidence sentence"
    return ""


def _format(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)
