"""The default judge: MiniLM similarity plus lexical evidence, no LLM.

It embeds with its own copy of the bundled MiniLM (:func:`default_judge_embedder`): the
int8 one its thresholds were calibrated with where the CPU has int8 dot-product
instructions, the float one (cosine about 0.997 to it) elsewhere.

:meth:`OfflineJudge.support` decides one statement against evidence passages:

1. The evidence is split into sentences and two-sentence windows (only where the
   second sentence opens with a pronoun: "He", "Its", "They"...); the
   :data:`CANDIDATES` with the most of the statement's content words are embedded
   with the statement (one batch; embeddings cached per text) and the best cosine
   ``similarity`` is kept with its sentence.
2. ``coverage`` is the share of the statement's content words (stemmed) found
   anywhere in the evidence.
3. Key items of the statement must appear in the evidence: numbers (``1,500``,
   ``1.5 million`` and ``1500`` are one number; years and dates' days included),
   names (capitalised words and multiword names, month names too), and negations
   (in the best sentence). The names and numbers must also stand together in one
   sentence or pronoun window. What fails is listed in ``missing``.
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

:meth:`OfflineJudge.new_terms` lists the content words of a text that its evidence
lacks; :meth:`OfflineJudge.summary_hallucinated` flags a summary holding at least
:data:`SUMMARY_NEW_TERMS` of them (the FaithBench-style check of a whole summary).

The thresholds and how they were calibrated are in ``ragline/verify/calibration.md``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Generic, TypeVar

import numpy as np

from ragline.protocols import Embedder, Vectors
from ragline.text import STOPWORDS, sentences, stem, words
from ragline.verify.types import SupportVerdict, Verdict

__all__ = [
    "CANDIDATES",
    "CONTRADICTION_SIMILARITY",
    "RELEVANCE_WEIGHT",
    "SIMILARITY_WEIGHT",
    "SUMMARY_NEW_TERMS",
    "SUPPORT_THRESHOLD",
    "VERSION",
    "OfflineJudge",
    "default_judge_embedder",
]

SUPPORT_THRESHOLD = 0.92
"""Least ``score`` for ``supported`` (calibration.md: best F1 on HaluEval items 0-249)."""
SIMILARITY_WEIGHT = 0.1
"""Weight of the best cosine in ``score``; the rest is content-word coverage (same source)."""
SUMMARY_NEW_TERMS = 7
"""A summary is hallucinated when at least this many of its content words are absent from
its source (calibration.md: chosen and fitted by 5-fold cross-validation on FaithBench dev,
grouped by source passage)."""
CONTRADICTION_SIMILARITY = 0.60
"""Least cosine of the best sentence for a disagreement with it to be a contradiction."""
CANDIDATES = 2
"""Evidence sentences or windows embedded per statement (the best by word overlap)."""
RELEVANCE_WEIGHT = 0.7
"""Weight of the cosine in :meth:`OfflineJudge.relevance`; the rest is word overlap."""
CACHE_SIZE = 4096
"""Embeddings kept per judge (least recently used dropped first)."""
PASSAGE_CACHE_SIZE = 1024
"""Passage analyses kept per judge (least recently used dropped first)."""
VERSION = "2"
"""Bumped whenever a verdict could change, so cached verdicts of older code are not reused."""

_V = TypeVar("_V")
_NUMBER = re.compile(r"(?<![\w.])[$£€]?(\d[\d,]*(?:\.\d+)?)\s*(%|percent|thousand|million|"
                     r"billion|trillion)?", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of|the|de|von|van|for|and)?\s*[A-Z][\w'-]*)*")
_REFERRING = frozenset({"he", "she", "it", "they", "his", "her", "its", "their"})
_NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor",
                        "without", "cannot", "n't"})


@lru_cache(maxsize=1 << 16)
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

    @classmethod
    def union(cls, parts: Sequence[_Evidence]) -> _Evidence:
        """What the texts of ``parts`` say together (as if joined by spaces)."""
        return cls(frozenset().union(*(p.terms for p in parts)),
                   frozenset().union(*(p.numbers for p in parts)),
                   any(p.negated for p in parts))


def _refers_back(sentence: str) -> bool:
    """Whether ``sentence`` opens with a pronoun pointing at the one before ("He", "Its")."""
    opening = words(sentence)[:1]
    return bool(opening) and opening[0] in _REFERRING


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


@dataclass(frozen=True, slots=True)
class _Passage:
    """One evidence passage read once: its units and what the checks need of each."""

    units: tuple[str, ...]
    unit_terms: tuple[frozenset[str], ...]
    unit_evidence: tuple[_Evidence, ...]
    whole: _Evidence

    @classmethod
    def of(cls, passage: str) -> _Passage:
        """Its sentences, and windows of two neighbouring sentences where the second
        opens with a pronoun (:func:`_refers_back`), each analysed.

        Each sentence is read once. A window is embedded whole, but its words are
        both sentences' except the first sentence's names other than its first one
        (the name the pronoun stands for): "Marie Curie was born in 1867. She won
        the prize in 1911." backs "Marie Curie, born in 1867, won the prize in
        1911", while "Boston College is near Chestnut Hill. Its rival..." does not
        tie "Chestnut Hill" to what follows.
        """
        spans = [passage[s:e] for s, e in sentences(passage)]
        read = {s: (frozenset(_terms(s)), _Evidence.of(s)) for s in spans}
        units = dict(read)
        for a, b in pairwise(spans):
            names = _names(a)
            if names and _refers_back(b):
                # the pronoun stands for the first name: a's other names stay out
                others = frozenset().union(*(_Evidence.of(n).terms for n in names[1:]))
                others -= _Evidence.of(names[0]).terms
                first = read[a][1]
                kept = _Evidence(first.terms - others, first.numbers, first.negated)
                units.setdefault(f"{a} {b}", (read[b][0] | (read[a][0] - others),
                                              _Evidence.union([read[b][1], kept])))
        return cls(tuple(units), tuple(t for t, _ in units.values()),
                   tuple(e for _, e in units.values()),
                   _Evidence.union([e for _, e in read.values()]))


class _LruCache(Generic[_V]):
    """At most ``size`` values by text, the least recently used dropped first; thread-safe."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[str, _V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> _V | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: _V) -> None:
        """Keep ``value`` for ``key`` as the most recently used, dropping the oldest past size."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The lexical half of one support decision, before any embedding."""

    statement: str
    query: str
    own: frozenset[str]
    candidates: tuple[int, ...]


