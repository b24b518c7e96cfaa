"""Chat sessions on a Redis server, shared by every process and replica that uses it.

:class:`RedisSessionStore` behaves as :class:`~ragline.app.chat_store.SQLiteSessionStore`
does. Its keys, each starting with the configured prefix (``ragline:sessions:``):

- ``<prefix>session:<id>``: a hash of the session's tenant, title, created and updated
  times (epoch seconds), summary, ``summarised`` count and collection;
- ``<prefix>messages:<id>``: a list of the session's messages, oldest first, each JSON
  ``{"role": ..., "content": ...}``;
- ``<prefix>tenant:<tenant>``: a sorted set of the tenant's session ids scored by their
  updated time, for listings.

A save or a delete is one ``MULTI``/``EXEC`` transaction (under ``WATCH`` of the keys it
read first, retried when another client changed them meanwhile), so a crash leaves the
turn before or the turn after, never half of one. With ``ttl_s`` every save sets the
session's keys to expire ``ttl_s`` seconds later; a listing drops the ids of expired
sessions from the tenant's set as it meets them. A Redis failure (server unreachable,
timeout) is a :class:`~ragline.errors.SessionStoreUnavailable`, as a SQLite failure is
from the SQLite store.
``redis`` (the ``cache`` extra) is imported when a store is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Self, TypeVar

from ragline.app.chat_store import SessionInfo, SessionRecord, from_epoch
from ragline.cache.redis_store import import_redis, text_client
from ragline.errors import ConfigError, SessionNotFound, SessionStoreUnavailable
from ragline.types import Message

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

T = TypeVar("T")
_INFO_FIELDS = ("tenant", "title", "created", "updated", "collection")


class RedisSessionStore:
    """A :class:`~ragline.app.chat_store.SessionStore` on the Redis server at ``url``.

    ``prefix`` starts every key (one per application sharing the server); ``ttl_s``
    forgets a session not saved for that many seconds (None: kept until deleted);
    ``timeout_s`` bounds each Redis call. Safe to share between threads; any number of
    processes may use the same server and prefix. A bad ``url`` is a
    :class:`~ragline.errors.ConfigError`; the server is first contacted by the first call.
    """

    def __init__(self, url: str, *, prefix: str = "ragline:sessions:",
                 ttl_s: float | None = None, timeout_s: float = 5.0) -> None:
        if ttl_s is not None and ttl_s <= 0:
            raise ConfigError(f"sessions.ttl_s must be > 0 seconds or None, not {ttl_s}")
        needed_by = "sessions.backend 'redis'"
        self.client: redis.Redis = text_client(url, needed_by=needed_by,
                                               setting="sessions.redis_url",
                                               timeout_s=timeout_s)
        module = import_redis(needed_by)
        self._watch_error: type[Exception] = module.WatchError
        self._redis_error: type[Exception] = module.RedisError
        self.prefix = prefix
        self.ttl_s = ttl_s

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a Redis failure (unreachable, timeout) into SessionStoreUnavailable."""
        try:
            yield
        except self._redis_error as exc:
            raise SessionStoreUnavailable(
                f"the session store on Redis ({self.prefix}*) failed: {exc}") from exc

    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _messages_key(self, session_id: str) -> str:
        return f"{self.prefix}messages:{session_id}"

    def _tenant_key(self, tenant: str) -> str:
        return f"{self.prefix}tenant:{tenant}"

    def _transaction(self, watches: Sequence[str], body: Callable[[Pipeline], T]) -> T:
        """Run ``body``: it reads the watched keys, calls ``pipe.multi()`` and queues its
        writes, which ``EXEC`` applies together; rerun when a watched key changed first."""
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*watches)  # type: ignore[no-untyped-call]
                    result = body(pipe)
                    pipe.execute()
                    return result
                except self._watch_error:
                    continue

    def save(self, record: SessionRecord) -> None:
        """Write ``record`` in one transaction: the session's hash (its created time only
        when new), the messages not yet stored (stored ones past the record's last are
        dropped), its place in the tenant's listing, and the expiry of all three."""
        session, messages = self._session_key(record.id), self._messages_key(record.id)
        index = self._tenant_key(record.tenant)
        count = len(record.messages)
        ttl_ms = None if self.ttl_s is None else max(1, round(self.ttl_s * 1000))

        def write(pipe: Pipeline) -> None:
            old_tenant = pipe.hget(session, "tenant")
            stored = min(int(pipe.llen(messages)), count)
            index_ttl = int(pipe.pttl(index))
            pipe.multi()
            pipe.hset(session, mapping={
                "tenant": record.tenant, "title": record.title,
                "updated": repr(record.updated_at.timestamp()), "summary": record.summary,
                "summarised": record.summarised, "collection": record.collection})
            pipe.hsetnx(session, "created", repr(record.created_at.timestamp()))
            if count == 0:
                pipe.delete(messages)
            else:
                pipe.ltrim(messages, 0, count - 1)
            fresh = [json.dumps({"role": m.role, "content": m.content})
                     for m in record.messages[stored:]]
            if fresh:
                pipe.rpush(messages, *fresh)
            if old_tenant is not None and old_tenant != record.tenant:
                pipe.zrem(self._tenant_key(str(old_tenant)), record.id)
            pipe.zadd(index, {record.id: record.updated_at.timestamp()})
            self._expire(pipe, (session, messages), ttl_ms)
            self._expire_index(pipe, index, index_ttl, ttl_ms)

        with self._guard():
            self._transaction((session, messages, index), write)

    @staticmethod
    def _expire(pipe: Pipeline, keys: Sequence[str], ttl_ms: int | None) -> None:
        """Queue: ``keys`` expire in ``ttl_ms`` (None: never)."""
        for key in keys:
            if ttl_ms is None:
                pipe.persist(key)
            else:
                pipe.pexpire(key, ttl_ms)

    @staticmethod
    def _expire_index(pipe: Pipeline, index: str, current_ms: int, ttl_ms: int | None) -> None:
        """Queue: the tenant's set lives as long as its longest-lived session.

        ``current_ms`` is its PTTL before the save: -2 absent, -1 never expires (a session
        saved without a TTL is in it, so it stays so)."""
        if ttl_ms is None:
            pipe.persist(index)
        elif current_ms != -1:
            pipe.pexpire(index, max(ttl_ms, current_ms))

    def load(self, session_id: str, *, tenant: str | None = None) -> SessionRecord:
        """The saved session; :class:`~ragline.errors.SessionNotFound` when there is none
        (never saved, deleted or expired), or when ``tenant`` is given and the session is
        another tenant's."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self._session_key(session_id))
        pipe.lrange(self._messages_key(session_id), 0, -1)
        with self._guard():
            fields, raw = pipe.execute()
        if not fields or (tenant is not None and fields["tenant"] != tenant):
            raise SessionNotFound(session_id)
        messages = tuple(Message(item["role"], item["content"])
                         for item in map(json.loads, raw))
        return SessionRecord(
            id=session_id, tenant=fields["tenant"], title=fields["title"],
            created_at=from_epoch(float(fields["created"])),
            updated_at=from_epoch(float(fields["updated"])), summary=fields["summary"],
            summarised=int(fields["summarised"]), messages=messages,
            collection=fields.get("collection", ""))

    def sessions(self, tenant: str, *, limit: int = 50) -> list[SessionInfo]:
        """The tenant's sessions, most recently updated first, at most ``limit``; ids of
        sessions that expired meanwhile are dropped from the tenant's set."""
        index = self._tenant_key(tenant)
        found: list[SessionInfo] = []
        stale: list[str] = []
        start = 0
        while len(found) < limit:
            with self._guard():
                ids: list[str] = self.client.zrevrange(  # type: ignore[assignment]
                    index, start, start + limit - 1)
            if not ids:
                break
            start += len(ids)
            for session_id, info in zip(ids, self._infos(ids), strict=True):
                if info is None or info.tenant != tenant:
                    stale.append(session_id)
                elif len(found) < limit:
                    found.append(info)
        if stale:
            self._forget_stale(index, tenant, stale)
        return found

    def _infos(self, ids: Sequence[str]) -> list[SessionInfo | None]:
        """The listing line of each of ``ids``, None for a session that is gone."""
        pipe = self.client.pipeline(transaction=True)
        for session_id in ids:
            pipe.hmget(self._session_key(session_id), list(_INFO_FIELDS))
            pipe.llen(self._messages_key(session_id))
        with self._guard():
            replies = pipe.execute()
        infos: list[SessionInfo | None] = []
        for session_id, (tenant, title, created, updated, collection), count in zip(
                ids, replies[::2], replies[1::2], strict=True):
            infos.append(None if tenant is None else SessionInfo(
                id=session_id, tenant=tenant, title=title, created_at=from_epoch(float(created)),
                updated_at=from_epoch(float(updated)), messages=int(count),
                collection=collection or ""))
        return infos

    def _forget_stale(self, index: str, tenant: str, ids: Sequence[str]) -> None:
        """Drop from the tenant's set those of ``ids`` that are still not the tenant's
        sessions (one transaction, so a session saved again meanwhile stays listed)."""
        keys = [self._session_key(session_id) for session_id in ids]

        def clean(pipe: Pipeline) -> None:
            gone = [session_id for session_id, key in zip(ids, keys, strict=True)
                    if pipe.hget(key, "tenant") != tenant]
            pipe.multi()
            if gone:
                pipe.zrem(index, *gone)

        with self._guard():
            self._transaction(keys, clean)

    def delete(self, session_id: str) -> bool:
        """Forget the session, its messages and its place in its tenant's listing (one
        transaction); whether there was one."""
        session, messages = self._session_key(session_id), self._messages_key(session_id)

        def remove(pipe: Pipeline) -> bool:
            tenant = pipe.hget(session, "tenant")
            pipe.multi()
            pipe.delete(session, messages)
            if tenant is not None:
                pipe.zrem(self._tenant_key(str(tenant)), session_id)
            return tenant is not None

        with self._guard():
            return self._transaction((session,), remove)

    def close(self) -> None:
        """Close the client's connections; the store cannot be used afterwards."""
        self.client.close()
