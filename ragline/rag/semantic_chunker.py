"""Semantic chunking: cut a document where the topic shifts, within hard token bounds.

The algorithm, per document:

1. Cut the text into sections before each Markdown heading, exactly as
   :class:`~ragline.rag.chunker.RecursiveChunker` does (Markdown only). No
   chunk ever crosses a section boundary.
2. Split each section into sentences with :func:`ragline.text.sentences`.
   A sentence longer than ``max_tokens`` is split into runs of whole words of
   at most ``max_tokens`` tokens (a single word longer than that stays whole).
   These sentences and runs are the *units*.
3. Embed every unit of the document in one ``embed_documents`` call and take
   the cosine distance ``1 - cos(a, b)`` between adjacent units of a section.
4. Cut after each unit whose distance to the next is a *breakpoint*, judged
   against all the document's distances:

   - ``"percentile"``: distance > the ``threshold``-th percentile (default 90);
   - ``"stddev"``: distance > mean + ``threshold`` x standard deviation (default 1.5);
   - ``"iqr"``: distance > Q3 + ``threshold`` x (Q3 - Q1) (default 1.5).

   The heading line(s) that open a section are glued to the sentence after
   them: that boundary is never a breakpoint.
5. Enforce the maximum: a group of more than ``max_tokens`` tokens is cut at
   its largest-distance unit boundary, recursively, until every part fits.
6. Enforce the minimum: a group of fewer than ``min_tokens`` tokens is merged
   with the neighbour in its section across the smaller boundary distance (the
   other neighbour if that would exceed ``max_tokens``), until no small group
   can merge. A chunk under ``min_tokens`` is therefore either its whole
   section or one whose merge with either neighbour would exceed the maximum.

Why a maximum matters: LangChain's ``SemanticChunker`` and LlamaIndex's
``SemanticSplitterNodeParser`` cut only at breakpoints, so a long passage on
one topic becomes one huge chunk. Embedders read a bounded input (MiniLM 256
word pieces) and silently truncate the rest, so the tail of such a chunk is
never embedded and cannot be found by dense search, while a language model
given it still pays for all of it. Here every chunk has at most ``max_tokens``
tokens of ``encoding`` except a single word longer than that.

The chunks keep :class:`~ragline.rag.chunker.RecursiveChunker`'s contract:
each chunk's text is exactly ``document.text[start:end]`` with no leading or
trailing whitespace; together the chunks cover every non-whitespace character
in order without overlap; chunks only start and end at sentence boundaries,
except inside a sentence longer than ``max_tokens``, which is cut between
words; and the result is deterministic for a deterministic embedder.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from ragline.rag.chunker import chunks_from_spans, document_sections
from ragline.text import sentences
from ragline.tokens import get_encoding
from ragline.types import Chunk, Document

if TYPE_CHECKING:
    from collections.abc import Callable

    import tiktoken

    from ragline.protocols import Embedder

Breakpoint = Literal["percentile", "stddev", "iqr"]

_BREAKPOINTS: tuple[Breakpoint, ...] = ("percentile", "stddev", "iqr")
_DEFAULT_THRESHOLDS: dict[str, float] = {"percentile": 90.0, "stddev": 1.5, "iqr": 1.5}
_WORD = re.compile(r"\S+")
_HEADING = re.compile(r"#{1,6}[ \t]")
_ESTIMATE_SLACK = 2  # a span whose summed unit tokens exceed this x max is not encoded

_Unit = tuple[int, int, int]  # (start, end, tokens) of a sentence or a run of words
_Group = tuple[int, int, int]  # (first unit, last unit, tokens) of a candidate chunk


class SemanticChunker:
    """Split documents where adjacent sentences' embeddings drift apart, within token bounds.

    ``embedder`` embeds the sentences (one ``embed_documents`` call per
    document). Chunks have at most ``max_tokens`` tokens of ``encoding`` (a
    lone word longer than that excepted) and, where the section and the
    maximum allow, at least ``min_tokens``. ``breakpoint`` picks the rule that
    decides which distances are topic shifts and ``threshold`` its parameter:
    the percentile for ``"percentile"`` (0 to 100, default 90), the number of
    standard deviations above the mean for ``"stddev"`` (default 1.5), the
    number of interquartile ranges above the third quartile for ``"iqr"``
    (default 1.5). See the module docstring for the algorithm.

    Raises ValueError unless ``min_tokens >= 0``, ``max_tokens > min_tokens``,
    ``breakpoint`` is one of the three rules and ``threshold`` is finite
    (and within 0..100 for ``"percentile"``).
    """

    def __init__(self, embedder: Embedder, *, min_tokens: int = 40, max_tokens: int = 180,
                 breakpoint: Breakpoint = "percentile", threshold: float | None = None,
                 encoding: str = "cl100k_base") -> None:
        if min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, but got {min_tokens}")
        if max_tokens <= min_tokens:
            raise ValueError("max_tokens must be > min_tokens, "
                             f"but got {max_tokens} <= {min_tokens}")
        if breakpoint not in _BREAKPOINTS:
            raise ValueError(f"breakpoint must be one of {', '.join(_BREAKPOINTS)}, "
                             f"but got {breakpoint!r}")
        value = _DEFAULT_THRESHOLDS[breakpoint] if threshold is None else float(threshold)
        if not math.isfinite(value):
            raise ValueError(f"threshold must be finite, but got {threshold}")
        if breakpoint == "percentile" and not 0 <= value <= 100:
            raise ValueError(f"a percentile threshold must be in [0, 100], but got {threshold}")
        self.embedder = embedder
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.breakpoint: Breakpoint = breakpoint
        self.threshold = value
        self._encoding: tiktoken.Encoding = get_encoding(encoding)

    def split(self, document: Document) -> list[Chunk]:
        """Return the document's chunks in order, positions ``0..n-1``, deterministic ids.

        Chunk metadata holds ``start``, ``end``, ``heading_path`` and the
        document's ``source``, ``title`` and ``format`` (and ``page`` for PDFs).
        """
        text = document.text
        sections = document_sections(document)
        units = [self._units(text, section.start, section.end) for section in sections]
        flat = [unit for section_units in units for unit in section_units]
        if not flat:
            return []
        vectors = _normalised(self.embedder.embed_documents([text[s:e] for s, e, _ in flat]))
        # distances[i][k]: between units k and k+1 of section i; -inf after an opening heading.
        distances: list[list[float]] = []
        offset = 0
        for section, section_units in zip(sections, units, strict=True):
            count = len(section_units)
            block = vectors[offset:offset + count]
            raw: list[float] = (1.0 - np.sum(block[:-1] * block[1:], axis=1)).tolist()
            heading = 0
            while (section.heading_path and heading < count - 1
                   and _HEADING.match(text, section_units[heading][0])):
                heading += 1
            distances.append([-math.inf if k < heading else d for k, d in enumerate(raw)])
            offset += count
        cutoff = self._cutoff([d for ds in distances for d in ds if d != -math.inf])

        return chunks_from_spans(document, (
            (section_units[first][0], section_units[last][1], section.heading_path)
            for section, section_units, section_distances in zip(sections, units, distances,
                                                                 strict=True)
            for first, last, _ in self._groups(text, section_units, section_distances, cutoff)))

    def _count(self, span: str) -> int:
        return len(self._encoding.encode_ordinary(span))

    def _units(self, text: str, start: int, end: int) -> list[_Unit]:
        """The sentences of ``text[start:end]``, over-long ones split into runs of words."""
        units: list[_Unit] = []
        for s, e in sentences(text[start:end]):
            s, e = s + start, e + start
            tokens = self._count(text[s:e])
            if tokens <= self.max_tokens:
                units.append((s, e, tokens))
            else:
                units.extend(self._word_runs(text, s, e))
        return units

    def _word_runs(self, text: str, start: int, end: int) -> list[_Unit]:
        """Split ``text[start:end]`` greedily into runs of whole words of at most max tokens."""
        words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
        runs: list[_Unit] = []
        i = 0
        while i < len(words):
            total = self._count(text[words[i][0]:words[i][1]])
            j = i
            while j + 1 < len(words):  # estimate: each word counted with the gap before it
                grown = total + self._count(text[words[j][1]:words[j + 1][1]])
                if grown > self.max_tokens:
                    break
                total, j = grown, j + 1
            tokens = self._count(text[words[i][0]:words[j][1]])
            while tokens > self.max_tokens and j > i:  # the estimate was short: back off
                j -= 1
                tokens = self._count(text[words[i][0]:words[j][1]])
            runs.append((words[i][0], words[j][1], tokens))
            i = j + 1
        return runs

    def _cutoff(self, distances: list[float]) -> float:
        """The distance above which adjacent units are a breakpoint, by the chosen rule."""
        if not distances:
            return math.inf
        values = np.asarray(distances, dtype=np.float64)
        if self.breakpoint == "percentile":
            return float(np.percentile(values, self.threshold))
        if self.breakpoint == "stddev":
            return float(values.mean() + self.threshold * values.std())
        q1, q3 = np.percentile(values, [25.0, 75.0])
        return float(q3 + self.threshold * (q3 - q1))

    def _groups(self, text: str, units: list[_Unit], distances: list[float],
                cutoff: float) -> list[_Group]:
        """Group one section's units: cut at breakpoints, then bound above and below."""
        prefix = [0]
        for unit in units:
            prefix.append(prefix[-1] + unit[2])

        def tokens(first: int, last: int) -> int:
            if first == last:
                return units[first][2]
            estimate = prefix[last + 1] - prefix[first]
            if estimate > _ESTIMATE_SLACK * self.max_tokens:
                return estimate  # certainly too long; not worth encoding
            return self._count(text[units[first][0]:units[last][1]])

        semantic: list[tuple[int, int]] = []
        first = 0
        for k, distance in enumerate(distances):
            if distance > cutoff:
                semantic.append((first, k))
                first = k + 1
        semantic.append((first, len(units) - 1))

        groups: list[_Group] = []
        for span in semantic:
            stack = [span]
            while stack:  # depth first, left part first: groups come out in order
                first, last = stack.pop()
                count = tokens(first, last)
                if count <= self.max_tokens or first == last:
                    groups.append((first, last, count))
                    continue
                cut = max(range(first, last), key=lambda k: (distances[k], -k))
                stack.append((cut + 1, last))
                stack.append((first, cut))
        return self._merge_small(groups, distances, tokens)

    def _merge_small(self, groups: list[_Group], distances: list[float],
                     tokens: Callable[[int, int], int]) -> list[_Group]:
        """Merge groups under min tokens into a neighbour, the closer one first, within max."""
        merged = True
        while merged:
            merged = False
            i = 0
            while i < len(groups):
                first, last, count = groups[i]
                if count >= self.min_tokens:
                    i += 1
                    continue
                options: list[tuple[float, int]] = []
                if i > 0:
                    options.append((distances[first - 1], i - 1))
                if i + 1 < len(groups):
                    options.append((distances[last], i + 1))
                for _, j in sorted(options):
                    a, b = min(i, j), max(i, j)
                    joined = tokens(groups[a][0], groups[b][1])
                    if joined <= self.max_tokens:
                        groups[a:b + 1] = [(groups[a][0], groups[b][1], joined)]
                        i, merged = a, True
                        break
                else:
                    i += 1
        return groups


def _normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Rows scaled to unit length (zero rows stay zero), as float64."""
    values = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    result: npt.NDArray[np.float64] = np.divide(values, norms, out=np.zeros_like(values),
                                                where=norms > 0)
    return result
