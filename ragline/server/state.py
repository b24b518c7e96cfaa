"""What the endpoints share: one pipeline per collection, the chat sessions and their store.

:class:`Pipelines` opens a :class:`~ragline.app.pipeline.RAGPipeline` per collection on first
use and keeps it for every later request; :class:`ServerState` adds the session store
(``sessions`` settings: ``home/sessions.sqlite`` or Redis; a session records the collection
it asks), the JSON of each session's answers (:class:`ServerRecords`, in
``home/server.sqlite``), and the live
:class:`~ragline.app.chat.ChatSession` objects, so that turns of one session queue on that
session's lock. Everything here is blocking: the endpoints call it from worker threads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ragline.app.chat import ChatSession
from ragline.app.chat_store import SessionInfo, SessionRecord, now, open_session_store
from ragline.app.pipeline import RAGPipeline
from ragline.app.streaming import AnswerStream
from ragline.cache.semantic import COLLECTION as SEMANTIC_CACHE
from ragline.config import Settings
from ragline.errors import CollectionNotFound, InvalidInput, SessionNotFound
from ragline.models.chat import ChatModel
from ragline.rag.connect import check_name, collection_names
from ragline.server.views import answer_json
from ragline.types import Answer

log = logging.getLogger("ragline")

RECORDS_FILE = "server.sqlite"
"""The server's own records under ``home`` (see :class:`ServerRecords`)."""

LIVE_SESSIONS = 256
"""Chat sessions kept in memory (least recently used dropped; they reload from the store)."""


class Pipelines:
    """One pipeline per collection, opened on first use, shared by every request, closed by
    :meth:`close`. ``generator`` replaces the configured answering model in each."""

    def __init__(self, settings: Settings, *, generator: ChatModel | None = None) -> None:
        self.settings = settings
        self._generator = generator
        self._open: dict[str, RAGPipeline] = {}
        self._lock = threading.Lock()

    def get(self, collection: str | None = None, *, must_exist: bool = True) -> RAGPipeline:
        """The pipeline of ``collection`` (default: the config's); with ``must_exist``,
        :class:`~ragline.errors.CollectionNotFound` unless it has been created. A pipeline
        of a collection that does not exist is only kept for the default collection or
        when ``must_exist`` is False (an ingest is about to create it)."""
        name = check_name(collection or self.settings.collection)
        with self._lock:
            pipeline = self._open.get(name)
            if pipeline is None:
                pipeline = RAGPipeline.from_settings(self.settings, collection=name,
                                                     generator=self._generator)
                if (must_exist and name != self.settings.collection
                        and not pipeline.index.exists()):
                    pipeline.close()
                    raise CollectionNotFound(name, pipeline.index.where)
                self._open[name] = pipeline
        if must_exist and not pipeline.index.exists():
            raise CollectionNotFound(name, pipeline.index.where)
        return pipeline

    def close(self) -> None:
        """Close every pipeline opened."""
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for pipeline in opened:
            pipeline.close()


class ServerRecords:
    """What the server keeps about its chat sessions beside the session store, in
    ``home/server.sqlite``: the final answer (as the API's JSON) of each assistant message,
    so that a reopened session shows its sources, route and cost."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS server_answers (session TEXT NOT NULL, "
                         "position INTEGER NOT NULL, answer TEXT NOT NULL, "
                         "PRIMARY KEY (session, position))")

    def keep_answer(self, session_id: str, position: int, answer: dict[str, Any]) -> None:
        """Keep the JSON of the answer that is message ``position`` of the session."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO server_answers VALUES (?, ?, ?)",
                             (session_id, position, json.dumps(answer, default=str)))

    def answers(self, session_id: str) -> dict[int, dict[str, Any]]:
        """The kept answers of the session, by message position."""
        with self._lock:
            rows = self._db.execute("SELECT position, answer FROM server_answers "
                                    "WHERE session = ?", (session_id,)).fetchall()
        return {int(position): json.loads(answer) for position, answer in rows}

    def delete(self, session_id: str) -> None:
        """Forget the answers kept for ``session_id``."""
        with self._lock:
            self._db.execute("DELETE FROM server_answers WHERE session = ?", (session_id,))

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()


