"""An :class:`~ragline.types.Answer` as the answer cache stores it, and back.

The stored form keeps what a served answer shows (text, citations, sources with their
chunks and scores, route, support check) and what serving it saves (the original
cost); the query id, timings and cost of the hit are the new query's own.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from ragline.types import (
    Answer,
    AnswerSupport,
    Chunk,
    Citation,
    CitationSupport,
    ClaimSupport,
    QueryCost,
    ScoredChunk,
)

CODEC_FORMAT = 1


def encode_answer(answer: Answer) -> str:
    """``answer`` as JSON text; its ``cost.total_usd`` is kept as what a hit saves."""
    return json.dumps({
        "format": CODEC_FORMAT,
        "text": answer.text,
        "citations": [asdict(c) for c in answer.citations],
        "sources": [{"chunk": asdict(s.chunk), "score": s.score,
                     "retrievers": list(s.retrievers)} for s in answer.sources],
        "route": answer.route,
        "saved_usd": None if answer.cost.total_usd is None else str(answer.cost.total_usd),
        "support": None if answer.support is None else asdict(answer.support),
    }, ensure_ascii=False, default=str)


def _support(data: dict[str, Any] | None) -> AnswerSupport | None:
    if data is None:
        return None
    return AnswerSupport(
        faithfulness=float(data["faithfulness"]),
        claims=tuple(ClaimSupport(c["claim"], c["verdict"], float(c["score"]),
                                  tuple(c.get("missing") or ())) for c in data["claims"]),
        citation_recall=float(data["citation_recall"]),
        citation_precision=float(data["citation_precision"]),
        citations=tuple(CitationSupport(c["sentence"], tuple(c["markers"]), bool(c["recalled"]),
                                        tuple(bool(p) for p in c["precise"]))
                        for c in data["citations"]),
        judge=str(data["judge"]), latency_ms=float(data["latency_ms"]))


def decode_answer(payload: str, *, cache: str) -> tuple[Answer, Decimal | None]:
    """The stored answer, marked ``cache`` (``exact``, ``semantic (similarity 0.94)``),
    with a zero cost and no timings yet; and what serving it saves (None: unpriced).

    Raises ``ValueError`` (or ``KeyError``) for a payload of another format.
    """
    data = json.loads(payload)
    if data.get("format") != CODEC_FORMAT:
        raise ValueError(f"cached answer format {data.get('format')!r}, not {CODEC_FORMAT}")
    sources = tuple(ScoredChunk(Chunk(**s["chunk"]), float(s["score"]), tuple(s["retrievers"]))
                    for s in data["sources"])
    citations = tuple(Citation(int(c["marker"]), c["chunk_id"], c["doc_id"],
                               (int(c["span"][0]), int(c["span"][1])))
                      for c in data["citations"])
    answer = Answer(text=data["text"], citations=citations, sources=sources,
                    route=data["route"], cost=QueryCost(), cache=cache, timings={},
                    support=_support(data.get("support")))
    saved = data.get("saved_usd")
    return answer, None if saved is None else Decimal(saved)
