"""Rank the sentences of numbered passages by how much of a question they hold.

Every quotable sentence of the passages is scored by the IDF-weighted question
terms it contains (IDF over those sentences), lightly favouring higher-ranked
passages. The extractive provider quotes the best of them; the local model's
copy-constrained answers copy from them; the abstention check reads how much of
the question the best one covers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.text import content_terms, sentences

MIN_WORDS = 4
"""A sentence shorter than this is a label or a fragment, never quoted."""
RANK_DECAY = 0.1
"""Passage ``[n]`` divides a sentence's score by ``1 + RANK_DECAY * (n - 1)``."""


@dataclass(frozen=True, slots=True)
class Sentence:
    """One quotable sentence: the ``marker`` of its passage, its text and content terms."""

    marker: int
    text: str
    terms: frozenset[str]


def quotable(sentence: str) -> bool:
    """A real sentence: at least a few words, not a Markdown heading or table row."""
    return len(sentence.split()) >= MIN_WORDS and not sentence.startswith(("#", "|"))


class SentenceRanker:
    """The sentences of ``passages`` (``(marker, text)`` pairs) ranked for ``question``.

    ``ranked`` is best first (ties keep passage order); ``score`` gives any
    sentence's score, leaving out the question terms already ``covered``;
    ``coverage`` is the share of the question's IDF weight a sentence holds;
    ``unknown`` lists the question terms that no sentence holds.
    """

    def __init__(self, question: str, passages: Sequence[tuple[int, str]]) -> None:
        self.sentences = [
            Sentence(marker, text[start:end], frozenset(content_terms(text[start:end])))
            for marker, text in passages for start, end in sentences(text)
            if quotable(text[start:end])
        ]
        self.wanted = frozenset(content_terms(question))
        frequency = Counter(t for s in self.sentences for t in s.terms)
        total = len(self.sentences)
        # a question term no sentence holds weighs as if half a sentence held it
        self.idf = {t: math.log(1 + total / frequency.get(t, 0.5)) for t in
                    set(frequency) | self.wanted}
        self.ranked = sorted(self.sentences, key=lambda s: -self.score(s))

    def score(self, sentence: Sentence, covered: frozenset[str] = frozenset()) -> float:
        """IDF weight of the question terms ``sentence`` holds beyond ``covered``,
        divided by its passage's rank decay."""
        gain = sum(self.idf[t] for t in (sentence.terms & self.wanted) - covered)
        return gain / (1 + RANK_DECAY * (sentence.marker - 1))

    def coverage(self, sentence: Sentence) -> float:
        """Share in [0, 1] of the question's IDF weight that ``sentence`` holds."""
        total = sum(self.idf[t] for t in self.wanted)
        return sum(self.idf[t] for t in sentence.terms & self.wanted) / total if total else 0.0

    def unknown(self) -> frozenset[str]:
        """The question's content terms that no sentence of the passages holds."""
        held = frozenset().union(*(s.terms for s in self.sentences))
        return self.wanted - held

    def unknown_share(self) -> float:
        """Share in [0, 1] of the question's IDF weight that no sentence holds."""
        total = sum(self.idf[t] for t in self.wanted)
        return sum(self.idf[t] for t in self.unknown()) / total if total else 0.0
