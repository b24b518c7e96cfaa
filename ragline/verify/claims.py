"""Split an answer into atomic claims, and read its citation markers.

A claim is one sentence of the answer, split further at a clause conjunction
(``;``, ``, and``, ``, but``, ``, while``, ``, whereas``, ``, although``, ``, yet``)
when both sides are claims of their own: at least :data:`MIN_CLAIM_WORDS` words
and two content words each. Citation markers such as ``[1]`` or ``[2, 3]`` are
stripped from the claims; :func:`markers` reads them.
"""

from __future__ import annotations

import re

from ragline.text import content_terms, sentences, words
from ragline.types import CITATION_MARKER

__all__ = ["MARKER", "MIN_CLAIM_WORDS", "claims", "markers", "strip_markers"]

MARKER = re.compile(r"\s*" + CITATION_MARKER)
"""A citation marker and the space before it (:data:`ragline.types.CITATION_MARKER`)."""

MIN_CLAIM_WORDS = 3
"""Fewest words on each side of a conjunction for the sentence to be split there."""

_CONJUNCTION = re.compile(r"\s*;\s*|,\s+(?:and|but|while|whereas|although|yet)\s+")


def strip_markers(text: str) -> str:
    """``text`` without its citation markers."""
    return MARKER.sub("", text).strip()


def markers(text: str) -> tuple[int, ...]:
    """The passage numbers cited in ``text``, in order, without repeats."""
    numbers: dict[int, None] = {}
    for group in MARKER.findall(text):
        for number in group.split(","):
            numbers[int(number)] = None
    return tuple(numbers)


def claims(answer: str) -> list[str]:
    """The atomic claims of ``answer``: its sentences, split at clause conjunctions."""
    found: list[str] = []
    for start, end in sentences(answer):
        sentence = strip_markers(answer[start:end])
        if sentence:
            found.extend(_split_clauses(sentence))
    return found


def _split_clauses(sentence: str) -> list[str]:
    """Split at each conjunction whose two sides are both claims; keep it whole otherwise."""
    parts: list[str] = []
    rest = sentence
    for match in _CONJUNCTION.finditer(sentence):
        left_start = len(sentence) - len(rest)
        left, right = sentence[left_start:match.start()], sentence[match.end():]
        if _is_claim(left) and _is_claim(right):
            parts.append(_as_sentence(left))
            rest = right
    parts.append(_as_sentence(rest))
    return parts


def _is_claim(text: str) -> bool:
    return len(words(text)) >= MIN_CLAIM_WORDS and len(content_terms(text)) >= 2


def _as_sentence(text: str) -> str:
    text = text.strip().rstrip(",;")
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
