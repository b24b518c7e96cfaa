"""Citation markers resolve to chunks; markers pointing at nothing are dropped."""

from __future__ import annotations

from ragline.app.citations import resolve_citations
from ragline.types import Chunk, ScoredChunk

PASSAGES = [ScoredChunk(Chunk.create("a.md", "Alpha text.", {"start": 10, "end": 21}, 0), 0.9),
            ScoredChunk(Chunk.create("b.md", "Beta text.", {"start": 0, "end": 10}, 3), 0.5)]


def test_markers_become_citations_in_first_use_order() -> None:
    text, citations = resolve_citations("Beta first [2]. Then alpha [1]. Both [1, 2].", PASSAGES)
    assert text == "Beta first [2]. Then alpha [1]. Both [1, 2]."
    assert [c.marker for c in citations] == [2, 1]
    assert citations[0].chunk_id == PASSAGES[1].chunk.id
    assert citations[0].doc_id == "b.md"
    assert citations[1].span == (10, 21)


def test_markers_pointing_at_nothing_are_dropped() -> None:
    text, citations = resolve_citations("Made up [7]. Mixed [2, 9]. None [0].", PASSAGES)
    assert text == "Made up. Mixed [2]. None."
    assert [c.marker for c in citations] == [2]


def test_no_markers_no_citations() -> None:
    assert resolve_citations("Plain answer.", PASSAGES) == ("Plain answer.", ())
