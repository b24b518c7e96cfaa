"""What trained routers read about a prompt besides its embedding.

Cheap text features (length, digits, maths symbols, question words, negations,
answer options) and the retrieval signals of a RAG request, as float matrices
with one row per prompt. Both are deterministic functions of their input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ragline.types import RouteSignals

__all__ = ["CHEAP_FEATURES", "SIGNAL_FEATURES", "cheap_features", "signal_features"]

Matrix = npt.NDArray[np.float64]

CHEAP_FEATURES = ("log_chars", "log_words", "log_lines", "digit_share", "log_numbers",
                  "math_symbols", "question_words", "negation", "options",
                  "option_chars", "statement_pairs", "code")
SIGNAL_FEATURES = ("has_signals", "top_score", "margin", "agreement", "log_retrieved")

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+")
_MATH = re.compile(r"[=+*/^%$<>\u00d7\u00f7\u221a\u222b\u2211]|\\frac|\\sqrt")
_QUESTION = re.compile(r"\b(?:what|which|how|why|who|whom|whose|when|where|calculate|"
                       r"compute|find|solve|estimate)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|except|least|false|incorrect|never)\b", re.IGNORECASE)
_OPTION = re.compile(r"^[A-J][.)]\s*(.*)$", re.MULTILINE)
_STATEMENT = re.compile(r"statement\s*\d", re.IGNORECASE)
_CODE = re.compile(r"(?:def |return |\{|\}|;\s*$|#include|print\()", re.MULTILINE)


def _one(text: str) -> list[float]:
    words = _WORD.findall(text)
    numbers = _NUMBER.findall(text)
    options = _OPTION.findall(text)
    digits = sum(c.isdigit() for c in text)
    return [
        math.log1p(len(text)),
        math.log1p(len(words)),
        math.log1p(text.count("\n")),
        digits / max(len(text), 1),
        math.log1p(len(numbers)),
        math.log1p(len(_MATH.findall(text))),
        math.log1p(len(_QUESTION.findall(text))),
        math.log1p(len(_NEGATION.findall(text))),
        float(len(options)),
        math.log1p(sum(len(o) for o in options) / max(len(options), 1)),
        math.log1p(len(_STATEMENT.findall(text))),
        math.log1p(len(_CODE.findall(text))),
    ]


def cheap_features(prompts: Sequence[str]) -> Matrix:
    """One row of :data:`CHEAP_FEATURES` per prompt (shape ``(n, len(CHEAP_FEATURES))``)."""
    rows = [_one(p) for p in prompts]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(CHEAP_FEATURES))


def signal_features(signals: Sequence[RouteSignals | None] | None, n: int) -> Matrix:
    """One row of :data:`SIGNAL_FEATURES` per prompt; zeros where signals are missing.

    ``has_signals`` is 1 only for a request that retrieved something; a missing
    retrieval signal reads as 0.
    """
    out = np.zeros((n, len(SIGNAL_FEATURES)), dtype=np.float64)
    if signals is None:
        return out
    if len(signals) != n:
        raise ValueError(f"{len(signals)} route signals for {n} prompts")
    for i, s in enumerate(signals):
        if s is None or s.retrieved <= 0:
            continue
        out[i] = (1.0, s.top_score or 0.0, s.margin or 0.0, s.agreement or 0.0,
                  math.log1p(s.retrieved))
    return out
