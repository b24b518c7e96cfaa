"""The endpoints: health, readiness, chat sessions and their messages, passages, ingest.

Blocking work (opening a pipeline, the session store, ingesting) runs in worker threads:
plain ``def`` endpoints, which FastAPI runs in its thread pool, or ``run_in_threadpool``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from starlette.datastructures import UploadFile

from ragline.errors import InvalidInput
from ragline.redact import redact
from ragline.server.documents import ingest_upload, neighbours, read_passage
from ragline.server.errors import error_body
from ragline.server.sse import Pumps, answer_events
from ragline.server.state import ServerState
from ragline.server.views import conversation_json, passage_json, report_json, session_json

router = APIRouter()


class NewSession(BaseModel):
    """``POST /api/sessions``: the collection the session asks (default: the config's)."""

    model_config = ConfigDict(extra="forbid")
    collection: str | None = None


class NewMessage(BaseModel):
    """``POST /api/sessions/{id}/messages``: the user's message."""

    model_config = ConfigDict(extra="forbid")
    message: str


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.ragline
    return state


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
def ready(request: Request) -> dict[str, Any] | JSONResponse:
    """The default collection's pipeline opens and the cost ledger answers; else 503 with
    the reason as a JSON error."""
    state = _state(request)
    try:
        pipeline = state.pipelines.get(must_exist=False)
        with pipeline.meter.ledger.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        exists = pipeline.index.exists()
    except Exception as exc:  # any failure means not ready: say why, as JSON
        body = error_body(exc)
        if body["error"]["type"] == "InternalError":
            body["error"]["message"] = redact(f"{type(exc).__name__}: {exc}")
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    return {"status": "ready", "collection": pipeline.index.name, "collection_exists": exists}


@router.get("/api/collections")
def list_collections(request: Request) -> dict[str, Any]:
    """The collections that can be asked, and the default one (listed even before its
    first document)."""
    state = _state(request)
    return {"default": state.settings.collection, "collections": state.collections()}


@router.post("/api/sessions", status_code=201)
def create_session(request: Request, body: NewSession | None = None) -> dict[str, Any]:
    """Start a chat session over a collection (404 when it does not exist)."""
    record, collection = _state(request).new_session(body.collection if body else None)
    return session_json(record, collection)


@router.get("/api/sessions")
def list_sessions(request: Request, limit: int = 50) -> dict[str, Any]:
    """The tenant's sessions, most recently updated first."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be between 1 and 1000, but got {limit}")
    state = _state(request)
    return {"sessions": [session_json(info, state.collection_of(info))
                         for info in state.store.sessions(state.tenant, limit=limit)]}


@router.get("/api/sessions/{session_id}")
def get_session(request: Request, session_id: str) -> dict[str, Any]:
    """A session with its messages; 404 when unknown."""
    state = _state(request)
    record = state.store.load(session_id, tenant=state.tenant)
    return conversation_json(record, state.collection_of(record),
                             state.records.answers(session_id))


@router.delete("/api/sessions/{session_id}")
def delete_session(request: Request, session_id: str) -> dict[str, Any]:
    """Forget a session and its messages; 404 when unknown."""
    _state(request).delete_session(session_id)
    return {"deleted": session_id}


@router.post("/api/sessions/{session_id}/messages")
async def post_message(request: Request, session_id: str,
                       body: NewMessage) -> StreamingResponse:
    """Ask in a session: server-sent ``delta`` events, then ``answer`` or ``error``.
    An unknown session (404) or a bad message (400) is a JSON error before any event."""
    state = _state(request)
    stream = await run_in_threadpool(state.stream, session_id, body.message)
    pumps: Pumps = request.app.state.pumps
    events = answer_events(stream, pumps,
                           on_answer=lambda answer: state.keep_answer(session_id, answer))
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/passages/{chunk_id}")
def get_passage(request: Request, chunk_id: str,
                collection: str | None = None) -> dict[str, Any]:
    """A stored passage (a cited source) by chunk id; 404 when unknown."""
    pipeline = _state(request).pipelines.get(collection)
    chunk = read_passage(pipeline, chunk_id)
    return passage_json(chunk, pipeline.index.name, neighbours(pipeline, chunk))


@router.post("/api/ingest")
async def ingest(request: Request, collection: str | None = None) -> dict[str, Any]:
    """Upload one file (multipart field ``file``) and ingest it into ``collection``
    (created when new); 413 over ``ingest.max_file_mb``."""
    form = await request.form(max_files=1, max_fields=8)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("send one file as the multipart form field 'file'")
        named = form.get("collection")
        target = collection or (named if isinstance(named, str) and named else None)
        state = _state(request)
        pipeline = await run_in_threadpool(state.pipelines.get, target, must_exist=False)
        path, report = await run_in_threadpool(ingest_upload, pipeline, upload.filename,
                                               upload.file, size=upload.size)
    finally:
        await form.close()
    return report_json(report, str(path), pipeline.index.name)
