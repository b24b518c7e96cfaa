"""Tests of the semantic chunker: exact spans, coverage, token bounds, sentences, breakpoints."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.chunker import _sections
from ragline.rag.semantic_chunker import SemanticChunker
from ragline.text import sentences
from ragline.tokens import get_encoding
from ragline.types import Chunk, Document, chunk_id_for

ENCODING = get_encoding("cl100k_base")

CATS = [
    "Cats are small carnivorous mammals that people keep as pets.",
    "A cat spends most of the day sleeping in a warm spot.",
    "Kittens learn to hunt by playing with their mother and littermates.",
    "Many cats purr when they are content and being stroked.",
]
STOCKS = [
    "The stock market fell sharply after the central bank raised interest rates.",
    "Investors sold shares of technology companies amid fears of a recession.",
    "Bond yields climbed as traders priced in further monetary tightening.",
    "Analysts expect equity prices to remain volatile through the next quarter.",
]


def tokens(text: str) -> int:
    return len(ENCODING.encode_ordinary(text))


_CACHE: dict[str, npt.NDArray[np.float32]] = {}


class CountingEmbedder:
    """Wraps the real embedder, records each ``embed_documents`` batch, caches vectors."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        missing = list(dict.fromkeys(t for t in texts if t not in _CACHE))
        if missing:  # the real model, each distinct text embedded once per test session
            _CACHE.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        if not texts:
            return self.inner.embed_documents([])
        vectors: npt.NDArray[np.float32] = np.stack([_CACHE[t] for t in texts])
        return vectors

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.inner.embed_query(text)


class AngleEmbedder:
    """Embeds sentence ``S<i> ...`` as a 2-D unit vector whose angle makes the distance
    between sentences ``i`` and ``i+1`` exactly ``distances[i]`` (other texts as ``S0``)."""

    dimension = 2

    def __init__(self, distances: list[float]) -> None:
        angles = np.concatenate([[0.0], np.cumsum(np.arccos(1.0 - np.asarray(distances)))])
        self.vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)

    def embed_documents(self, texts: list[str]) -> npt.NDArray[np.float32]:
        matches = [re.match(r"S(\d+)", t) for t in texts]
        return self.vectors[[int(m.group(1)) if m else 0 for m in matches]]

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector


def numbered(count: int, filler: str = "is a short sentence") -> str:
    return " ".join(f"S{i} {filler}." for i in range(count))


def spans(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.metadata["start"], c.metadata["end"]) for c in chunks]


def check_chunks(text: str, chunks: list[Chunk], min_tokens: int, max_tokens: int,
                 markdown: bool) -> None:
    """Every promise of the module docstring, checked on one split."""
    sections = _sections(text, markdown=markdown)
    sentence_spans = [(s + sec.start, e + sec.start) for sec in sections
                      for s, e in sentences(text[sec.start:sec.end])]
    starts = {s for s, _ in sentence_spans}
    ends = {e for _, e in sentence_spans}

    def inside_long_sentence(position: int) -> bool:
        return any(s < position < e and tokens(text[s:e]) > max_tokens
                   for s, e in sentence_spans)

    def section_of(chunk: Chunk) -> int:
        start = chunk.metadata["start"]
        [index] = [i for i, sec in enumerate(sections) if sec.start <= start < sec.end]
        return index

    covered = bytearray(len(text))
    for position, chunk in enumerate(chunks):
        start, end = chunk.metadata["start"], chunk.metadata["end"]
        assert chunk.position == position
        assert chunk.text == text[start:end]
        assert chunk.text and chunk.text == chunk.text.strip()
        section = sections[section_of(chunk)]
        assert end <= section.end  # never crosses a heading
        assert chunk.metadata["heading_path"] == section.heading_path
        # Cuts fall on sentence boundaries, or between words inside an over-long sentence.
        assert start in starts or (inside_long_sentence(start) and text[start - 1].isspace())
        assert end in ends or (inside_long_sentence(end) and text[end].isspace())
        assert tokens(chunk.text) <= max_tokens or not any(c.isspace() for c in chunk.text)
        covered[start:end] = b"\x01" * (end - start)
    lost = [c for c, seen in zip(text, covered, strict=True) if not seen and not c.isspace()]
    assert lost == []
    for before, after in itertools.pairwise(chunks):
        assert before.metadata["end"] < after.metadata["start"]  # in order, no overlap
    # A chunk under the minimum is its whole section, or could not merge within the maximum.
    for index, chunk in enumerate(chunks):
        if tokens(chunk.text) >= min_tokens:
            continue
        section = sections[section_of(chunk)]
        if (chunk.metadata["start"], chunk.metadata["end"]) == (section.start, section.end):
            continue
        for other in (index - 1, index + 1):
            if 0 <= other < len(chunks) and section_of(chunks[other]) == section_of(chunk):
                low, high = min(index, other), max(index, other)
                joined = text[chunks[low].metadata["start"]:chunks[high].metadata["end"]]
                assert tokens(joined) > max_tokens


