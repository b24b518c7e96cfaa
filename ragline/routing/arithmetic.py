"""Recompute the arithmetic in a reasoning answer (GSM8K style) and find the slips.

:func:`check_arithmetic` finds every checkable equation in a response, written in prose
(``16 - 3 - 4 = 9 eggs``, ``9 * $2 = $18``, ``1600 / 60 = 26.67 hours``) or as a GSM8K
calculator annotation (``<<9*2=18>>``), recomputes each side with the small parser of
:mod:`ragline.routing.expressions` (numbers, ``+ - * x / ÷ ^`` and the times sign,
parentheses, percentages; nothing is ever ``eval``-ed) and reports the equations that do
not hold, with the final number the response commits to. A cascade uses the score to
decide whether a cheap model's answer needs the strong one.

What counts as an equation, and what is forgiven:

- A chain ``a = b = c`` is one expression; it is wrong when any link does not hold. At
  least one side must contain an operator (``13 = 13`` checks nothing).
- Numbers may carry ``$ € £``, thousands separators (``80,000``), decimals and ``%``
  (``20%`` is 0.2; where ``20% * 50 = 10`` fails, ``1/4 * 100 = 25%`` is tried with the
  percent sign ignored); ``a + b%`` is ambiguous and not checked.
- Words after a number are its unit (``72 minutes/week * 4 weeks = 288 minutes``); a link
  between sides whose units share no word (``288 minutes = 4.8 hours``) is a unit
  conversion and not checked. A letter stuck to a number (``3x + 5 = 20``) is algebra:
  such an equation is skipped.
- A decimal written with two or more places whose last digit is not zero, or any decimal
  standing alone on one side, may have been rounded or truncated in the last place:
  ``10/3 = 3.33``, ``8/3 = 2.7`` and ``26.67 * 3 = 80`` hold (interval arithmetic carries
  the rounding through). ``≈`` allows 1 % and rounding to a whole number.
- A running total written with ``=`` (``5 + 3 = 8 + 2 = 10``) holds when each side
  continues from the value of the one before.
- A prose equation that a calculator annotation sits in (``9 * $2 = $<<9*2=18>>18``) is
  checked once, through the annotation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from ragline.routing.expressions import (
    Bin,
    Interval,
    Node,
    NotArithmetic,
    Parser,
    Term,
    evaluate,
    tokenize,
)

__all__ = ["ArithmeticCheck", "check_arithmetic"]


@dataclass(frozen=True, slots=True)
class ArithmeticCheck:
    """The verdict on a response's arithmetic.

    ``expressions`` is how many checkable equations (chains) were found, ``wrong`` the ones
    that do not hold, as written; ``score`` is ``1 - len(wrong) / expressions`` (1.0 when no
    equation was found); ``final_answer`` is the number the response commits to (after
    ``####``, in ``\\boxed{}``, after "the answer is", else the last number) without
    currency signs or thousands separators, or None when it holds no number.
    """

    expressions: int
    wrong: tuple[str, ...]
    score: float
    final_answer: str | None


_RELATIVE_EPS = 1e-9
_APPROX_RELATIVE = 0.01
_STOPWORDS = frozenset({"a", "an", "the", "of", "per", "each", "and", "for", "in", "on", "at",
                        "to", "is", "was", "are", "so", "which", "that", "or", "with", "from"})

_LATEX = (
    (re.compile(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}"), r"(\1)/(\2)"),
    (re.compile(r"\\(?:times|cdot)(?![A-Za-z])"), " * "),
    (re.compile(r"\\div(?![A-Za-z])"), " / "),
    (re.compile(r"\\approx(?![A-Za-z])"), " ≈ "),
    (re.compile(r"\\(?:left|right)(?![A-Za-z])"), ""),
    (re.compile(r"\\([$%*])"), r"\1"),
    (re.compile(r"\\[()\[\]]"), " "),
    (re.compile(r"\*\*"), ""),  # markdown bold, not a power
)
_ANNOTATION = re.compile(r"<<([^<>\n]*)>>")
_NUMBER = r"-?(?:[$€£]\s?)?-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|-?\.\d+"
_FINAL_MARKS = (
    re.compile(r"####\s*(?:[^\d\n.$-]{0,20}?)(" + _NUMBER + ")"),
    re.compile(r"\\boxed\s*\{\s*(?:\\text\{[^{}]*\}\s*)?(" + _NUMBER + ")"),
    re.compile(r"(?i)\b(?:final answer|answer is|answer:|answer =)[^\n\d$]{0,40}?("
               + _NUMBER + ")"),
)
_ANY_NUMBER = re.compile(r"(?<![\w.,])(" + _NUMBER + ")")


def check_arithmetic(text: str) -> ArithmeticCheck:
    """Find the equations in ``text``, recompute them, and report the ones that do not hold.

    Never raises on odd input: what cannot be parsed is simply not counted.
    """
    cleaned = text
    for pattern, replacement in _LATEX:
        cleaned = pattern.sub(replacement, cleaned)
    annotations: list[tuple[int, str]] = []
    pieces: list[str] = []
    position = 0
    for match in _ANNOTATION.finditer(cleaned):
        pieces.append(cleaned[position:match.start()])
        annotations.append((sum(map(len, pieces)), match.group(1)))
        position = match.end()
    pieces.append(cleaned[position:])
    prose = "".join(pieces)

    verdicts: list[tuple[str, bool]] = []
    checked_at: list[int] = []
    for at, inner in annotations:
        verdict = _check_annotation(inner)
        if verdict is not None:
            verdicts.append((inner.strip(), verdict))
            checked_at.append(at)
    for start, end, verdict in _prose_chains(prose):
        if not any(start <= at <= end for at in checked_at):
            verdicts.append((" ".join(prose[start:end].split()), verdict))
    wrong = tuple(written for written, holds in verdicts if not holds)
    score = 1.0 if not verdicts else 1.0 - len(wrong) / len(verdicts)
    return ArithmeticCheck(expressions=len(verdicts), wrong=wrong, score=score,
                           final_answer=_final_answer(prose))


def _check_annotation(inner: str) -> bool | None:
    tokens = tokenize(inner)
    try:
        parsed = Parser(tokens).chain(0)
    except NotArithmetic:
        return None
    if parsed is None or parsed[1] != len(tokens):
        return None
    return _chain_holds(parsed[0], parsed[2], units_matter=False)


def _prose_chains(text: str) -> Iterator[tuple[int, int, bool]]:
    """Each checkable chain of the prose: its character span and whether it holds."""
    tokens = tokenize(text)
    parser = Parser(tokens)
    index = 0
    while index < len(tokens):
        if not parser.may_start(index):
            index += 1
            continue
        try:
            parsed = parser.chain(index)
        except NotArithmetic:
            parsed = None
        if parsed is None:
            index += 1
            continue
        terms, after, links = parsed
        verdict = _chain_holds(terms, links, units_matter=True)
        if verdict is not None:
            yield tokens[terms[0].first].start, tokens[terms[-1].last].end, verdict
        index = after


def _chain_holds(terms: list[Term], links: list[str], *, units_matter: bool) -> bool | None:
    """True when every checkable link holds, False when one does not, None when no link
    could be checked (no operator anywhere, unit conversions only, ambiguous percentages)."""
    if not any(isinstance(term.node, Bin) for term in terms):
        return None
    verdicts = [_link_holds(a, b, approx=link == "≈", units_matter=units_matter)
                for (a, b), link in zip(pairwise(terms), links, strict=True)]
    checked = [v for v in verdicts if v is not None]
    return all(checked) if checked else None


def _link_holds(a: Term, b: Term, *, approx: bool, units_matter: bool) -> bool | None:
    if not isinstance(a.node, Bin):
        return None  # 20 students = 0.20 * 20 = 4: a label, or a restated value
    units_a, units_b = a.units - _STOPWORDS, b.units - _STOPWORDS
    if units_matter and units_a and units_b and not units_a & units_b:
        return None  # 288 minutes = 4.8 hours: a unit conversion
    try:
        left, right = evaluate(a.node), evaluate(b.node)
        if left is None or right is None:
            return None
        if _overlap(left, right, approx=approx):
            return True
        raw_left = evaluate(a.node, raw_percent=True)
        raw_right = evaluate(b.node, raw_percent=True)
    except NotArithmetic:
        return None
    if raw_left is not None and raw_right is not None \
            and _overlap(raw_left, raw_right, approx=approx):
        return True
    continued = evaluate(_leftmost(b.node)) if isinstance(b.node, Bin) else None
    return continued is not None and _overlap(left, continued, approx=approx)


def _leftmost(node: Node) -> Node:
    """The first operand of a running total's next step: ``8`` in ``8 + 2``."""
    while isinstance(node, Bin) and node.op in "+-*/":
        node = node.left
    return node


def _overlap(a: Interval, b: Interval, *, approx: bool) -> bool:
    magnitude = max(abs(a[0]), abs(a[1]), abs(b[0]), abs(b[1]), 1.0)
    slack = magnitude * (_APPROX_RELATIVE if approx else _RELATIVE_EPS)
    if approx:
        slack = max(slack, 0.5)
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def _final_answer(text: str) -> str | None:
    for pattern in _FINAL_MARKS:
        found = pattern.findall(text)
        if found:
            return _plain_number(found[-1])
    numbers = _ANY_NUMBER.findall(text)
    return _plain_number(numbers[-1]) if numbers else None


def _plain_number(written: str) -> str:
    """``$1,234.50`` -> ``1234.5``; ``-$5`` -> ``-5``; ``.5`` -> ``0.5``."""
    negative = written.count("-") % 2 == 1
    digits = re.sub(r"[^\d.]", "", written)
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    whole, dot, fraction = digits.partition(".")
    digits = (whole.lstrip("0") or "0") + dot + fraction
    return f"-{digits}" if negative and digits != "0" else digits
