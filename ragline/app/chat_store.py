"""Where chat sessions are kept between turns and between processes.

:class:`SessionStore` is what :class:`~ragline.app.chat.ChatSession` needs from storage:
save a session, load it, list a tenant's sessions (newest first), delete one.
:class:`SQLiteSessionStore` keeps them in ``home/sessions.sqlite`` (WAL journal). Every
:meth:`~SQLiteSessionStore.save` is one transaction, so a crash leaves either the turn
before or the turn after, never half of one. Messages are append-only: a save writes the
messages the store does not have yet (and drops stored ones past the new end).
:func:`open_session_store` opens the store the ``sessions`` settings name: this one, or
:class:`~ragline.app.chat_store_redis.RedisSessionStore` on a Redis server.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from ragline.errors import SessionNotFound, SessionStoreUnavailable
from ragline.types import Message

if TYPE_CHECKING:
    from ragline.config import Settings

FILE_NAME = "sessions.sqlite"
TITLE_CHARS = 60

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, title TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, summary TEXT NOT NULL,
        summarised INTEGER NOT NULL, collection TEXT NOT NULL DEFAULT '')""",
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
    left the window. ``collection`` is the collection the session asks ('' when it was
    not recorded). Times are UTC.
    """

    id: str
    tenant: str
    title: str
    created_at: datetime
    updated_at: datetime
    summary: str = ""
    summarised: int = 0
    messages: tuple[Message, ...] = ()
    collection: str = ""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One line of a session listing: the record without its messages, and their count."""

    id: str
    tenant: str
    title: str
    created_at: datetime
    updated_at: datetime
    messages: int
    collection: str = ""


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


def from_epoch(epoch: float) -> datetime:
    """The UTC time of ``epoch`` seconds, as session records keep times."""
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
        with self._guard():
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            for statement in _SCHEMA:
                self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
            if "collection" not in columns:  # a file written before sessions kept it
                self._db.execute("ALTER TABLE sessions ADD COLUMN collection TEXT NOT NULL "
                                 "DEFAULT ''")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a failure of the database into :class:`SessionStoreUnavailable`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise SessionStoreUnavailable(
                f"the session store {self.path} failed: {exc}") from exc

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
        with self._lock, self._guard():
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO sessions (id, tenant, title, created, updated, summary, "
                    "summarised, collection) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET "
                    "tenant = excluded.tenant, title = excluded.title, "
                    "updated = excluded.updated, summary = excluded.summary, "
                    "summarised = excluded.summarised, collection = excluded.collection",
                    (record.id, record.tenant, record.title, record.created_at.timestamp(),
                     record.updated_at.timestamp(), record.summary, record.summarised,
                     record.collection))
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
        with self._lock, self._guard():
            row = self._db.execute(
                "SELECT id, tenant, title, created, updated, summary, summarised, collection "
                "FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None or (tenant is not None and row[1] != tenant):
                raise SessionNotFound(session_id)
            messages = tuple(Message(role, content) for role, content in self._db.execute(
                "SELECT role, content FROM messages WHERE session = ? ORDER BY position",
                (session_id,)))
        return SessionRecord(id=row[0], tenant=row[1], title=row[2],
                             created_at=from_epoch(row[3]), updated_at=from_epoch(row[4]),
                             summary=row[5], summarised=row[6], messages=messages,
                             collection=row[7])

    def sessions(self, tenant: str, *, limit: int = 50) -> list[SessionInfo]:
        """The tenant's sessions, most recently updated first, at most ``limit``."""
        with self._lock, self._guard():
            rows = self._db.execute(
                "SELECT s.id, s.tenant, s.title, s.created, s.updated, "
                "(SELECT COUNT(*) FROM messages m WHERE m.session = s.id), s.collection "
                "FROM sessions s WHERE s.tenant = ? ORDER BY s.updated DESC, s.rowid DESC "
                "LIMIT ?", (tenant, limit)).fetchall()
        return [SessionInfo(id=r[0], tenant=r[1], title=r[2], created_at=from_epoch(r[3]),
                            updated_at=from_epoch(r[4]), messages=r[5], collection=r[6])
                for r in rows]

    def delete(self, session_id: str) -> bool:
        """Forget the session and its messages (one transaction); whether there was one."""
        with self._lock, self._guard():
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
        with self._lock, self._guard():
            self._db.close()


def now() -> datetime:
    """The current time in UTC, as session records keep it."""
    return from_epoch(time.time())


def open_session_store(settings: Settings) -> SessionStore:
    """The session store ``settings.sessions`` names: ``home/sessions.sqlite`` for backend
    ``sqlite``, or a :class:`~ragline.app.chat_store_redis.RedisSessionStore` at its
    ``redis_url`` under its ``redis_prefix`` with its ``ttl_s`` for ``redis``. Close it when
    done (``contextlib.closing``)."""
    sessions = settings.sessions
    if sessions.backend == "redis":
        from ragline.app.chat_store_redis import RedisSessionStore

        return RedisSessionStore(sessions.redis_url, prefix=sessions.redis_prefix,
                                 ttl_s=sessions.ttl_s)
    return SQLiteSessionStore.under_home(settings.home)
