"""Recompute the arithmetic in a reasoning answer (GSM8K style) and find the slips.

:func:`check_arithmetic` finds every checkable equation in a response, written in prose
(``16 - 3 - 4 = 9 eggs``, ``9 * $2 = $18``, ``1600 / 60 = 26.67 hours``) or as a GSM8K
calculator annotation (``<<9*2=18>>``), recomputes each side with a small parser of its
own (numbers, ``+ - * x / ÷ ^`` and the times sign, parentheses, percentages; nothing is
ever ``eval``-ed) and reports the equations that do not hold, with the final number the
response commits to. A cascade uses the score to decide whether a cheap model's answer
needs the strong one.

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

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["ArithmeticCheck", "check_arithmetic"]

Interval = tuple[float, float]


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


_MAX_UNIT_WORDS = 4
_MAX_EXPONENT = 64
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
_TOKEN = re.compile(r"""
    (?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?P<pct>\ ?%)?
  | (?P<eq>=|≈)
  | (?P<op>\^|[-+*/\u00d7÷·⋅\u2212])
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<cur>[$€£])
  | (?P<word>[^\W\d_]+(?:['\u2019][^\W\d_]+)*)
  | (?P<space>[ \t]+)
  | (?P<other>.|\n)
""", re.VERBOSE)
_MINUS = "-\u2212"
_OPS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "\u00d7": "*", "·": "*", "⋅": "*",
        "/": "/", "÷": "/", "^": "^"}
_NUMBER = r"-?(?:[$€£]\s?)?-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|-?\.\d+"
_FINAL_MARKS = (
    re.compile(r"####\s*(?:[^\d\n.$-]{0,20}?)(" + _NUMBER + ")"),
    re.compile(r"\\boxed\s*\{\s*(?:\\text\{[^{}]*\}\s*)?(" + _NUMBER + ")"),
    re.compile(r"(?i)\b(?:final answer|answer is|answer:|answer =)[^\n\d$]{0,40}?("
               + _NUMBER + ")"),
)
_ANY_NUMBER = re.compile(r"(?<![\w.,])(" + _NUMBER + ")")


class _NotArithmetic(Exception):
    """The tokens looked like an equation but hold a variable or an ambiguous percentage."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int
    spaced: bool
    pct: bool = False


@dataclass(frozen=True, slots=True)
class _Num:
    """A number: its value, how far it may be off if it was rounded (``ulp``: when written
    with two or more places, ``place``: when it stands alone on a side) and whether it is
    a percentage (already divided by 100)."""

    value: float
    ulp: float
    place: float
    pct: bool


@dataclass(frozen=True, slots=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Bin:
    op: str
    left: _Node
    right: _Node


_Node = _Num | _Neg | _Bin


@dataclass(slots=True)
class _Term:
    """One side of an equation: its tree, the unit words around its numbers, its extent."""

    node: _Node
    units: set[str] = field(default_factory=set)
    first: int = 0
    last: int = 0


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


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    spaced = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "pct":  # the optional percent sign is a group of the number
            kind = "num"
        if kind == "space":
            spaced = True
            continue
        tokens.append(_Token(kind, match.group(kind), match.start(), match.end(), spaced,
                             pct=match.group("pct") is not None))
        spaced = False
    return tokens


def _check_annotation(inner: str) -> bool | None:
    tokens = _tokens(inner)
    try:
        parsed = _Parser(tokens).chain(0)
    except _NotArithmetic:
        return None
    if parsed is None or parsed[1] != len(tokens):
        return None
    return _chain_holds(parsed[0], parsed[2], units_matter=False)


def _prose_chains(text: str) -> Iterator[tuple[int, int, bool]]:
    """Each checkable chain of the prose: its character span and whether it holds."""
    tokens = _tokens(text)
    parser = _Parser(tokens)
    index = 0
    while index < len(tokens):
        if not parser.may_start(index):
            index += 1
            continue
        try:
            parsed = parser.chain(index)
        except _NotArithmetic:
            parsed = None
        if parsed is None:
            index += 1
            continue
        terms, after, links = parsed
        verdict = _chain_holds(terms, links, units_matter=True)
        if verdict is not None:
            yield tokens[terms[0].first].start, tokens[terms[-1].last].end, verdict
        index = after


class _Parser:
    """Recursive descent over tokens: chain := term (('=' | '≈') term)+, with the usual
    precedence (``^`` over ``* /`` over ``+ -``), unary minus, ``$`` before a number or a
    parenthesis, and up to four unit words after a number or a closing parenthesis."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.units: set[str] = set()

    def _kind(self, index: int) -> str:
        return self.tokens[index].kind if index < len(self.tokens) else "end"

    def _starts_operand(self, index: int) -> bool:
        kind = self._kind(index)
        return kind in ("num", "lp", "cur") or (
            kind == "op" and self.tokens[index].text in _MINUS and self._kind(index + 1) == "num")

    def _times_word(self, index: int) -> bool:
        """``x`` between two operands is multiplication: ``3 x 60``, ``3x60``."""
        return (self._kind(index) == "word" and self.tokens[index].text in ("x", "X")
                and self._kind(index + 1) in ("num", "lp", "cur"))

    def _hyphen(self, index: int) -> bool:
        """``3-day``: a dash with no space around it, before a word."""
        return (self.tokens[index].text == "-" and not self.tokens[index].spaced
                and self._kind(index + 1) == "word" and not self.tokens[index + 1].spaced)

    def _attached_letters(self, index: int) -> bool:
        """A word stuck to the number or parenthesis before it that is no unit: a variable
        (``3x``, ``(1/15)x``) or an ordinal (``3rd``)."""
        if self._kind(index) != "word" or self.tokens[index].spaced or self._times_word(index):
            return False
        text = self.tokens[index].text.lower()
        return len(text) == 1 or text in ("st", "nd", "rd", "th")

    def may_start(self, index: int) -> bool:
        """A chain starts at a number, ``$`` or ``(`` that does not continue an expression
        (after an operator, or after a number as in the mixed number ``1 1/2``)."""
        if self._kind(index) not in ("num", "lp", "cur"):
            return False
        if index == 0:
            return True
        before = self._kind(index - 1)
        return before not in ("op", "num", "rp", "cur") and not self._times_word(index - 1)

    def chain(self, index: int) -> tuple[list[_Term], int, list[str]] | None:
        """The terms of the chain starting at ``index``, the index after it, and its links;
        None when fewer than two terms are joined."""
        first = self.term(index)
        if first is None:
            return None
        terms, links, index = [first[0]], [], first[1]
        while self._kind(index) == "eq":
            following = self.term(index + 1)
            if following is None:
                break
            links.append(self.tokens[index].text)
            terms.append(following[0])
            index = following[1]
        return (terms, index, links) if len(terms) > 1 else None

    def term(self, index: int) -> tuple[_Term, int] | None:
        """One side of an equation, or None when no operand starts at ``index``."""
        self.units = set()
        parsed = self._additive(index)
        if parsed is None:
            return None
        node, end = parsed
        if self._kind(end) == "op" and not self._hyphen(end):
            raise _NotArithmetic("an operator before a word: 9 * B, 4,000 + Production")
        if isinstance(node, _Num):  # a number alone on its side may be a rounded result
            node = _Num(node.value, node.place, node.place, node.pct)
        last = end - 1
        while self._kind(last) in ("word", "op"):  # trailing unit words are not written math
            last -= 1
        return _Term(node, self.units, index, last), end

    def _additive(self, index: int) -> tuple[_Node, int] | None:
        parsed = self._multiplicative(index)
        while parsed is not None and self._kind(parsed[1]) == "op" \
                and _OPS[self.tokens[parsed[1]].text] in "+-":
            right = self._multiplicative(parsed[1] + 1)
            if right is None:
                break
            parsed = _Bin(_OPS[self.tokens[parsed[1]].text], parsed[0], right[0]), right[1]
        return parsed

    def _multiplicative(self, index: int) -> tuple[_Node, int] | None:
        parsed = self._power(index)
        while parsed is not None:
            at = parsed[1]
            if self._times_word(at):
                op = "*"
            elif self._kind(at) == "op" and _OPS[self.tokens[at].text] in "*/":
                op = _OPS[self.tokens[at].text]
            else:
                break
            right = self._power(at + 1)
            if right is None:
                break
            parsed = _Bin(op, parsed[0], right[0]), right[1]
        return parsed

    def _power(self, index: int) -> tuple[_Node, int] | None:
        parsed = self._unary(index)
        if parsed is not None and self._kind(parsed[1]) == "op" \
                and self.tokens[parsed[1]].text == "^":
            exponent = self._unary(parsed[1] + 1)
            if exponent is not None:
                return _Bin("^", parsed[0], exponent[0]), exponent[1]
        return parsed

    def _unary(self, index: int) -> tuple[_Node, int] | None:
        if self._kind(index) == "op" and self.tokens[index].text in _MINUS:
            parsed = self._unary(index + 1)
            return None if parsed is None else (_Neg(parsed[0]), parsed[1])
        return self._primary(index)

    def _primary(self, index: int) -> tuple[_Node, int] | None:
        if self._kind(index) == "cur":
            index += 1
        kind = self._kind(index)
        node: _Node
        if kind == "num":
            node = self._number(index)
            index += 1
        elif kind == "lp":
            inner = self._additive(index + 1)
            if inner is None or self._kind(inner[1]) != "rp":
                return None
            node, index = inner[0], inner[1] + 1
        else:
            return None
        if self._attached_letters(index):
            raise _NotArithmetic("a variable or an ordinal: 3x, (1/15)x, 3rd")
        return node, self._skip_units(index)

    def _number(self, index: int) -> _Num:
        token = self.tokens[index]
        digits = token.text.rstrip("% ").replace(",", "")
        value = float(digits)
        decimals = len(digits.partition(".")[2])
        following = index + 1
        pct = token.pct or (self._kind(following) == "word"
                            and self.tokens[following].text.lower() == "percent")
        scale = 0.01 if pct else 1.0
        place = 10.0 ** -decimals * scale if decimals and not digits.endswith("0") else 0.0
        return _Num(value * scale, place if decimals >= 2 else 0.0, place, pct)

    def _skip_units(self, index: int) -> int:
        words = 0
        while words < _MAX_UNIT_WORDS:
            if self._kind(index) == "word" and not self._times_word(index):
                self.units.add(_singular(self.tokens[index].text))
                index, words = index + 1, words + 1
            elif (self._kind(index) == "op" and self.tokens[index].text == "/"
                  and not self.tokens[index].spaced and self._kind(index + 1) == "word"
                  and not self.tokens[index + 1].spaced):
                self.units.add(_singular(self.tokens[index + 1].text))
                index, words = index + 2, words + 1
            else:
                break
        return index


def _singular(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _chain_holds(terms: list[_Term], links: list[str], *, units_matter: bool) -> bool | None:
    """True when every checkable link holds, False when one does not, None when no link
    could be checked (no operator anywhere, unit conversions only, ambiguous percentages)."""
    if not any(isinstance(term.node, _Bin) for term in terms):
        return None
    verdicts = [_link_holds(a, b, approx=link == "≈", units_matter=units_matter)
                for (a, b), link in zip(pairwise(terms), links, strict=True)]
    checked = [v for v in verdicts if v is not None]
    return all(checked) if checked else None


def _link_holds(a: _Term, b: _Term, *, approx: bool, units_matter: bool) -> bool | None:
    if not isinstance(a.node, _Bin):
        return None  # 20 students = 0.20 * 20 = 4: a label, or a restated value
    units_a, units_b = a.units - _STOPWORDS, b.units - _STOPWORDS
    if units_matter and units_a and units_b and not units_a & units_b:
        return None  # 288 minutes = 4.8 hours: a unit conversion
    try:
        left, right = _evaluate(a.node), _evaluate(b.node)
        if left is None or right is None:
            return None
        if _overlap(left, right, approx=approx):
            return True
        raw_left = _evaluate(a.node, raw_percent=True)
        raw_right = _evaluate(b.node, raw_percent=True)
    except _NotArithmetic:
        return None
    if raw_left is not None and raw_right is not None \
            and _overlap(raw_left, raw_right, approx=approx):
        return True
    continued = _evaluate(_leftmost(b.node)) if isinstance(b.node, _Bin) else None
    return continued is not None and _overlap(left, continued, approx=approx)


def _leftmost(node: _Node) -> _Node:
    """The first operand of a running total's next step: ``8`` in ``8 + 2``."""
    while isinstance(node, _Bin) and node.op in "+-*/":
        node = node.left
    return node


def _overlap(a: Interval, b: Interval, *, approx: bool) -> bool:
    magnitude = max(abs(a[0]), abs(a[1]), abs(b[0]), abs(b[1]), 1.0)
    slack = magnitude * (_APPROX_RELATIVE if approx else _RELATIVE_EPS)
    if approx:
        slack = max(slack, 0.5)
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def _evaluate(node: _Node, *, raw_percent: bool = False) -> Interval | None:
    """The interval of values ``node`` may stand for, given the rounding of its numbers;
    None for a division by (possibly) zero or an out-of-range power. Raises
    :class:`_NotArithmetic` for ``a + b%``, which could mean ``a + b/100`` or ``a * (1 + b%)``."""
    value = _interval(node, raw_percent)
    return None if value is None else value[0]


def _interval(node: _Node, raw: bool) -> tuple[Interval, bool] | None:
    """The interval and whether it is a percentage."""
    if isinstance(node, _Num):
        scale = 100.0 if node.pct and raw else 1.0
        centre, ulp = node.value * scale, node.ulp * scale
        return (centre - ulp, centre + ulp), node.pct
    if isinstance(node, _Neg):
        inner = _interval(node.operand, raw)
        return None if inner is None else ((-inner[0][1], -inner[0][0]), inner[1])
    left, right = _interval(node.left, raw), _interval(node.right, raw)
    if left is None or right is None:
        return None
    (a0, a1), a_pct = left
    (b0, b1), b_pct = right
    if node.op in "+-":
        if a_pct != b_pct:
            raise _NotArithmetic("a percentage added to a number")
        if node.op == "+":
            return (a0 + b0, a1 + b1), a_pct
        return (a0 - b1, a1 - b0), a_pct
    if node.op == "*":
        products = (a0 * b0, a0 * b1, a1 * b0, a1 * b1)
        return (min(products), max(products)), False
    if node.op == "/":
        if b0 <= 0.0 <= b1:
            return None
        quotients = (a0 / b0, a0 / b1, a1 / b0, a1 / b1)
        return (min(quotients), max(quotients)), False
    return _power((a0, a1), (b0, b1))


def _power(base: Interval, exponent: Interval) -> tuple[Interval, bool] | None:
    power = exponent[0]
    if power != exponent[1] or abs(power) > _MAX_EXPONENT:
        return None
    if not power.is_integer() and base[0] <= 0.0:
        return None
    if power < 0 and base[0] <= 0.0 <= base[1]:
        return None
    try:
        ends = (base[0] ** power, base[1] ** power)
    except (OverflowError, ZeroDivisionError):
        return None
    low, high = min(ends), max(ends)
    if base[0] < 0.0 < base[1] and power % 2 == 0:
        low = 0.0
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (low, high), False


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