WORDS = st.one_of(
    st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "market", "shares", "fell",
                     "naïve", "日本", "x1", "(ok)", "end.", "why?", "wow!", "don't", "e.g.",
                     "—", "#tag", "Rain", "Paris", "42"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10),
    st.text(alphabet="abcdefghij0123456789", min_size=60, max_size=160),  # over small maxima
)
SPACES = st.sampled_from([" ", " ", " ", " ", "  ", "\t", " \n"])
SENTENCES = st.builds(
    lambda words, gaps, end: ("".join(w + g for w, g in zip(words, gaps, strict=False))
                              .strip().capitalize() + end),
    st.lists(WORDS, min_size=1, max_size=24), st.lists(SPACES, min_size=24, max_size=24),
    st.sampled_from([".", ".", "!", "?", ""]),
)
PARAGRAPHS = st.lists(SENTENCES, min_size=1, max_size=4).map(" ".join)
HEADINGS = st.builds(lambda level, words: "#" * level + " " + " ".join(words),
                     st.integers(1, 3), st.lists(WORDS, min_size=1, max_size=3))
TEXTS = st.builds(
    lambda blocks, gap, lead, trail: lead + gap.join(blocks) + trail,
    st.lists(st.one_of(PARAGRAPHS, HEADINGS), min_size=0, max_size=5),
    st.sampled_from(["\n\n", "\n", "\n \n\n"]),
    st.sampled_from(["", "\n", "  "]), st.sampled_from(["", "\n", " \n "]),
)
BOUNDS = st.sampled_from([(0, 12), (5, 20), (20, 60), (40, 180)])
RULES = st.sampled_from(["percentile", "stddev", "iqr"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, bounds=BOUNDS, rule=RULES, fmt=st.sampled_from(["md", "txt"]))
def test_chunks_are_exact_complete_bounded_and_whole_sentences(
        embedder: SentenceTransformerEmbedder, text: str, bounds: tuple[int, int],
        rule: str, fmt: str) -> None:
    min_tokens, max_tokens = bounds
    counting = CountingEmbedder(embedder)
    chunker = SemanticChunker(counting, min_tokens=min_tokens, max_tokens=max_tokens,
                              breakpoint=rule)  # type: ignore[arg-type]
    document = Document("doc", text, {"format": fmt, "source": "/doc", "title": "T"})
    chunks = chunker.split(document)
    check_chunks(text, chunks, min_tokens, max_tokens, markdown=fmt == "md")
    assert len(counting.calls) == (1 if text.strip() else 0)  # one batch per document
    for chunk in chunks:
        assert chunk.id == chunk_id_for("doc", chunk.position, chunk.text)
        assert (chunk.metadata["source"], chunk.metadata["title"]) == ("/doc", "T")
        assert chunk.metadata["format"] == fmt
        if fmt == "txt":
            assert chunk.metadata["heading_path"] == []
    assert chunker.split(document) == chunks  # deterministic, ids included
    assert len(counting.calls) == (2 if text.strip() else 0)


@pytest.mark.parametrize(("rule", "threshold"), [
    ("percentile", None), ("stddev", None), ("iqr", 1.0),
])
def test_cuts_between_two_topics(embedder: SentenceTransformerEmbedder, rule: str,
                                 threshold: float | None) -> None:
    text = " ".join(CATS + STOCKS)
    chunker = SemanticChunker(embedder, min_tokens=10, breakpoint=rule,  # type: ignore[arg-type]
                              threshold=threshold)
    chunks = chunker.split(Document("topics", text))
    assert [c.text for c in chunks] == [" ".join(CATS), " ".join(STOCKS)]


def test_each_sentence_is_embedded_once_in_one_call(embedder: SentenceTransformerEmbedder) -> None:
    text = f"# Pets\n\n{' '.join(CATS)}\n\n# Money\n\n{' '.join(STOCKS)}"
    counting = CountingEmbedder(embedder)
    SemanticChunker(counting, min_tokens=0).split(Document("d", text, {"format": "md"}))
    assert counting.calls == [["# Pets", *CATS, "# Money", *STOCKS]]


@pytest.mark.parametrize(("rule", "threshold", "distances", "expected_cuts"), [
    # percentile: cut where the distance exceeds that percentile of all distances.
    ("percentile", 50.0, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [5, 6, 7, 8]),
    ("percentile", 80.0, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [7, 8]),
    ("percentile", None, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.95, 0.3], [7]),  # p90 = .59
    ("percentile", 100.0, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.95, 0.3], []),
    # stddev: mean 0.189, std 0.251 -> 1.5 sd cut-off 0.566, 3 sd cut-off 0.943.
    ("stddev", None, [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1], [7]),
    ("stddev", 3.0, [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1], []),
    ("stddev", 0.0, [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1], [7]),
    # iqr: Q1 0.3, Q3 0.45 -> 1.5 IQR cut-off 0.675, 0 IQR cut-off 0.45.
    ("iqr", None, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.95, 0.3], [7]),
    ("iqr", 0.0, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.95, 0.3], [6, 7]),
    ("iqr", 4.0, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.95, 0.3], []),
])
def test_breakpoint_rules(rule: str, threshold: float | None, distances: list[float],
                          expected_cuts: list[int]) -> None:
    text = numbered(len(distances) + 1)
    chunker = SemanticChunker(AngleEmbedder(distances), min_tokens=0, breakpoint=rule,  # type: ignore[arg-type]
                              threshold=threshold)
    chunks = chunker.split(Document("rules", text))
    cuts = [int(re.match(r"S(\d+)", c.text).group(1)) - 1 for c in chunks[1:]]  # type: ignore[union-attr]
    assert cuts == expected_cuts


