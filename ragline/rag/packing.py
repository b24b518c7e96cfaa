"""Context packing: ranked chunks into a numbered, token-budgeted context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragline.types import ScoredChunk


@dataclass(frozen=True, slots=True)
class PackedContext:
    """The passages chosen for a prompt; ``passages[i]`` carries marker ``i + 1``."""

    passages: tuple[ScoredChunk, ...]
    tokens: int


def pack_context(ranked: Sequence[ScoredChunk], *, max_tokens: int,
                 count_tokens: Callable[[str], int]) -> PackedContext:
    """Take chunks in rank order until the next one would overflow ``max_tokens``.

    Order is stable (the retriever's rank, ties already broken by chunk id);
    duplicate chunk ids are packed once. A first chunk larger than the whole
    budget is still packed alone, so a non-empty ranking never yields an
    empty context.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be > 0, but got {max_tokens}")
    chosen: list[ScoredChunk] = []
    seen: set[str] = set()
    used = 0
    for item in ranked:
        if item.chunk.id in seen:
            continue
        size = count_tokens(item.chunk.text)
        if chosen and used + size > max_tokens:
            break
        chosen.append(item)
        seen.add(item.chunk.id)
        used += size
    return PackedContext(tuple(chosen), used)
