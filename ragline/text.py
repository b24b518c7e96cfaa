"""Small, dependency-free text helpers: the extractive model, the support check and BM25."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from ragline.types import CITATION_MARKER

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
# A sentence ends at . ! or ? followed by space and a capital or digit, but not after an
# initial ("Mark L. Lester") or a title ("Mr.", "St.", "Jr."). Closing quotes or brackets
# and a citation marker such as " [2]" right after the punctuation stay with the sentence
# they follow (group "tail").
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Prof", "Gen", "Lt", "Col", "vs",
                  "v")
_NOT_AFTER = "".join(rf"(?<!\b{a}\.)" for a in _ABBREVIATIONS) + r"(?<!\b[A-Z]\.)"
_SENTENCE_END = re.compile(
    _NOT_AFTER + r"(?<=[.!?])"
    r"(?P<tail>[\"')\]]*(?:\s*" + CITATION_MARKER + r")?)\s+(?!\[\d)(?=[\"'(\[]?[A-Z0-9])")

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is
it its itself just me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself
yourselves also may might must shall use used using one ones done get gets got
""".split())  # noqa: SIM905 - a word list reads better as prose

# Scripts written without spaces between words: Han (CJK ideographs, extensions A-G and
# compatibility ideographs, plus the marks U+3005-3007), Hiragana, Katakana (not the middle
# dot U+30FB, which separates words) including half-width forms, and Hangul syllables and jamo.
_CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3005-\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3131-\u318e"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\uff66-\uff9f\uffa0-\uffdc\U00020000-\U0003134f]+")
# The UTF-8 encoding of every character _CJK_RUN matches starts with one of these bytes;
# deleting all other bytes is a much cheaper test for "no CJK here" than the regex.
_CJK_LEAD_BYTES = frozenset([0xE1, *range(0xE3, 0xEE), 0xEF, 0xF0])
_NOT_CJK_LEAD = bytes(b for b in range(256) if b not in _CJK_LEAD_BYTES)


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``."""
    return [w.lower() for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A light English suffix stripper: enough to match 'chunks' with 'chunk'."""
    for suffix in ("ingly", "edly", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words of ``text`` that carry meaning (stopwords and 1-letter words dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def nfc(text: str) -> str:
    """``text`` in Unicode normal form C, so a decomposed "café" (e + U+0301) equals a composed one.

    Already-composed text, the usual case, is returned as it is after a fast check.
    """
    return unicodedata.normalize("NFC", text)


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping two-character terms of a run of CJK characters; a 1-character run is itself.

    "富士山" gives ["富士", "士山"]: a query's bigrams are found in any text that contains
    the query, with no word segmenter and no dictionary.
    """
    if len(run) < 2:
        return [run] if run else []
    return [run[i:i + 2] for i in range(len(run) - 1)]


def split_cjk(text: str) -> str:
    """``text`` with every run of Han, kana or Hangul replaced by its bigrams, space-separated.

    Other text (Latin, Cyrillic, Greek, Arabic, digits, punctuation) is left as it is, so a
    word tokeniser downstream sees CJK bigrams as words of their own.
    """
    if text.isascii() or not text.encode("utf-8", "surrogatepass").translate(None, _NOT_CJK_LEAD):
        return text
    return _CJK_RUN.sub(lambda m: " " + " ".join(cjk_bigrams(m.group())) + " ", text)


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences in ``text``, whitespace trimmed."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _trimmed(text, start, match.end("tail"))
        start = match.end()
    yield from _trimmed(text, start, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    for line_start, line in _lines(text[start:end]):
        stripped = line.strip()
        if stripped:
            offset = start + line_start + (len(line) - len(line.lstrip()))
            yield offset, offset + len(stripped)


def _lines(block: str) -> Iterator[tuple[int, str]]:
    """Split a block on blank lines (paragraph breaks inside one 'sentence')."""
    position = 0
    for part in re.split(r"(\n\s*\n)", block):
        if part and not part.isspace():
            yield position, part
        position += len(part)
