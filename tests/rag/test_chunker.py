"""Tests of the recursive chunker: exact spans, coverage, size bound, overlap, headings."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.rag.chunker import RecursiveChunker
from ragline.tokens import get_encoding
from ragline.types import Chunk, Document, chunk_id_for

ENCODING = get_encoding("cl100k_base")


def tokens(text: str) -> int:
    return len(ENCODING.encode_ordinary(text))


def sentence(n: int, words: str = "alpha beta gamma delta") -> str:
    """A sentence of ``n`` words ending with a full stop."""
    vocab = words.split()
    return " ".join(vocab[i % len(vocab)] for i in range(n)).capitalize() + "."


# Random documents: headings, paragraphs of sentences, odd whitespace, some very long words.
WORDS = st.one_of(
    st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "naïve", "日本", "x1", "(ok)",
                     "end.", "why?", "wow!", "don't", "e.g.", "—", "#tag"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
    st.text(alphabet="abcdefghij0123456789", min_size=60, max_size=200),  # longer than a chunk
)
SPACES = st.sampled_from([" ", " ", " ", "  ", "\t", " \n", "\n"])
SENTENCES = st.builds(
    lambda words, gaps, end: "".join(w + g for w, g in zip(words, gaps, strict=False)) + end,
    st.lists(WORDS, min_size=1, max_size=25), st.lists(SPACES, min_size=25, max_size=25),
    st.sampled_from([".", "!", "?", ""]),
)
PARAGRAPHS = st.lists(SENTENCES, min_size=1, max_size=6).map(" ".join)
HEADINGS = st.builds(lambda level, words: "#" * level + " " + " ".join(words),
                     st.integers(1, 4), st.lists(WORDS, min_size=1, max_size=4))
BLOCKS = st.lists(st.one_of(PARAGRAPHS, HEADINGS), min_size=0, max_size=12)
TEXTS = st.builds(
    lambda blocks, gap, lead, trail: lead + gap.join(blocks) + trail,
    BLOCKS, st.sampled_from(["\n\n", "\n", "\n \n\n", "\r\n\r\n"]),
    st.sampled_from(["", "\n", "  "]), st.sampled_from(["", "\n", " \n "]),
)
SIZES = st.sampled_from([(12, 0), (12, 5), (20, 6), (40, 10), (60, 59)])


def check_chunks(text: str, chunks: list[Chunk], size: int, overlap: int) -> None:
    covered = bytearray(len(text))
    for position, chunk in enumerate(chunks):
        start, end = chunk.metadata["start"], chunk.metadata["end"]
        assert chunk.position == position
        assert chunk.text == text[start:end]
        assert chunk.text and chunk.text == chunk.text.strip()
        # Boundaries fall on whitespace or the ends of the text: words are never cut.
        assert start == 0 or text[start - 1].isspace()
        assert end == len(text) or text[end].isspace()
        assert tokens(chunk.text) <= size or not any(c.isspace() for c in chunk.text)
        covered[start:end] = b"\x01" * (end - start)
    lost = [c for c, seen in zip(text, covered, strict=True) if not seen and not c.isspace()]
    assert lost == []
    for before, after in itertools.pairwise(chunks):
        assert before.metadata["start"] < after.metadata["start"]
        assert before.metadata["end"] < after.metadata["end"]
        if after.metadata["start"] < before.metadata["end"]:
            shared = text[after.metadata["start"]:before.metadata["end"]]
            assert tokens(shared) <= overlap
            assert after.metadata["heading_path"] == before.metadata["heading_path"]


@settings(max_examples=50, deadline=None)
@given(text=TEXTS, sizes=SIZES, fmt=st.sampled_from(["md", "txt"]))
def test_chunks_are_exact_complete_and_bounded(text: str, sizes: tuple[int, int],
                                               fmt: str) -> None:
    size, overlap = sizes
    chunker = RecursiveChunker(size_tokens=size, overlap_tokens=overlap)
    document = Document("doc", text, {"format": fmt, "source": "/doc", "title": "T"})
    chunks = chunker.split(document)
    check_chunks(text, chunks, size, overlap)
    for chunk in chunks:
        assert chunk.id == chunk_id_for("doc", chunk.position, chunk.text)
        assert chunk.metadata["source"] == "/doc"
        if fmt == "txt":
            assert chunk.metadata["heading_path"] == []
    assert chunker.split(document) == chunks  # deterministic, ids included


def test_heading_paths_follow_markdown_structure() -> None:
    text = (
        "Preamble before any heading.\n\n"
        "# Guide\n\nWelcome to the guide.\n\n"
        "## Install\n\nRun pip install ragline.\n\n"
        "```bash\n# a comment, not a heading\npip list\n```\n\n"
        "### Extras ###\n\nOptional parts.\n\n"
        "## Use\n\nAsk a question.\n\n"
        "# Appendix\n## Notes\n\nA deeper heading right after its parent stays with it.\n"
    )
    chunks = RecursiveChunker(size_tokens=100, overlap_tokens=10).split(
        Document("guide", text, {"format": "md", "title": "Guide"}))
    assert [(c.text.split("\n")[0], c.metadata["heading_path"]) for c in chunks] == [
        ("Preamble before any heading.", []),
        ("# Guide", ["Guide"]),
        ("## Install", ["Guide", "Install"]),
        ("### Extras ###", ["Guide", "Install", "Extras"]),
        ("## Use", ["Guide", "Use"]),
        ("# Appendix", ["Appendix", "Notes"]),
    ]
    assert "# a comment, not a heading" in chunks[2].text
    assert all(c.metadata["format"] == "md" and c.metadata["title"] == "Guide" for c in chunks)


def test_headings_are_plain_lines_outside_markdown() -> None:
    text = "# Not a heading in a text file\n\nbody text"
    chunks = RecursiveChunker().split(Document("t", text, {"format": "txt"}))
    assert [(c.text, c.metadata["heading_path"]) for c in chunks] == [(text, [])]


def test_long_paragraph_chunks_overlap() -> None:
    text = " ".join(sentence(n) for n in [7, 9, 5, 11, 6, 8, 10, 7, 9, 5, 6] * 4)
    chunker = RecursiveChunker(size_tokens=40, overlap_tokens=12)
    chunks = chunker.split(Document("p", text))
    assert len(chunks) > 3
    check_chunks(text, chunks, 40, 12)
    for before, after in itertools.pairwise(chunks):
        shared = text[after.metadata["start"]:before.metadata["end"]]
        assert after.metadata["start"] < before.metadata["end"]
        assert before.text.endswith(shared)
        assert after.text.startswith(shared)
        assert 0 < tokens(shared) <= 12
        assert shared[0].isupper()  # the overlap starts at a sentence start


def test_overlap_falls_back_to_whole_words() -> None:
    text = " ".join(f"word{i}" for i in range(300))  # no sentence ends at all
    chunks = RecursiveChunker(size_tokens=30, overlap_tokens=8).split(Document("w", text))
    check_chunks(text, chunks, 30, 8)
    for before, after in itertools.pairwise(chunks):
        shared = text[after.metadata["start"]:before.metadata["end"]]
        assert 0 < tokens(shared) <= 8
        assert shared.startswith("word")


def test_no_overlap_without_overlap_tokens() -> None:
    text = " ".join(sentence(8) for _ in range(40))
    chunks = RecursiveChunker(size_tokens=30, overlap_tokens=0).split(Document("n", text))
    for before, after in itertools.pairwise(chunks):
        assert after.metadata["start"] > before.metadata["end"]


def test_overlap_never_crosses_a_heading() -> None:
    body = " ".join(sentence(9) for _ in range(12))
    text = f"# One\n\n{body}\n\n## Two\n\n{body}\n"
    chunks = RecursiveChunker(size_tokens=40, overlap_tokens=15).split(Document("h", text))
    check_chunks(text, chunks, 40, 15)
    second = text.index("## Two")
    firsts = [c for c in chunks if c.metadata["heading_path"] == ["One", "Two"]]
    assert firsts[0].metadata["start"] == second
    assert all(c.metadata["end"] < second for c in chunks if c.metadata["start"] < second)
    shared_within = [a.metadata["start"] < b.metadata["end"]
                     for b, a in itertools.pairwise(chunks)]
    assert shared_within.count(False) == 1  # only at the heading


def test_a_word_longer_than_the_budget_is_its_own_chunk() -> None:
    long_word = "".join(chr(ord("a") + (i * 7) % 26) for i in range(400))
    text = f"short start. {long_word} short end."
    chunks = RecursiveChunker(size_tokens=20, overlap_tokens=5).split(Document("l", text))
    assert [c.text for c in chunks] == ["short start.", long_word, "short end."]
    assert tokens(long_word) > 20


def test_pdf_chunks_carry_their_page() -> None:
    page_one = " ".join(sentence(10) for _ in range(10))
    page_two = " ".join(sentence(10, "delta epsilon zeta") for _ in range(10))
    text = f"{page_one}\n\n{page_two}"
    pages = [[0, len(page_one), 1], [len(page_one) + 2, len(text), 2]]
    chunks = RecursiveChunker(size_tokens=50, overlap_tokens=10).split(
        Document("pdf", text, {"format": "pdf", "pages": pages}))
    for chunk in chunks:
        expected = 1 if chunk.metadata["start"] < len(page_one) else 2
        assert chunk.metadata["page"] == expected
        assert "pages" not in chunk.metadata
    assert {c.metadata["page"] for c in chunks} == {1, 2}


def test_short_and_empty_documents() -> None:
    chunker = RecursiveChunker()
    assert chunker.split(Document("e", "")) == []
    assert chunker.split(Document("e", " \n\t ")) == []
    [chunk] = chunker.split(Document("s", "  Just one line.  \n"))
    assert (chunk.text, chunk.metadata["start"], chunk.metadata["end"]) == ("Just one line.", 2, 16)
    assert chunk.metadata["heading_path"] == []


@pytest.mark.parametrize(("size", "overlap", "message"), [
    (180, 200, "overlap_tokens must be < size_tokens, but got 200 >= 180"),
    (180, 180, "overlap_tokens must be < size_tokens, but got 180 >= 180"),
    (180, -1, "overlap_tokens must be >= 0, but got -1"),
    (8, 0, "size_tokens must be > 8, but got 8"),
])
def test_bad_parameters_raise(size: int, overlap: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RecursiveChunker(size_tokens=size, overlap_tokens=overlap)
