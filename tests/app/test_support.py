"""The cheap support check behind the extractive fallback."""

from __future__ import annotations

from ragline.app.citations import resolve_citations
from ragline.app.support import check_support
from ragline.types import Chunk, ScoredChunk

PASSAGES = [ScoredChunk(Chunk.create("q.md", "Qdrant is a vector database written in Rust.", 0,
                                     {}), 1.0),
            ScoredChunk(Chunk.create("p.md", "Python is popular for machine learning.", 0, {}),
                        0.5)]


def verdict(answer: str) -> tuple[bool, float, str]:
    text, _ = resolve_citations(answer, PASSAGES)
    v = check_support(text, PASSAGES, min_support=0.5)
    return v.supported, v.support, v.reason


def test_grounded_cited_answer_is_supported() -> None:
    supported, support, _ = verdict("Qdrant is written in Rust [1].")
    assert supported and support == 1.0


def test_answer_without_valid_citation_is_not() -> None:
    assert verdict("Qdrant is written in Rust.") == (False, 0.0, "no valid citation")
    assert verdict("Qdrant is written in Rust [5].")[2] == "no valid citation"


def test_words_missing_from_the_cited_passage_count_against_it() -> None:
    supported, support, reason = verdict(
        "Qdrant was created by wizards in Atlantis using enchanted quartz [1].")
    assert not supported
    assert support < 0.5
    assert "content words in the passages it cites" in reason


def test_support_comes_from_the_cited_passage_only() -> None:
    # True of passage 1, but it cites passage 2.
    assert not verdict("Qdrant is a vector database written in Rust [2].")[0]


def test_each_sentence_needs_its_own_citation() -> None:
    supported, support, _ = verdict("Qdrant is a vector database [1]. "
                                    "Enchanted wizards maintain it from Atlantis forever.")
    assert not supported
    assert support < 0.5
    both = verdict("Qdrant is a vector database [1]. Python is popular for learning [2].")
    assert both[0] and both[1] == 1.0
