"""Context packing respects the token budget and keeps rank order."""

from __future__ import annotations

import pytest

from ragline.rag.packing import pack_context
from ragline.types import Chunk, ScoredChunk


def ranked(*texts: str) -> list[ScoredChunk]:
    return [ScoredChunk(Chunk.create("d", t, {}, i), 1.0 - i / 10) for i, t in enumerate(texts)]


def words(text: str) -> int:
    return len(text.split())


def test_takes_chunks_in_rank_order_until_the_budget_is_full() -> None:
    items = ranked("one two three", "four five", "six seven eight nine", "ten")
    packed = pack_context(items, max_tokens=6, count_tokens=words)
    assert [p.chunk.text for p in packed.passages] == ["one two three", "four five"]
    assert packed.tokens == 5


def test_an_oversized_first_chunk_is_still_packed_alone() -> None:
    packed = pack_context(ranked("a b c d e f g h", "i"), max_tokens=3, count_tokens=words)
    assert [p.chunk.text for p in packed.passages] == ["a b c d e f g h"]


def test_duplicates_are_packed_once() -> None:
    item = ranked("same text")[0]
    assert len(pack_context([item, item], max_tokens=10, count_tokens=words).passages) == 1


def test_bad_budget() -> None:
    with pytest.raises(ValueError, match="max_tokens must be > 0, but got 0"):
        pack_context([], max_tokens=0, count_tokens=words)
