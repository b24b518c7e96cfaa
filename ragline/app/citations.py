"""Citation markers: parse ``[n]`` / ``[n, m]`` in an answer and resolve them to chunks.

Markers pointing at no packed passage are dropped from the text, so every
marker a user sees resolves to a :class:`~ragline.types.Citation`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragline.types import CITATION_MARKER, Citation, ScoredChunk

_MARKER_GROUP = re.compile(r"(?P<space>\s?)" + CITATION_MARKER)


def resolve_citations(text: str, passages: Sequence[ScoredChunk]
                      ) -> tuple[str, tuple[Citation, ...]]:
    """Return ``text`` without markers that point at nothing, and the valid citations in order.

    A citation's ``span`` is its chunk's ``(start, end)`` character offsets in
    the source document. Each marker number is cited once.
    """
    cited: dict[int, Citation] = {}

    def keep_valid(match: re.Match[str]) -> str:
        valid = []
        for number in (int(n) for n in match["numbers"].split(",")):
            if 1 <= number <= len(passages):
                valid.append(number)
                chunk = passages[number - 1].chunk
                cited.setdefault(number, Citation(
                    marker=number, chunk_id=chunk.id, doc_id=chunk.doc_id,
                    span=(int(chunk.metadata.get("start", 0)),
                          int(chunk.metadata.get("end", len(chunk.text))))))
        return f"{match['space']}[{', '.join(map(str, valid))}]" if valid else ""

    cleaned = _MARKER_GROUP.sub(keep_valid, text).strip()
    return cleaned, tuple(cited.values())