class OfflineJudge:
    """A :class:`~ragline.verify.types.Judge` that needs no LLM (MiniLM + lexical checks).

    Passage analyses and embeddings are cached (least recently used dropped first),
    so the passages an answer cites are read once however many claims point at them.
    Safe to share between threads.
    """

    def __init__(self, embedder: Embedder | None = None, *,
                 support_threshold: float = SUPPORT_THRESHOLD,
                 similarity_weight: float = SIMILARITY_WEIGHT) -> None:
        if not 0.0 <= similarity_weight <= 1.0:
            raise ValueError(f"similarity_weight must be in [0, 1], but got {similarity_weight}")
        self._embedder = embedder
        self.support_threshold = support_threshold
        self.similarity_weight = similarity_weight
        self._vectors: _LruCache[Vectors] = _LruCache(CACHE_SIZE)
        self._passages: _LruCache[_Passage] = _LruCache(PASSAGE_CACHE_SIZE)

    @property
    def name(self) -> str:
        """Always ``offline``."""
        return "offline"

    @property
    def fingerprint(self) -> str:
        """What a cached verdict depends on: version, thresholds and embedding model
        (looked up through a metering wrapper's ``inner``)."""
        embedder = getattr(self.embedder, "inner", self.embedder)
        model = getattr(embedder, "model_name", type(embedder).__name__)
        return (f"offline/{VERSION}/{self.support_threshold}/{self.similarity_weight}/"
                f"{model}/int8={getattr(embedder, 'int8', False)}")

    @property
    def embedder(self) -> Embedder:
        """The embedder in use; the bundled MiniLM (int8) unless one was given."""
        if self._embedder is None:
            self._embedder = default_judge_embedder()
        return self._embedder

    def support(self, statement: str, evidence: Sequence[str], *,
                context: str = "") -> SupportVerdict:
        """Whether the passages in ``evidence`` together support ``statement``.

        ``context`` (say, the question a short answer replies to) is read before the
        statement for similarity, and lends its words when the statement has none
        (a bare "yes"); numbers, names and negations are required of the statement only.
        """
        return self.support_many([statement], evidence, context=context)[0]

    def support_many(self, statements: Sequence[str], evidence: Sequence[str], *,
                     context: str = "") -> list[SupportVerdict]:
        """:meth:`support` for each of ``statements`` against the same ``evidence``.

        The same verdicts as one call each, with every text embedded in one batch.
        """
        passages = [self._passage(p) for p in evidence]
        seen: dict[str, tuple[frozenset[str], _Evidence]] = {}
        for passage in passages:
            for unit, terms, read in zip(passage.units, passage.unit_terms,
                                         passage.unit_evidence, strict=True):
                seen.setdefault(unit, (terms, read))
        units = list(seen)
        unit_terms = [terms for terms, _ in seen.values()]
        unit_evidence = [read for _, read in seen.values()]
        whole = _Evidence.union([p.whole for p in passages])
        plans = [_plan(s, context, unit_terms) for s in statements]
        texts = [t for plan in plans if plan.candidates
                 for t in (plan.query, *(units[i] for i in plan.candidates))]
        vectors = dict(zip(texts, self._embed(texts), strict=True)) if texts else {}
        verdicts = []
        for plan in plans:
            if not plan.candidates:
                reason = "no evidence" if not units else "no content words"
                verdicts.append(SupportVerdict(plan.statement, "not_found", 0.0, reason=reason))
                continue
            cosines = [float(vectors[units[i]] @ vectors[plan.query]) for i in plan.candidates]
            best = int(np.argmax(cosines))
            verdicts.append(self._decide(plan, cosines[best], units[plan.candidates[best]],
                                         unit_evidence[plan.candidates[best]], whole,
                                         unit_evidence))
        return verdicts

    def _decide(self, plan: _Plan, similarity: float, sentence: str, near: _Evidence,
                whole: _Evidence, units: list[_Evidence]) -> SupportVerdict:
        """The verdict once the best sentence and its cosine are known."""
        own = plan.own
        # A bare "yes" / "no" affirms or denies the context: it has no words, names or
        # negation of its own to look up, so only similarity judges it.
        checked = plan.statement if own else ""
        coverage = len(own & whole.terms) / len(own) if own else 1.0
        score = self.similarity_weight * similarity + (1 - self.similarity_weight) * coverage
        score = min(max(score, 0.0), 1.0)
        claim = _Evidence.of(checked)
        missing = _missing(checked, claim, whole, near, units)
        if similarity >= CONTRADICTION_SIMILARITY and (conflict := _conflict(claim, near,
                                                                             whole)):
            return SupportVerdict(plan.statement, "contradicted", score, missing, sentence,
                                  conflict)
        supported = not missing and score >= self.support_threshold
        verdict: Verdict = "supported" if supported else "not_found"
        reason = (f"similarity {similarity:.2f}, coverage {coverage:.2f}"
                  + (f"; missing {', '.join(missing)}" if missing else ""))
        return SupportVerdict(plan.statement, verdict, score, missing, sentence, reason)

    def relevance(self, question: str, passage: str) -> float:
        """Usefulness of ``passage`` for ``question`` in [0, 1]: cosine and word overlap."""
        terms = _terms(question)
        overlap = len(terms & _terms(passage)) / len(terms) if terms else 0.0
        vectors = self._embed([question, passage])
        cosine = max(float(vectors[0] @ vectors[1]), 0.0)
        return min(RELEVANCE_WEIGHT * cosine + (1 - RELEVANCE_WEIGHT) * overlap, 1.0)

    def new_terms(self, text: str, evidence: Sequence[str]) -> frozenset[str]:
        """The normalised content words of ``text`` that no passage of ``evidence`` holds
        (numbers are left out: the claim checks look after them)."""
        held = frozenset().union(*(self._passage(p).whole.terms for p in evidence))
        return frozenset(_terms(text)) - held

    def summary_hallucinated(self, summary: str, sources: Sequence[str], *,
                             limit: int = SUMMARY_NEW_TERMS) -> bool:
        """Whether ``summary`` adds at least ``limit`` content words its ``sources`` lack.

        No embedding is needed: on FaithBench this count generalised across source
        passages better than any aggregate of the claims' verdicts (calibration.md).
        """
        return len(self.new_terms(summary, sources)) >= limit

    def _passage(self, passage: str) -> _Passage:
        """The cached analysis of ``passage``."""
        found = self._passages.get(passage)
        if found is None:
            found = _Passage.of(passage)
            self._passages.put(passage, found)
        return found

    def _embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in one batch, reusing cached vectors (safe across threads)."""
        known = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            known.update(zip(todo, self.embedder.embed_documents(todo), strict=True))
        for text in texts:
            self._vectors.put(text, known[text])
        return np.stack([known[t] for t in texts])


def default_judge_embedder() -> Embedder:
    """Bundled MiniLM: in int8, as the thresholds were calibrated, where the CPU multiplies
    int8 in hardware (:func:`~ragline.models.embedder.int8_is_fast`); in float elsewhere,
    where int8 runs about 25 times slower and the float vectors are within a cosine of
    about 0.997."""
    from ragline.models.embedder import BUNDLED_MINILM, SentenceTransformerEmbedder, int8_is_fast

    return SentenceTransformerEmbedder(BUNDLED_MINILM, int8=int8_is_fast())


def _plan(statement: str, context: str, unit_terms: Sequence[frozenset[str]]) -> _Plan:
    """The statement's own words and its :data:`CANDIDATES` by word overlap.

    No candidates when there is no evidence or no content word to look for.
    """
    own = frozenset(_terms(statement) - {"yes"})
    terms = own or _terms(context)
    query = f"{context} {statement}".strip()
    if not terms:
        return _Plan(statement, query, own, ())
    order = sorted(range(len(unit_terms)), key=lambda i: -len(terms & unit_terms[i]))
    return _Plan(statement, query, own, tuple(order[:CANDIDATES]))


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