def test_default_thresholds_are_documented() -> None:
    embedder = AngleEmbedder([0.5])
    assert SemanticChunker(embedder).threshold == 90.0
    assert SemanticChunker(embedder, breakpoint="stddev").threshold == 1.5
    assert SemanticChunker(embedder, breakpoint="iqr").threshold == 1.5
    assert (SemanticChunker(embedder).min_tokens, SemanticChunker(embedder).max_tokens) == (40, 180)


def test_a_long_group_is_cut_at_its_largest_distance() -> None:
    distances = [0.1, 0.2, 0.8, 0.3, 0.1]
    text = numbered(6)
    assert tokens(text) == 42
    chunker = SemanticChunker(AngleEmbedder(distances), min_tokens=0, max_tokens=22,
                              threshold=100.0)  # no semantic breakpoint at all
    chunks = chunker.split(Document("long", text))
    assert [c.text for c in chunks] == [numbered(3), text[len(numbered(3)) + 1:]]
    assert all(tokens(c.text) <= 22 for c in chunks)


def test_a_small_group_joins_its_closer_neighbour_within_the_maximum() -> None:
    mid, long = "is of middling length", "is a considerably longer sentence with many more words"
    text = f"S0 {mid}. S1 {mid}. S2 short. S3 {long}. S4 {long}."
    # Breakpoints around S2 only (p50 = 0.5); S2 alone is under the minimum.
    closer_right = AngleEmbedder([0.1, 0.9, 0.8, 0.2])
    chunks = SemanticChunker(closer_right, min_tokens=10, threshold=50.0).split(
        Document("m", text))
    assert [c.text[:2] for c in chunks] == ["S0", "S2"]
    closer_left = AngleEmbedder([0.1, 0.8, 0.9, 0.2])
    chunks = SemanticChunker(closer_left, min_tokens=10, threshold=50.0).split(
        Document("m", text))
    assert [c.text[:2] for c in chunks] == ["S0", "S3"]
    # When the closer neighbour has no room, the other one takes it.
    right = tokens(text[text.index("S3"):])
    assert tokens(text[text.index("S2"):]) > right >= tokens(text[:text.index(" S3")])
    chunks = SemanticChunker(closer_right, min_tokens=10, max_tokens=right,
                             threshold=50.0).split(Document("m", text))
    assert [c.text[:2] for c in chunks] == ["S0", "S3"]


