"""Where chat sessions are kept between turns and between processes.

:class:`SessionStore` is what :class:`~ragline.app.chat.ChatSession` needs from storage:
save a session, load it, list a tenant's sessions (newest first), delete one.
:class:`SQLiteSessionStore` keeps them in ``home/sessions.sqlite`` (WAL journal). Every
:meth:`~SQLiteSessionStore.save` is one transaction, so a crash leaves either the turn
before or the turn after, never half of one. Messages are append-only: a save writes the
messages the store does not have yet (and drops stored ones past the new end).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, Self

from ragline.errors import SessionNotFound
from ragline.types import Message

FILE_NAME = "sessions.sqlite"
TITLE_CHARS = 60

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, title TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, summary TEXT NOT NULL,
        summarised INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sessions_by_tenant ON sessions (tenant, updated)",
    """CREATE TABLE IF NOT EXISTS messages (
        session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        position INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
        PRIMARY KEY (session, position))""",
)


def title_of(question: str, limit: int = TITLE_CHARS) -> str:
    """A session title from its first question: one line, at most ``limit`` characters,
    cut at a word boundary with an ellipsis when longer."""
    text = " ".join(question.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut.rstrip(" ,;:.") + "\u2026"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Everything saved of one chat session.

    ``messages`` is the whole conversation, oldest first (user and assistant
    messages); ``summary`` covers its first ``summarised`` messages, the ones that
    left the window. Times are UTC.
    """

    id: str
    tenant: str
    title: str
    created_at: datetime
    updated_at: datetime
    summary: str = ""
    summarised: int = 0
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One line of a session listing: the record without its messages, and their count."""

    id: str
    tenant: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: int


class SessionStore(Protocol):
    """What a chat session needs from storage; each call is atomic."""

    def save(self, record: SessionRecord) -> None:
        """Store ``record``, replacing the saved state of its session."""
        ...

    def load(self, session_id: str, *, tenant: str | None = None) -> SessionRecord:
        """The saved session; :class:`~ragline.errors.SessionNotFound` when there is none
        (or, given ``tenant``, when it belongs to another tenant)."""
        ...

    def sessions(self, tenant: str, *, limit: int = 50) -> list[SessionInfo]:
        """The tenant's sessions, most recently updated first, at most ``limit``."""
        ...

    def delete(self, session_id: str) -> bool:
        """Forget the session and its messages; whether there was one."""
        ...

    def close(self) -> None:
        """Release the storage."""
        ...


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SQLiteSessionStore:
    """A :class:`SessionStore` in one SQLite file (WAL journal, one transaction per write).

    Safe to share between threads of a process (calls are serialised); several
    processes may use the same file, SQLite locking between them.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        for statement in _SCHEMA:
            self._db.execute(statement)

    @classmethod
    def under_home(cls, home: Path | str) -> SQLiteSessionStore:
        """The store of a ragline home: ``home/sessions.sqlite``."""
        return cls(Path(home) / FILE_NAME)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, record: SessionRecord) -> None:
        """Write ``record`` in one transaction: the session row, then the messages not yet
        stored; stored messages past the record's last one are dropped."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO sessions (id, tenant, title, created, updated, summary, "
                    "summarised) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "tenant = excluded.tenant, title = excluded.title, "
                    "updated = excluded.updated, summary = excluded.summary, "
                    "summarised = excluded.summarised",
                    (record.id, record.tenant, record.title, record.created_at.timestamp(),
                     record.updated_at.timestamp(), record.summary, record.summarised))
                db.execute("DELETE FROM messages WHERE session = ? AND position >= ?",
                           (record.id, len(record.messages)))
                (stored,) = db.execute("SELECT COUNT(*) FROM messages WHERE session = ?",
                                       (record.id,)).fetchone()
                db.executemany(
                    "INSERT INTO messages (session, position, role, content) "
                    "VALUES (?, ?, ?, ?)",
                    [(record.id, n, m.role, m.content)
                     for n, m in enumerate(record.messages) if n >= stored])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def load(self, session_id: str, *, tenant: str | None = None) -> SessionRecord:
        """The saved session; :class:`~ragline.errors.SessionNotFound` when there is none,
        or when ``tenant`` is given and the session is another tenant's."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, tenant, title, created, updated, summary, summarised "
                "FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None or (tenant is not None and row[1] != tenant):
                raise SessionNotFound(session_id)
            messages = tuple(Message(role, content) for role, content in self._db.execute(
                "SELECT role, content FROM messages WHERE session = ? ORDER BY position",
                (session_id,)))
        return SessionRecord(id=row[0], tenant=row[1], title=row[2], created_at=_time(row[3]),
                             updated_at=_time(row[4]), summary=row[5], summarised=row[6],
                             messages=messages)

    def sessions(self, tenant: str, *, limit: int = 50) -> list[SessionInfo]:
        """The tenant's sessions, most recently updated first, at most ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.tenant, s.title, s.created, s.updated, "
                "(SELECT COUNT(*) FROM messages m WHERE m.session = s.id) "
                "FROM sessions s WHERE s.tenant = ? ORDER BY s.updated DESC, s.rowid DESC "
                "LIMIT ?", (tenant, limit)).fetchall()
        return [SessionInfo(id=r[0], tenant=r[1], title=r[2], created_at=_time(r[3]),
                            updated_at=_time(r[4]), messages=r[5]) for r in rows]

    def delete(self, session_id: str) -> bool:
        """Forget the session and its messages (one transaction); whether there was one."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM messages WHERE session = ?", (session_id,))
                gone = db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return gone > 0

    def close(self) -> None:
        """Close the database file; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()


def now() -> datetime:
    """The current time in UTC, as session records keep it."""
    return _time(time.time())
