"""Token-aware recursive chunking of documents into overlapping, exactly-located chunks.

A document is cut into sections before each Markdown heading (Markdown only;
a heading directly followed by a deeper one stays with it). Each section is
broken into *pieces*: the whole section when it fits the token budget,
otherwise its paragraphs, then lines, then sentences, then words, going one
level finer only for the parts that are still too long. Pieces are merged
greedily back into chunks of at most ``size_tokens`` tokens; a word longer
than that is a chunk of its own and is never cut.

Consecutive chunks of one section overlap by up to ``overlap_tokens`` tokens:
the next chunk starts at the earliest sentence or line start (or else word
start) within the last ``overlap_tokens`` tokens of the previous one, less
where the next piece would not fit beside them. Overlap never crosses a heading.

Every chunk's text is exactly ``document.text[start:end]`` with no leading or
trailing whitespace, and together the chunks cover every non-whitespace
character of the document, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragline.rag.loaders import page_at
from ragline.tokens import get_encoding
from ragline.types import Chunk, Document

if TYPE_CHECKING:
    import tiktoken

_Piece = tuple[int, int, int]  # a span of the text to merge into chunks: (start, end, tokens)

_MIN_SIZE = 8
_MAX_CHARS_PER_TOKEN = 8  # longer spans are split without being counted first
_COPIED_KEYS = ("source", "title", "format")
_MD_LINE = re.compile(
    r"^(?:(?P<fence>```|~~~)|(?P<hashes>#{1,6})[ \t]+(?P<title>\S[^\n]*?)(?:[ \t]+#+)?[^\S\n]*$)",
    re.MULTILINE,
)
_SEPARATORS = (
    re.compile(r"\n[^\S\n]*\n"),  # blank line between paragraphs
    re.compile(r"\n"),  # line break
    re.compile(r"(?<=[.!?])\s"),  # sentence end
)
_WORD = re.compile(r"\S+")
_WORD_CACHE_SIZE = 200_000
_CACHED_WORD_CHARS = 64
_SENTENCE_GAP = re.compile(r"[.!?]\s+|\n\s*")
_WORD_GAP = re.compile(r"\s+")
_SENTENCE_LOOKBACK = 64  # chars searched before the overlap window for the gap that opens it


@dataclass(frozen=True, slots=True)
class _Section:
    start: int
    end: int
    heading_path: list[str]


@dataclass(frozen=True, slots=True)
class _Heading:
    start: int
    level: int
    title: str
    body_empty: bool


class RecursiveChunker:
    """Split documents into chunks of at most ``size_tokens`` tokens of ``encoding``.

    See the module docstring for what the chunks promise. Raises ValueError
    unless ``size_tokens > 8`` and ``0 <= overlap_tokens < size_tokens``.
    """

    def __init__(self, size_tokens: int = 180, overlap_tokens: int = 30,
                 encoding: str = "cl100k_base") -> None:
        if size_tokens <= _MIN_SIZE:
            raise ValueError(f"size_tokens must be > {_MIN_SIZE}, but got {size_tokens}")
        if overlap_tokens < 0:
            raise ValueError(f"overlap_tokens must be >= 0, but got {overlap_tokens}")
        if overlap_tokens >= size_tokens:
            raise ValueError("overlap_tokens must be < size_tokens, "
                             f"but got {overlap_tokens} >= {size_tokens}")
        self.size_tokens = size_tokens
        self.overlap_tokens = overlap_tokens
        self._encoding: tiktoken.Encoding = get_encoding(encoding)
        self._max_chars = size_tokens * _MAX_CHARS_PER_TOKEN
        self._word_tokens: dict[str, int] = {}

    def split(self, document: Document) -> list[Chunk]:
        """Return the document's chunks in order, positions ``0..n-1``, deterministic ids.

        Chunk metadata holds ``start``, ``end``, ``heading_path`` and the
        document's ``source``, ``title`` and ``format`` (and ``page`` for PDFs).
        """
        text = document.text
        return chunks_from_spans(document, (
            (start, end, section.heading_path)
            for section in document_sections(document)
            for start, end in self._merge(text, self._pieces(text, section.start, section.end))))

    def _count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def _pieces(self, text: str, start: int, end: int) -> list[_Piece]:
        """Break ``text[start:end]`` into pieces of at most ``size_tokens`` (or single words)."""
        pieces: list[_Piece] = []
        self._collect(text, start, end, 0, pieces)
        return pieces

    def _collect(self, text: str, start: int, end: int, level: int, out: list[_Piece]) -> None:
        tokens = self._fitting_count(text[start:end]) if end - start <= self._max_chars else None
        if tokens is not None:
            out.append((start, end, tokens))
            return
        for finer, separator in enumerate(_SEPARATORS[level:], start=level + 1):
            parts = _split(text, start, end, separator)
            if len(parts) > 1:
                for part_start, part_end in parts:
                    self._collect(text, part_start, part_end, finer, out)
                return
        self._collect_words(text, start, end, out)

    def _fitting_count(self, span: str) -> int | None:
        """The token count of ``span`` if it fits the budget, else None."""
        if len(span.split()) > self.size_tokens:  # every word is at least one token
            return None
        tokens = self._count(span)
        return tokens if tokens <= self.size_tokens else None

    def _collect_words(self, text: str, start: int, end: int, out: list[_Piece]) -> None:
        """Append each word of ``text[start:end]`` as a piece (counts cached per word)."""
        cache = self._word_tokens
        if len(cache) > _WORD_CACHE_SIZE:
            cache.clear()
        for match in _WORD.finditer(text, start, end):
            word = match.group()
            tokens = cache.get(word)
            if tokens is None:
                tokens = self._count(word)
                if len(word) <= _CACHED_WORD_CHARS:
                    cache[word] = tokens
            out.append((match.start(), match.end(), tokens))

    def _merge(self, text: str, pieces: list[_Piece]) -> list[tuple[int, int]]:
        """Merge consecutive pieces greedily into overlapping chunk spans within the budget."""
        spans: list[tuple[int, int]] = []
        i = 0
        head: tuple[int, int] | None = None  # (start, tokens) of the overlap carried over
        while i < len(pieces):
            start = pieces[i][0] if head is None else head[0]
            j = self._greedy_end(text, pieces, i, head)
            tokens = self._encoding.encode_ordinary(text[start:pieces[j][1]])
            while len(tokens) > self.size_tokens and j > i:
                j = _drop_excess(text, pieces, i, j, len(tokens) - self.size_tokens)
                tokens = self._encoding.encode_ordinary(text[start:pieces[j][1]])
            if len(tokens) > self.size_tokens and head is not None:
                head = None  # the overlap and the next piece do not fit together
                continue
            spans.append((start, pieces[j][1]))
            i = j + 1
            head = self._overlap(text, pieces, start, i, tokens) if i < len(pieces) else None
        return spans

    def _greedy_end(self, text: str, pieces: list[_Piece], i: int,
                    head: tuple[int, int] | None) -> int:
        """Index of the last piece that fits after piece ``i`` (and the overlap), by estimate."""
        total = pieces[i][2]
        if head is not None:
            total += head[1] + _gap_tokens(text, pieces[i - 1][1], pieces[i][0])
        j = i
        while j + 1 < len(pieces):
            grown = total + _gap_tokens(text, pieces[j][1], pieces[j + 1][0]) + pieces[j + 1][2]
            if grown > self.size_tokens:
                break
            total, j = grown, j + 1
        return j

    def _overlap(self, text: str, pieces: list[_Piece], start: int, following: int,
                 tokens: list[int]) -> tuple[int, int] | None:
        """Where the chunk after the one just made starts, and that overlap's token count.

        The chunk spans ``start`` to the end of ``pieces[following - 1]`` and
        encodes to ``tokens``. The overlap is kept small enough that
        ``pieces[following]`` still fits beside it.
        """
        end = pieces[following - 1][1]
        nxt = pieces[following]
        budget = min(self.overlap_tokens,
                     self.size_tokens - nxt[2] - _gap_tokens(text, end, nxt[0]))
        if budget <= 0:
            return None
        tail = self._encoding.decode_bytes(tokens[-budget:]).decode("utf-8", "ignore")
        begin = _overlap_start(text, max(end - len(tail), start + 1), end)
        while begin is not None:
            count = self._count(text[begin:end])
            if count <= budget:
                return begin, count
            begin = _next_word_start(text, begin, end)
        return None


def document_sections(document: Document) -> list[_Section]:
    """The document cut before each Markdown heading (Markdown or unknown format only)."""
    return _sections(document.text, markdown=document.metadata.get("format", "md") == "md")


def chunks_from_spans(document: Document,
                      spans: Iterable[tuple[int, int, list[str]]]) -> list[Chunk]:
    """Chunks for ``(start, end, heading_path)`` spans of the document, in the given order.

    Metadata: ``start``, ``end``, ``heading_path``, the document's ``source``,
    ``title`` and ``format``, and ``page`` for PDFs; positions count from 0.
    """
    copied = {k: document.metadata[k] for k in _COPIED_KEYS if k in document.metadata}
    chunks: list[Chunk] = []
    for start, end, heading_path in spans:
        metadata: dict[str, Any] = {"start": start, "end": end,
                                    "heading_path": list(heading_path), **copied}
        page = page_at(document.metadata, start)
        if page is not None:
            metadata["page"] = page
        chunks.append(Chunk.create(document.id, document.text[start:end], metadata, len(chunks)))
    return chunks


def _drop_excess(text: str, pieces: list[_Piece], i: int, j: int, excess: int) -> int:
    """Index of the new last piece after dropping, from ``j`` down, about ``excess`` tokens."""
    while j > i and excess > 0:
        excess -= pieces[j][2] + _gap_tokens(text, pieces[j - 1][1], pieces[j][0])
        j -= 1
    return j


def _gap_tokens(text: str, end: int, start: int) -> int:
    """Estimated tokens the whitespace between two pieces adds when they are joined."""
    return 0 if text[end:start] == " " else 1


def _split(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    """The non-empty, whitespace-trimmed parts of ``text[start:end]`` between separators."""
    parts = []
    position = start
    for match in separator.finditer(text, start, end):
        parts.append(_trim(text, position, match.start()))
        position = match.end()
    parts.append(_trim(text, position, end))
    return [(s, e) for s, e in parts if s < e]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    segment = text[start:end]
    left = segment.lstrip()
    start += len(segment) - len(left)
    return start, start + len(left.rstrip())


def _overlap_start(text: str, low: int, end: int) -> int | None:
    """The first sentence start in ``[low, end)``, else the first word start, else None."""
    for match in _SENTENCE_GAP.finditer(text, max(0, low - _SENTENCE_LOOKBACK), end):
        if low <= match.end() < end:
            return match.end()
    return _next_word_start(text, low - 1, end)


def _next_word_start(text: str, position: int, end: int) -> int | None:
    """The first word start after ``position`` and before ``end``, or None."""
    match = _WORD_GAP.search(text, position, end)
    return match.end() if match is not None and match.end() < end else None


def _sections(text: str, *, markdown: bool) -> list[_Section]:
    """Cut ``text`` before each Markdown heading; sections are trimmed and non-empty."""
    headings = _headings(text) if markdown else []
    sections: list[_Section] = []
    first = _trim(text, 0, headings[0].start if headings else len(text))
    if first[0] < first[1]:
        sections.append(_Section(first[0], first[1], []))
    stack: list[_Heading] = []
    start: int | None = None
    for index, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        start = heading.start if start is None else start
        following = headings[index + 1] if index + 1 < len(headings) else None
        if heading.body_empty and following is not None and following.level > heading.level:
            continue  # a heading directly followed by a deeper one stays with it
        end = following.start if following is not None else len(text)
        span = _trim(text, start, end)
        sections.append(_Section(span[0], span[1], [h.title for h in stack]))
        start = None
    return sections


def _headings(text: str) -> list[_Heading]:
    """The Markdown ATX headings of ``text`` in order, ignoring fenced code blocks."""
    found: list[tuple[int, int, int, str]] = []  # start, line end, level, title
    fence: str | None = None
    for match in _MD_LINE.finditer(text):
        marker = match.group("fence")
        if marker is not None:
            fence = marker if fence is None else (None if marker == fence else fence)
        elif fence is None:
            found.append((match.start(), match.end(), len(match.group("hashes")),
                          match.group("title")))
    headings = []
    for index, (start, line_end, level, title) in enumerate(found):
        body_end = found[index + 1][0] if index + 1 < len(found) else len(text)
        headings.append(_Heading(start, level, title, not text[line_end:body_end].strip()))
    return headings
