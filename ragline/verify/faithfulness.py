"""Faithfulness: how many of an answer's claims the retrieved contexts support.

The answer is split into atomic claims (:func:`ragline.verify.claims.claims`) and
each is judged against all the contexts together. ``score`` is supported claims
divided by claims; an answer that makes no claim scores 1.0 (it asserts nothing
the contexts could fail to back). A claim quoted word for word from a context (case
and spacing aside, and more than a yes or a no) is supported without asking the
judge: a quote cannot say what its source does not, however short it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.text import STOPWORDS, words
from ragline.verify.claims import claims
from ragline.verify.types import Judge, SupportVerdict, support_each

__all__ = ["Faithfulness", "faithfulness", "is_quote"]


@dataclass(frozen=True, slots=True)
class Faithfulness:
    """The faithfulness of one answer: its score and each claim's verdict."""

    score: float
    verdicts: tuple[SupportVerdict, ...]

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The claims judged ``contradicted`` or ``not_found``, in answer order."""
        return tuple(v.statement for v in self.verdicts if not v.supported)

    @property
    def contradicted(self) -> tuple[str, ...]:
        """The claims the contexts contradict."""
        return tuple(v.statement for v in self.verdicts if v.verdict == "contradicted")


def faithfulness(answer: str, contexts: Sequence[str], *, judge: Judge) -> Faithfulness:
    """Judge every claim of ``answer`` against ``contexts`` with ``judge`` (a verbatim
    quote of a context is supported without it)."""
    statements = claims(answer)
    quoted = [is_quote(s, contexts) for s in statements]
    judged = iter(support_each(judge, [s for s, q in zip(statements, quoted, strict=True)
                                       if not q], contexts))
    verdicts = tuple(
        SupportVerdict(s, "supported", 1.0, reason="quoted verbatim from the passages")
        if q else next(judged) for s, q in zip(statements, quoted, strict=True))
    if not verdicts:
        return Faithfulness(1.0, ())
    return Faithfulness(sum(v.supported for v in verdicts) / len(verdicts), verdicts)


def is_quote(statement: str, contexts: Sequence[str]) -> bool:
    """Whether ``statement`` (its final full stop aside) is a word-for-word slice of one of
    ``contexts``, case and spacing aside, and says more than a yes or a no."""
    flat = _flat(statement).rstrip(".!?")
    return _quotable(statement) and any(flat in _flat(c) for c in contexts)


def _flat(text: str) -> str:
    """``text`` in lower case with its whitespace runs made single spaces."""
    return re.sub(r"\s+", " ", text).strip().lower()


def _quotable(statement: str) -> bool:
    """Whether a verbatim ``statement`` says something: a number or a word that is not a
    stop word (a bare "yes" or "no" affirms whatever was asked)."""
    return any(w.isdigit() or w.lower() not in STOPWORDS for w in words(statement))
