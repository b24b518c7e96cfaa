"""The JSON shapes of the API: answers, sessions, passages, ingest reports."""

from __future__ import annotations

import dataclasses
from typing import Any

from ragline.app.chat_store import SessionInfo, SessionRecord
from ragline.rag.ingest import IngestReport
from ragline.types import Answer, Chunk, ScoredChunk


def source_json(number: int, item: ScoredChunk) -> dict[str, Any]:
    """One source of an answer: its marker ``[number]``, chunk, document, text and score."""
    meta = item.chunk.metadata
    return {"marker": number, "chunk_id": item.chunk.id, "doc_id": item.chunk.doc_id,
            "source": meta.get("source", item.chunk.doc_id), "text": item.chunk.text,
            "score": round(item.score, 6), "heading_path": meta.get("heading_path", []),
            "retrievers": list(item.retrievers)}


def answer_json(answer: Answer) -> dict[str, Any]:
    """The final answer of a turn: text (markers resolved), citations, sources, route,
    cost, cache outcome, timings (ms), query id and, when checked, its support."""
    return {
        "text": answer.text,
        "citations": [{"marker": c.marker, "chunk_id": c.chunk_id, "doc_id": c.doc_id,
                       "span": list(c.span)} for c in answer.citations],
        "sources": [source_json(n, s) for n, s in enumerate(answer.sources, start=1)],
        "route": answer.route,
        "cost": dataclasses.asdict(answer.cost),
        "cache": answer.cache,
        "timings": answer.timings,
        "query_id": answer.query_id,
        "support": None if answer.support is None else {
            **dataclasses.asdict(answer.support), "unsupported": answer.support.unsupported},
    }


def session_json(info: SessionInfo | SessionRecord, collection: str) -> dict[str, Any]:
    """A session without its messages: id, collection, title, times, message count."""
    count = info.messages if isinstance(info, SessionInfo) else len(info.messages)
    return {"id": info.id, "collection": collection, "title": info.title,
            "created_at": info.created_at.isoformat(), "updated_at": info.updated_at.isoformat(),
            "messages": count}


def conversation_json(record: SessionRecord, collection: str,
                      answers: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A session with its messages (oldest first) and its running summary; an assistant
    message carries its ``answer`` (as :func:`answer_json` gave it) where one was kept."""
    messages = []
    for position, message in enumerate(record.messages):
        shown: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "assistant" and position in answers:
            shown["answer"] = answers[position]
        messages.append(shown)
    return {**session_json(record, collection), "summary": record.summary,
            "messages": messages}


def passage_json(chunk: Chunk, collection: str, context: tuple[str, str]) -> dict[str, Any]:
    """A stored chunk: ids, collection, text, position, metadata, and the text of its
    document just ``before`` and ``after`` it."""
    return {"chunk_id": chunk.id, "doc_id": chunk.doc_id, "collection": collection,
            "text": chunk.text, "position": chunk.position, "metadata": chunk.metadata,
            "before": context[0], "after": context[1]}


def report_json(report: IngestReport, path: str, collection: str) -> dict[str, Any]:
    """What ingesting an uploaded file did, with where the file was saved."""
    return {"path": path, "collection": collection, **dataclasses.asdict(report),
            "skipped": [{"path": p, "reason": r} for p, r in report.skipped]}
