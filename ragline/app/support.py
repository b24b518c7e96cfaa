"""A cheap support check: is each sentence of the answer found in the passages it cites?

It runs on every answer, so it is lexical and fast. The answer is split into
sentences; a sentence's content words (stopwords dropped, light stemming,
markers removed) are looked up in the passages that sentence cites — a
sentence with no marker cites nothing, so none of its words are supported.
Support is the share of all content words found. Step 4's offline judge
replaces this check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.text import content_terms, sentences
from ragline.types import ScoredChunk

_MARKERS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True, slots=True)
class SupportVerdict:
    """Whether an answer is usable as it stands, with the reason when it is not."""

    supported: bool
    support: float
    reason: str


def check_support(text: str, passages: Sequence[ScoredChunk], *,
                  min_support: float) -> SupportVerdict:
    """Judge an answer whose markers were already resolved against ``passages``.

    It needs at least one citation and ``min_support`` of its content words in
    the passages cited by the sentence they appear in.
    """
    if not _MARKERS.search(text):
        return SupportVerdict(False, 0.0, "no valid citation")
    passage_terms = [set(content_terms(p.chunk.text)) for p in passages]
    found = total = 0
    for start, end in sentences(text):
        sentence = text[start:end]
        cited: set[str] = set()
        for group in _MARKERS.findall(sentence):
            for number in (int(n) for n in group.split(",")):
                if 1 <= number <= len(passages):
                    cited |= passage_terms[number - 1]
        terms = content_terms(_MARKERS.sub(" ", sentence))
        total += len(terms)
        found += sum(1 for t in terms if t in cited)
    if total == 0:
        return SupportVerdict(False, 0.0, "no content words")
    support = found / total
    if support < min_support:
        return SupportVerdict(False, support,
                              f"{support:.0%} of its content words in the passages it cites")
    return SupportVerdict(True, support, "supported")