def test_an_over_long_sentence_is_cut_between_words() -> None:
    words = [f"w{i}" for i in range(120)]
    text = "S0 " + " ".join(words) + ". S1 ends it."
    chunks = SemanticChunker(AngleEmbedder([0.5, 0.5]), min_tokens=0, max_tokens=20).split(
        Document("o", text))
    assert len(chunks) > 5
    assert " ".join(c.text for c in chunks) == text
    assert all(tokens(c.text) <= 20 for c in chunks)
    check_chunks(text, chunks, 0, 20, markdown=True)


def test_a_word_longer_than_the_maximum_is_its_own_chunk(
        embedder: SentenceTransformerEmbedder) -> None:
    long_word = "".join(chr(ord("a") + (i * 7) % 26) for i in range(400))
    text = f"Short start here. {long_word} short end."
    chunks = SemanticChunker(embedder, min_tokens=0, max_tokens=20).split(Document("l", text))
    assert long_word in [c.text for c in chunks]
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")
    assert tokens(long_word) > 20


def test_heading_paths_and_headings_stay_with_their_text(
        embedder: SentenceTransformerEmbedder) -> None:
    text = (
        "Preamble before any heading.\n\n"
        "# Pets\n\n" + " ".join(CATS) + "\n\n"
        "## Kittens\n\nKittens sleep a lot.\n\n"
        "# Money\n## Markets\n\n" + " ".join(STOCKS) + "\n"
    )
    document = Document("g", text, {"format": "md", "title": "Guide"})
    chunks = SemanticChunker(embedder, min_tokens=0, threshold=0.0).split(document)
    check_chunks(text, chunks, 0, 180, markdown=True)
    paths = [c.metadata["heading_path"] for c in chunks]
    assert paths[0] == []
    assert {tuple(p) for p in paths} == {(), ("Pets",), ("Pets", "Kittens"), ("Money", "Markets")}
    for chunk in chunks:
        assert not re.fullmatch(r"(#+ [^\n]*\n?)+", chunk.text)  # never a heading on its own
    assert [c.text for c in chunks if c.metadata["heading_path"] == ["Pets", "Kittens"]] == [
        "## Kittens\n\nKittens sleep a lot."]
    assert all(c.metadata["title"] == "Guide" for c in chunks)
    # The minimum merges within a section but never across a heading.
    merged = SemanticChunker(embedder, min_tokens=100).split(document)
    check_chunks(text, merged, 100, 180, markdown=True)
    assert [c.metadata["heading_path"] for c in merged] == [
        [], ["Pets"], ["Pets", "Kittens"], ["Money", "Markets"]]


def test_pdf_chunks_carry_their_page() -> None:
    page_one, page_two = numbered(4), numbered(8)[len(numbered(4)) + 1:]
    text = f"{page_one}\n\n{page_two}"
    pages = [[0, len(page_one), 1], [len(page_one) + 2, len(text), 2]]
    chunks = SemanticChunker(AngleEmbedder([0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]),
                             min_tokens=0).split(
        Document("pdf", text, {"format": "pdf", "pages": pages}))
    assert [(c.text, c.metadata["page"]) for c in chunks] == [(page_one, 1), (page_two, 2)]
    assert all("pages" not in c.metadata for c in chunks)


def test_short_and_empty_documents(embedder: SentenceTransformerEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    chunker = SemanticChunker(counting)
    assert chunker.split(Document("e", "")) == []
    assert chunker.split(Document("e", " \n\t ")) == []
    assert counting.calls == []
    [chunk] = chunker.split(Document("s", "  Just one line.  \n"))
    assert (chunk.text, chunk.metadata["start"], chunk.metadata["end"]) == ("Just one line.", 2, 16)
    assert chunk.metadata["heading_path"] == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_tokens": 40, "max_tokens": 40}, "max_tokens must be > min_tokens, but got 40 <= 40"),
    ({"min_tokens": 50, "max_tokens": 20}, "max_tokens must be > min_tokens, but got 20 <= 50"),
    ({"min_tokens": -1}, "min_tokens must be >= 0, but got -1"),
    ({"breakpoint": "gradient"},
     "breakpoint must be one of percentile, stddev, iqr, but got 'gradient'"),
    ({"threshold": 101.0}, "a percentile threshold must be in [0, 100], but got 101.0"),
    ({"threshold": -5.0}, "a percentile threshold must be in [0, 100], but got -5.0"),
    ({"breakpoint": "stddev", "threshold": math.nan}, "threshold must be finite, but got nan"),
])
def test_bad_parameters_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SemanticChunker(AngleEmbedder([0.5]), **kwargs)  # type: ignore[arg-type]