class ServerState:
    """Pipelines, the session store and the live chat sessions of one server process."""

    def __init__(self, settings: Settings, *, generator: ChatModel | None = None) -> None:
        self.settings = settings
        self.tenant = settings.cost.tenant
        self.pipelines = Pipelines(settings, generator=generator)
        self.store = open_session_store(settings)
        self.records = ServerRecords(Path(settings.home) / RECORDS_FILE)
        self._live: OrderedDict[str, ChatSession] = OrderedDict()
        self._lock = threading.Lock()

    def new_session(self, collection: str | None) -> tuple[SessionRecord, str]:
        """Create and save an empty session over ``collection`` (which must exist); the
        record and the collection's name."""
        pipeline = self.pipelines.get(collection)
        created = now()
        record = SessionRecord(id=uuid.uuid4().hex, tenant=self.tenant, title="",
                               created_at=created, updated_at=created,
                               collection=pipeline.index.name)
        self.store.save(record)
        return record, pipeline.index.name

    def collections(self) -> list[str]:
        """The collections that can be asked, sorted: those the settings reach (less the
        semantic answer cache's), and the default one even before its first document."""
        names = set(collection_names(self.settings, exclude={SEMANTIC_CACHE}))
        return sorted(names | {self.settings.collection})

    def collection_of(self, record: SessionRecord | SessionInfo) -> str:
        """The collection the session asks (the default one when none was recorded)."""
        return record.collection or self.settings.collection

    def chat(self, session_id: str) -> ChatSession:
        """The live chat session ``session_id``, restored from the store on first use;
        :class:`~ragline.errors.SessionNotFound` when it was never saved."""
        with self._lock:
            live = self._live.get(session_id)
            if live is not None:
                self._live.move_to_end(session_id)
                return live
        record = self.store.load(session_id, tenant=self.tenant)
        opened = ChatSession.resume(self.pipelines.get(self.collection_of(record)),
                                    self.store, record)
        with self._lock:
            live = self._live.setdefault(session_id, opened)
            self._live.move_to_end(session_id)
            while len(self._live) > LIVE_SESSIONS:
                self._live.popitem(last=False)
        return live

    def stream(self, session_id: str, message: str) -> AnswerStream:
        """Start a turn of ``session_id``; bad input and unknown sessions raise here."""
        if not isinstance(message, str):
            raise InvalidInput("message must be a string")
        return self.chat(session_id).stream(message)

    def keep_answer(self, session_id: str, answer: Answer) -> None:
        """Keep the JSON of a finished turn's answer beside its assistant message (the
        latest message of the session with the answer's text); a failure to keep it is
        logged, not raised: the turn itself is saved in the session store."""
        messages = self.chat(session_id).messages
        for position in range(len(messages) - 1, -1, -1):
            if messages[position].role == "assistant" and messages[position].content == answer.text:
                try:
                    self.records.keep_answer(session_id, position, answer_json(answer))
                except sqlite3.Error as exc:  # the turn is saved; only its sources are lost
                    log.warning("keeping the answer of session %s failed: %s", session_id, exc)
                return

    def delete_session(self, session_id: str) -> None:
        """Forget the session; :class:`~ragline.errors.SessionNotFound` when unknown."""
        self.store.load(session_id, tenant=self.tenant)  # another tenant's is not ours
        with self._lock:
            self._live.pop(session_id, None)
        if not self.store.delete(session_id):
            raise SessionNotFound(session_id)
        self.records.delete(session_id)

    def close(self) -> None:
        """Close the pipelines and the session store."""
        with self._lock:
            self._live.clear()
        self.pipelines.close()
        self.records.close()
        self.store.close()
