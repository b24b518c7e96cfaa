"""ALCE citation recall and precision (Gao et al., 2023, "Enabling Large Language
Models to Generate Text with Citations").

An answer carries markers such as ``[1]`` or ``[2, 3]`` that index ``passages``
from 1. For each sentence of the answer:

- it is *citation-recalled* when the passages it cites, together, support it; a
  sentence without citations (or whose markers point at no passage) is not;
- each of its citations is *precise* when the sentence is recalled and either it
  is the only citation, or it supports the sentence alone, or the sentence's
  other citations do not support it without it (ALCE's two conditions: a citation
  is imprecise when (a) alone it does not support the sentence and (b) the others
  do). Every citation of a sentence that is not recalled is imprecise, and so is
  a marker that points at no passage.

Recall is recalled sentences over sentences; precision precise citations over
citations (0.0 when the answer cites nothing). Passages support a sentence that one of
them holds word for word (:func:`~ragline.verify.faithfulness.is_quote`) without asking
the judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragline.text import sentences
from ragline.verify.claims import markers, strip_markers
from ragline.verify.faithfulness import is_quote
from ragline.verify.types import Judge

__all__ = ["CitationQuality", "SentenceCitations", "citation_quality"]


@dataclass(frozen=True, slots=True)
class SentenceCitations:
    """One sentence, the passages it cites (1-based) and how each citation fared."""

    sentence: str
    cited: tuple[int, ...]
    recalled: bool
    precise: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class CitationQuality:
    """Citation recall and precision of one answer, with the per-sentence detail."""

    recall: float
    precision: float
    sentences: tuple[SentenceCitations, ...]


def citation_quality(answer: str, passages: Sequence[str], *,
                     judge: Judge) -> CitationQuality:
    """ALCE citation recall and precision of ``answer`` against ``passages``."""
    checked = tuple(_check(answer[s:e], passages, judge) for s, e in sentences(answer))
    checked = tuple(c for c in checked if c.sentence)
    if not checked:
        return CitationQuality(0.0, 0.0, ())
    recall = sum(c.recalled for c in checked) / len(checked)
    flags = [flag for c in checked for flag in c.precise]
    precision = sum(flags) / len(flags) if flags else 0.0
    return CitationQuality(recall, precision, checked)


def _check(raw: str, passages: Sequence[str], judge: Judge) -> SentenceCitations:
    sentence, cited = strip_markers(raw), markers(raw)
    valid = [n for n in cited if 1 <= n <= len(passages)]

    def supports(numbers: Sequence[int]) -> bool:
        cited_passages = [passages[n - 1] for n in numbers]
        return bool(numbers) and (is_quote(sentence, cited_passages)
                                  or judge.support(sentence, cited_passages).supported)

    recalled = supports(valid)
    precise = tuple(
        recalled and n in valid and (
            len(valid) == 1 or supports([n])
            or not supports([m for m in valid if m != n]))
        for n in cited)
    return SentenceCitations(sentence, cited, recalled, precise)
