"""The arithmetic a response writes: its tokens, expression trees, parser and evaluation.

:func:`tokenize` splits text into numbers (``$``, ``€``, ``£``, thousands separators,
decimals, ``%``), operators (``+ - * x / ÷ ^`` and the times sign), parentheses, ``=``/``≈``
and words. :class:`Parser` reads equation chains from those tokens by recursive descent
(nothing is ever ``eval``-ed): each side becomes a :class:`Term`, an expression tree of
:class:`Num`, :class:`Neg` and :class:`Bin` nodes with the unit words written around its
numbers. :func:`evaluate` gives the interval of values a tree may stand for, given how its
numbers may have been rounded. :class:`NotArithmetic` is raised where the tokens only look
like arithmetic (a variable, ``a + b%``).

Deciding which equations hold is :mod:`ragline.routing.arithmetic`'s job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["Bin", "Interval", "Neg", "Node", "NotArithmetic", "Num", "Parser", "Term", "Token",
           "evaluate", "tokenize"]

Interval = tuple[float, float]

_MAX_UNIT_WORDS = 4
_MAX_EXPONENT = 64
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


class NotArithmetic(Exception):
    """The tokens looked like an equation but hold a variable or an ambiguous percentage."""


@dataclass(frozen=True, slots=True)
class Token:
    """A token of :func:`tokenize`: its kind, text and span, whether space comes before it
    and, for a number, whether a percent sign follows."""

    kind: str
    text: str
    start: int
    end: int
    spaced: bool
    pct: bool = False


@dataclass(frozen=True, slots=True)
class Num:
    """A number: its value, how far it may be off if it was rounded (``ulp``: when written
    with two or more places, ``place``: when it stands alone on a side) and whether it is
    a percentage (already divided by 100)."""

    value: float
    ulp: float
    place: float
    pct: bool


@dataclass(frozen=True, slots=True)
class Neg:
    """A negation: ``-operand``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Bin:
    """A binary operation; ``op`` is one of ``+ - * / ^``."""

    op: str
    left: Node
    right: Node


Node = Num | Neg | Bin


@dataclass(slots=True)
class Term:
    """One side of an equation: its tree, the unit words around its numbers, its extent."""

    node: Node
    units: set[str] = field(default_factory=set)
    first: int = 0
    last: int = 0


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; spaces are dropped but recorded on the next token."""
    tokens: list[Token] = []
    spaced = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "pct":  # the optional percent sign is a group of the number
            kind = "num"
        if kind == "space":
            spaced = True
            continue
        tokens.append(Token(kind, match.group(kind), match.start(), match.end(), spaced,
                            pct=match.group("pct") is not None))
        spaced = False
    return tokens


class Parser:
    """Recursive descent over tokens: chain := term (('=' | '≈') term)+, with the usual
    precedence (``^`` over ``* /`` over ``+ -``), unary minus, ``$`` before a number or a
    parenthesis, and up to four unit words after a number or a closing parenthesis."""

    def __init__(self, tokens: list[Token]) -> None:
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

    def chain(self, index: int) -> tuple[list[Term], int, list[str]] | None:
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

    def term(self, index: int) -> tuple[Term, int] | None:
        """One side of an equation, or None when no operand starts at ``index``."""
        self.units = set()
        parsed = self._additive(index)
        if parsed is None:
            return None
        node, end = parsed
        if self._kind(end) == "op" and not self._hyphen(end):
            raise NotArithmetic("an operator before a word: 9 * B, 4,000 + Production")
        if isinstance(node, Num):  # a number alone on its side may be a rounded result
            node = Num(node.value, node.place, node.place, node.pct)
        last = end - 1
        while self._kind(last) in ("word", "op"):  # trailing unit words are not written math
            last -= 1
        return Term(node, self.units, index, last), end

    def _additive(self, index: int) -> tuple[Node, int] | None:
        parsed = self._multiplicative(index)
        while parsed is not None and self._kind(parsed[1]) == "op" \
                and _OPS[self.tokens[parsed[1]].text] in "+-":
            right = self._multiplicative(parsed[1] + 1)
            if right is None:
                break
            parsed = Bin(_OPS[self.tokens[parsed[1]].text], parsed[0], right[0]), right[1]
        return parsed

    def _multiplicative(self, index: int) -> tuple[Node, int] | None:
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
            parsed = Bin(op, parsed[0], right[0]), right[1]
        return parsed

    def _power(self, index: int) -> tuple[Node, int] | None:
        parsed = self._unary(index)
        if parsed is not None and self._kind(parsed[1]) == "op" \
                and self.tokens[parsed[1]].text == "^":
            exponent = self._unary(parsed[1] + 1)
            if exponent is not None:
                return Bin("^", parsed[0], exponent[0]), exponent[1]
        return parsed

    def _unary(self, index: int) -> tuple[Node, int] | None:
        if self._kind(index) == "op" and self.tokens[index].text in _MINUS:
            parsed = self._unary(index + 1)
            return None if parsed is None else (Neg(parsed[0]), parsed[1])
        return self._primary(index)

    def _primary(self, index: int) -> tuple[Node, int] | None:
        if self._kind(index) == "cur":
            index += 1
        kind = self._kind(index)
        node: Node
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
            raise NotArithmetic("a variable or an ordinal: 3x, (1/15)x, 3rd")
        return node, self._skip_units(index)

    def _number(self, index: int) -> Num:
        token = self.tokens[index]
        digits = token.text.rstrip("% ").replace(",", "")
        value = float(digits)
        decimals = len(digits.partition(".")[2])
        following = index + 1
        pct = token.pct or (self._kind(following) == "word"
                            and self.tokens[following].text.lower() == "percent")
        scale = 0.01 if pct else 1.0
        place = 10.0 ** -decimals * scale if decimals and not digits.endswith("0") else 0.0
        return Num(value * scale, place if decimals >= 2 else 0.0, place, pct)

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


def evaluate(node: Node, *, raw_percent: bool = False) -> Interval | None:
    """The interval of values ``node`` may stand for, given the rounding of its numbers;
    None for a division by (possibly) zero or an out-of-range power. Raises
    :class:`NotArithmetic` for ``a + b%``, which could mean ``a + b/100`` or ``a * (1 + b%)``."""
    value = _interval(node, raw_percent)
    return None if value is None else value[0]


def _interval(node: Node, raw: bool) -> tuple[Interval, bool] | None:
    """The interval and whether it is a percentage."""
    if isinstance(node, Num):
        scale = 100.0 if node.pct and raw else 1.0
        centre, ulp = node.value * scale, node.ulp * scale
        return (centre - ulp, centre + ulp), node.pct
    if isinstance(node, Neg):
        inner = _interval(node.operand, raw)
        return None if inner is None else ((-inner[0][1], -inner[0][0]), inner[1])
    left, right = _interval(node.left, raw), _interval(node.right, raw)
    if left is None or right is None:
        return None
    (a0, a1), a_pct = left
    (b0, b1), b_pct = right
    if node.op in "+-":
        if a_pct != b_pct:
            raise NotArithmetic("a percentage added to a number")
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

