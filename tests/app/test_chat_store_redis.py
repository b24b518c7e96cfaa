"""Session stores: SQLite and Redis (a real server) keep sessions the same way; the
``sessions`` settings pick one; Redis forgets sessions after their TTL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ragline.app.chat_store import (
    SessionRecord,
    SessionStore,
    SQLiteSessionStore,
    from_epoch,
    open_session_store,
)
from ragline.app.chat_store_redis import RedisSessionStore
from ragline.config import Settings, load_settings
from ragline.config_sessions import SessionsSettings
from ragline.errors import ConfigError, SessionNotFound, SessionStoreUnavailable
from ragline.types import Message

T0 = 1_700_000_000.123456

OpenStore = Callable[[], SessionStore]
MakeRedisStore = Callable[..., RedisSessionStore]


@pytest.fixture
def make_redis_store(redis_url: str, redis_prefix: str) -> Iterator[MakeRedisStore]:
    """Build Redis stores under this test's prefix; every one is closed afterwards."""
    stores: list[RedisSessionStore] = []

    def build(**options: Any) -> RedisSessionStore:
        stores.append(RedisSessionStore(redis_url, prefix=redis_prefix, **options))
        return stores[-1]

    yield build
    for store in stores:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Open stores of one backend, every one over the same saved sessions (as processes
    after one another would); each is closed afterwards."""
    stores: list[SessionStore] = []

    def build() -> SessionStore:
        if request.param == "redis":
            stores.append(request.getfixturevalue("make_redis_store")())
        else:
            stores.append(SQLiteSessionStore.under_home(tmp_path / "home"))
        return stores[-1]

    yield build
    for store in stores:
        store.close()


def turns(*texts: str) -> tuple[Message, ...]:
    """Messages alternating user and assistant, starting with the user."""
    return tuple(Message("user" if n % 2 == 0 else "assistant", text)
                 for n, text in enumerate(texts))


def record(session_id: str = "s1", tenant: str = "acme", *, updated: float = T0,
           title: str = "q1", messages: tuple[Message, ...] = turns("q1", "a1"),
           **fields: Any) -> SessionRecord:
    """A session record created at T0 and updated at ``updated``."""
    return SessionRecord(id=session_id, tenant=tenant, title=title, created_at=from_epoch(T0),
                         updated_at=from_epoch(updated), messages=messages, **fields)


def test_a_saved_session_is_loaded_back_whole(open_store: OpenStore) -> None:
    store = open_store()
    saved = record(updated=T0 + 61.5, summary="they asked about q1 and q2", summarised=2,
                   messages=turns("q1", "a1", "q2 \u2713", 'a2 with "quotes"\nand lines'),
                   collection="handbook")
    store.save(saved)
    assert store.load("s1") == saved
    assert store.load("s1", tenant="acme") == saved
    assert store.sessions("acme")[0].collection == "handbook"
    later = record(updated=T0 + 90, title="renamed", summary="new summary", summarised=4,
                   messages=saved.messages + turns("q3", "a3"))
    store.save(replace(later, created_at=from_epoch(T0 + 5)))
    assert store.load("s1") == later  # a save keeps the session's first created time


def test_messages_append_and_those_past_the_new_end_are_dropped(open_store: OpenStore) -> None:
    store = open_store()
    store.save(record(messages=turns("q1", "a1", "q2", "a2")))
    store.save(record(messages=turns("q1", "a1")))
    assert store.load("s1").messages == turns("q1", "a1")
    store.save(record(messages=turns("q1", "a1", "q3")))
    assert store.load("s1").messages == turns("q1", "a1", "q3")
    store.save(record(messages=()))
    assert store.load("s1").messages == ()
    assert store.sessions("acme")[0].messages == 0


def test_tenants_never_see_each_others_sessions(open_store: OpenStore) -> None:
    store = open_store()
    store.save(record("s1", updated=T0 + 1, messages=turns("q1")))
    store.save(record("s2", updated=T0 + 3))
    store.save(record("s3", updated=T0 + 2, title="third"))
    store.save(record("g1", tenant="globex"))
    with pytest.raises(SessionNotFound):
        store.load("s1", tenant="globex")
    with pytest.raises(SessionNotFound):
        store.load("nope")
    listed = store.sessions("acme")
    assert [info.id for info in listed] == ["s2", "s3", "s1"]
    assert (listed[1].title, listed[1].tenant, listed[1].messages) == ("third", "acme", 2)
    assert (listed[1].created_at, listed[1].updated_at) == (from_epoch(T0), from_epoch(T0 + 2))
    assert listed[2].messages == 1
    assert [info.id for info in store.sessions("acme", limit=2)] == ["s2", "s3"]
    assert [info.id for info in store.sessions("globex")] == ["g1"]
    assert store.sessions("nobody") == []
    store.save(record("s1", updated=T0 + 4))
    assert [info.id for info in store.sessions("acme")] == ["s1", "s2", "s3"]
    store.save(record("s2", tenant="globex", updated=T0 + 5))  # moved to another tenant
    assert [info.id for info in store.sessions("acme")] == ["s1", "s3"]
    assert [info.id for info in store.sessions("globex")] == ["s2", "g1"]


def test_delete_says_whether_there_was_a_session(open_store: OpenStore) -> None:
    store = open_store()
    store.save(record("s1"))
    store.save(record("s2"))
    assert store.delete("s1") is True
    with pytest.raises(SessionNotFound):
        store.load("s1")
    assert [info.id for info in store.sessions("acme")] == ["s2"]
    assert store.delete("s1") is False
    assert store.delete("never") is False


def test_a_session_outlives_the_store_that_saved_it(open_store: OpenStore) -> None:
    saved = record(summary="kept", summarised=2, messages=turns("q1", "a1", "q2"))
    first = open_store()
    first.save(saved)
    first.close()
    again = open_store()
    assert again.load("s1", tenant="acme") == saved
    assert [info.id for info in again.sessions("acme")] == ["s1"]


def test_concurrent_saves_of_one_tenant_all_land(open_store: OpenStore) -> None:
    store = open_store()

    def converse(n: int) -> None:
        for turn in range(1, 6):
            store.save(record(f"s{n}", updated=T0 + n + turn / 10,
                              messages=turns(*(f"m{k}" for k in range(2 * turn)))))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(converse, range(8)))
    listed = store.sessions("acme")
    assert [info.id for info in listed] == [f"s{n}" for n in reversed(range(8))]
    assert {info.messages for info in listed} == {10}


def test_redis_moves_a_session_between_tenant_listings_on_save(
        make_redis_store: MakeRedisStore, redis_text: Any, redis_prefix: str) -> None:
    store = make_redis_store()
    store.save(record("s1"))
    store.save(record("s1", tenant="globex"))
    assert redis_text.zrange(f"{redis_prefix}tenant:acme", 0, -1) == []
    assert redis_text.zrange(f"{redis_prefix}tenant:globex", 0, -1) == ["s1"]


def test_redis_keeps_a_session_in_three_keys_that_expire_together(
        make_redis_store: MakeRedisStore, redis_text: Any, redis_prefix: str) -> None:
    store = make_redis_store(ttl_s=1)
    store.save(record())
    keys = {f"{redis_prefix}session:s1", f"{redis_prefix}messages:s1",
            f"{redis_prefix}tenant:acme"}
    assert set(redis_text.scan_iter(match=f"{redis_prefix}*")) == keys
    assert all(0 < redis_text.pttl(key) <= 1000 for key in keys)
    time.sleep(0.5)
    store.save(record(updated=T0 + 1))
    assert all(redis_text.pttl(key) > 900 for key in keys)  # a save starts the TTL again
    time.sleep(1.5)
    with pytest.raises(SessionNotFound):
        store.load("s1")
    assert store.sessions("acme") == []
    assert not list(redis_text.scan_iter(match=f"{redis_prefix}*"))


def test_a_listing_drops_expired_sessions_and_keeps_the_rest(
        make_redis_store: MakeRedisStore, redis_text: Any, redis_prefix: str) -> None:
    make_redis_store(ttl_s=1).save(record("short", updated=T0 + 9))
    kept = make_redis_store()  # no TTL: its sessions, and the tenant's listing, stay
    kept.save(record("long"))
    index = f"{redis_prefix}tenant:acme"
    assert redis_text.pttl(index) == -1
    time.sleep(1.5)
    assert [info.id for info in kept.sessions("acme")] == ["long"]
    assert redis_text.zrange(index, 0, -1) == ["long"]


def test_the_sessions_settings_default_to_sqlite(make_settings: Callable[..., Settings],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    assert settings.sessions == SessionsSettings()
    assert (settings.sessions.backend, settings.sessions.redis_url,
            settings.sessions.redis_prefix, settings.sessions.ttl_s) == (
        "sqlite", "redis://127.0.0.1:6379/0", "ragline:sessions:", None)
    with closing(open_session_store(settings)) as store:
        assert isinstance(store, SQLiteSessionStore)
        assert store.path == settings.home / "sessions.sqlite"
    monkeypatch.setenv("RAGLINE_SESSIONS__BACKEND", "redis")
    monkeypatch.setenv("RAGLINE_SESSIONS__TTL_S", "60")
    assert (make_settings().sessions.backend, make_settings().sessions.ttl_s) == ("redis", 60)


def test_backend_redis_opens_a_redis_store(make_settings: Callable[..., Settings],
                                           redis_url: str, redis_prefix: str) -> None:
    settings = make_settings(sessions={"backend": "redis", "redis_url": redis_url,
                                       "redis_prefix": redis_prefix, "ttl_s": 30})
    store = open_session_store(settings)
    try:
        assert isinstance(store, RedisSessionStore)
        assert (store.prefix, store.ttl_s) == (redis_prefix, 30)
        store.save(record())
        assert store.load("s1") == record()
    finally:
        store.close()


def test_bad_sessions_settings_are_config_errors_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"sessions\.backend: Input should be 'sqlite' or "
                                          r"'redis' \(got 'mongo'\)"):
        load_settings(sessions={"backend": "mongo"})
    with pytest.raises(ConfigError, match=r"sessions\.ttl_s: Input should be greater than 0"):
        load_settings(sessions={"ttl_s": 0})
    with pytest.raises(ConfigError, match=r"sessions\.ttl: unknown key"):
        load_settings(sessions={"ttl": 5})
    with pytest.raises(ConfigError, match=r"sessions\.redis_url 'http://host' cannot be used"):
        RedisSessionStore("http://host")
    with pytest.raises(ConfigError, match=r"sessions\.ttl_s must be > 0"):
        RedisSessionStore("redis://127.0.0.1:6379/0", ttl_s=0)


@pytest.mark.unit
def test_a_broken_sqlite_file_is_a_store_error_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "sessions.sqlite"
    broken.write_bytes(b"this is not a SQLite database, it is a stray text file" * 100)
    with pytest.raises(SessionStoreUnavailable, match=r"sessions\.sqlite") as caught:
        SQLiteSessionStore(broken)
    assert caught.value.http_status == 503


def test_an_unreachable_redis_is_a_store_error_naming_the_prefix() -> None:
    with closing(RedisSessionStore("redis://127.0.0.1:1/0", prefix="nowhere:",
                                   timeout_s=0.5)) as store:
        with pytest.raises(SessionStoreUnavailable, match="nowhere:"):
            store.load("s1")
        with pytest.raises(SessionStoreUnavailable):
            store.save(record())
        with pytest.raises(SessionStoreUnavailable):
            store.sessions("acme")


@pytest.mark.unit
def test_a_sessions_file_from_before_collections_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    with closing(sqlite3.connect(path)) as old:  # the schema before sessions kept a collection
        old.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, "
                    "title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, "
                    "summary TEXT NOT NULL, summarised INTEGER NOT NULL)")
        old.execute("INSERT INTO sessions VALUES ('old', 'acme', 'q', ?, ?, '', 0)", (T0, T0))
        old.commit()
    with SQLiteSessionStore(path) as store:
        assert store.load("old").collection == ""
        store.save(record("new", collection="handbook"))
        assert store.load("new").collection == "handbook"
