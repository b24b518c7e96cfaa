"""What the endpoints share: one pipeline per collection, the chat sessions and their store.

:class:`Pipelines` opens a :class:`~ragline.app.pipeline.RAGPipeline` per collection on first
use and keeps it for every later request; :class:`ServerState` adds the session store
(``home/sessions.sqlite``), which collection each session asks (a table of its own in the
same file, :class:`SessionCollections`), and the live :class:`~ragline.app.chat.ChatSession`
objects, so that turns of one session queue on that session's lock. Everything here is
blocking: the endpoints call it from worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

from ragline.app.chat import ChatSession
from ragline.app.chat_store import SessionRecord, SQLiteSessionStore, now
from ragline.app.pipeline import RAGPipeline
from ragline.app.streaming import AnswerStream
from ragline.config import Settings
from ragline.errors import CollectionNotFound, InvalidInput, SessionNotFound
from ragline.models.chat import ChatModel
from ragline.rag.connect import check_name

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


class SessionCollections:
    """Which collection each chat session asks: a table ``server_sessions`` in ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        self._db.execute("CREATE TABLE IF NOT EXISTS server_sessions "
                         "(id TEXT PRIMARY KEY, collection TEXT NOT NULL)")

    def set(self, session_id: str, collection: str) -> None:
        """Record that ``session_id`` asks ``collection``."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO server_sessions VALUES (?, ?)",
                             (session_id, collection))

    def get(self, session_id: str) -> str | None:
        """The collection of ``session_id``; None when none was recorded."""
        with self._lock:
            row = self._db.execute("SELECT collection FROM server_sessions WHERE id = ?",
                                   (session_id,)).fetchone()
        return None if row is None else str(row[0])

    def delete(self, session_id: str) -> None:
        """Forget the collection of ``session_id``."""
        with self._lock:
            self._db.execute("DELETE FROM server_sessions WHERE id = ?", (session_id,))

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
        self.store = SQLiteSessionStore.under_home(settings.home)
        self.collections = SessionCollections(self.store.path)
        self._live: OrderedDict[str, ChatSession] = OrderedDict()
        self._lock = threading.Lock()

    def new_session(self, collection: str | None) -> tuple[SessionRecord, str]:
        """Create and save an empty session over ``collection`` (which must exist); the
        record and the collection's name."""
        pipeline = self.pipelines.get(collection)
        created = now()
        record = SessionRecord(id=uuid.uuid4().hex, tenant=self.tenant, title="",
                               created_at=created, updated_at=created)
        self.store.save(record)
        self.collections.set(record.id, pipeline.index.name)
        return record, pipeline.index.name

    def collection_of(self, session_id: str) -> str:
        """The collection the session asks (the default one when none was recorded)."""
        return self.collections.get(session_id) or self.settings.collection

    def chat(self, session_id: str) -> ChatSession:
        """The live chat session ``session_id``, restored from the store on first use;
        :class:`~ragline.errors.SessionNotFound` when it was never saved."""
        with self._lock:
            live = self._live.get(session_id)
            if live is not None:
                self._live.move_to_end(session_id)
                return live
        pipeline = self.pipelines.get(self.collection_of(session_id))
        opened = ChatSession.open(pipeline, self.store, session_id=session_id,
                                  tenant=self.tenant)
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

    def delete_session(self, session_id: str) -> None:
        """Forget the session; :class:`~ragline.errors.SessionNotFound` when unknown."""
        self.store.load(session_id, tenant=self.tenant)  # another tenant's is not ours
        with self._lock:
            self._live.pop(session_id, None)
        if not self.store.delete(session_id):
            raise SessionNotFound(session_id)
        self.collections.delete(session_id)

    def close(self) -> None:
        """Close the pipelines and the session store."""
        with self._lock:
            self._live.clear()
        self.pipelines.close()
        self.collections.close()
        self.store.close()
