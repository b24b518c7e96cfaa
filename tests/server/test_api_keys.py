"""API keys on SQLite and PostgreSQL: tokens shown once, only hashes stored, one 401 for
every failure, model and collection patterns, validation, persistence."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ragline.config import Settings
from ragline.cost.ledger import open_engine
from ragline.errors import (
    AuthenticationRequired,
    ConfigError,
    InvalidInput,
    KeyNotFound,
    LedgerError,
    StoreUnavailable,
)
from ragline.server.keys import ApiKey, KeyStore, api_keys

# The PostgreSQL server of the ledger tests: a fresh schema per test, requested by name.
from tests.cost.conftest import postgres_admin, postgresql_url  # noqa: F401


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def keys_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per backend (as the ledger's tests do)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keys.sqlite'}"
    url: str = request.getfixturevalue("postgresql_url")
    return url


@pytest.fixture
def store(keys_url: str) -> Iterator[KeyStore]:
    """An empty key store, once per backend, closed afterwards."""
    with KeyStore(keys_url) as opened:
        yield opened


def stored_rows(url: str) -> list[tuple[object, ...]]:
    """Every row of ``api_keys`` as the database holds it, read past the store."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(select(api_keys))]
    finally:
        engine.dispose()


def test_a_created_key_authenticates_with_its_token(store: KeyStore) -> None:
    key, token = store.create("ci", "acme", models=["openai:gpt-4o-mini"],
                              collections=["docs"], rpm=60, tpm=100_000)
    assert token.startswith(f"rl-{key.id}-") and len(key.id) == 12
    int(key.id, 16)  # hex
    assert key == ApiKey(id=key.id, name="ci", tenant="acme", models=("openai:gpt-4o-mini",),
                         collections=("docs",), rpm=60, tpm=100_000,
                         created_at=key.created_at)
    assert key.created_at.tzinfo == UTC
    assert abs(datetime.now(UTC) - key.created_at) < timedelta(minutes=1)
    assert store.authenticate(token) == key
    assert store.get(key.id) == key


def test_the_store_holds_the_secrets_hash_and_never_the_secret(
        store: KeyStore, keys_url: str) -> None:
    key, token = store.create("ci", "acme")
    secret = token.split("-", 2)[2]
    rows = stored_rows(keys_url)
    assert len(rows) == 1
    cells = " ".join(map(str, rows[0]))
    assert secret not in cells and token not in cells
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    for field in (key.id, "ci", "acme"):
        assert field in rows[0]


def test_two_keys_get_different_ids_and_secrets(store: KeyStore) -> None:
    (first, first_token), (second, second_token) = (store.create("a", "acme"),
                                                     store.create("b", "acme"))
    assert first.id != second.id
    assert first_token.split("-", 2)[2] != second_token.split("-", 2)[2]
    assert store.authenticate(second_token) == second


def refusals(token: str, key: ApiKey) -> list[str]:
    """Tokens that must all be refused alike: wrong secret, unknown id, malformed."""
    secret = token.split("-", 2)[2]
    other_id = f"{(int(key.id, 16) + 1) % 16**12:012x}"
    return [f"rl-{key.id}-{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
            f"rl-{key.id}-{secret}x", f"rl-{other_id}-{secret}", "", "rl-", token.upper(),
            f"sk-{key.id}-{secret}", f"rl-{key.id}", f"rl-{key.id}-", f"rl-{key.id[:-1]}-{secret}",
            f"Bearer {token}", f"{token}\n", f"rl-{key.id}-{secret}é", key.id]


def test_every_bad_token_is_refused_with_the_same_401(store: KeyStore) -> None:
    key, token = store.create("ci", "acme")
    messages = set()
    for bad in refusals(token, key):
        with pytest.raises(AuthenticationRequired) as caught:
            store.authenticate(bad)
        assert caught.value.http_status == 401
        messages.add(str(caught.value))
    assert len(messages) == 1
    message = messages.pop()
    assert key.id not in message and "exist" not in message and "unknown" not in message


def test_a_revoked_key_is_refused_with_the_same_401_and_listed_only_with_all(
        store: KeyStore) -> None:
    kept, _ = store.create("kept", "acme")
    key, token = store.create("ci", "acme")
    with pytest.raises(AuthenticationRequired) as unknown:
        store.authenticate(f"rl-{'0' * 12}-{token.split('-', 2)[2]}")
    revoked = store.revoke(key.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert revoked.revoked_at.tzinfo == UTC and revoked.revoked_at >= key.created_at
    with pytest.raises(AuthenticationRequired) as refused:
        store.authenticate(token)
    assert str(refused.value) == str(unknown.value)
    assert store.list() == (kept,)
    assert store.list(include_revoked=True) == (kept, revoked)
    assert store.revoke(key.id) == revoked  # again: the first revocation time is kept
    assert store.get(key.id) == revoked


def test_an_unknown_id_is_not_found(store: KeyStore) -> None:
    for act in (store.revoke, store.get):
        with pytest.raises(KeyNotFound) as caught:
            act("0123456789ab")
        assert caught.value.http_status == 404 and "0123456789ab" in str(caught.value)


def test_keys_persist_across_store_objects(keys_url: str) -> None:
    with KeyStore(keys_url) as first:
        key, token = first.create("ci", "acme", models=["ragline/rag/*"], rpm=5)
        gone, _ = first.create("old", "beta")
        first.revoke(gone.id)
    with KeyStore(keys_url) as second:
        assert second.authenticate(token) == key
        assert second.list() == (key,)
        assert [k.id for k in second.list(include_revoked=True)] == [key.id, gone.id]


@pytest.mark.parametrize(("patterns", "allowed", "refused"), [
    ((), ["openai:gpt-4o", "ragline/auto", "anything"], []),
    (("openai:gpt-4o-mini",), ["openai:gpt-4o-mini"], ["openai:gpt-4o", "openai:gpt-4o-mini2",
                                                       "OPENAI:gpt-4o-mini"]),
    (("ragline/rag/*", "ragline/auto"), ["ragline/rag/docs", "ragline/rag/", "ragline/auto"],
     ["ragline/rag", "ragline/autox", "openai:gpt-4o"]),
    (("openai:*",), ["openai:gpt-4o", "openai:"], ["anthropic:claude", "xopenai:gpt-4o"]),
    (("anthropic:claude-?-haiku",), ["anthropic:claude-3-haiku"],
     ["anthropic:claude-35-haiku"]),
])
def test_allowed_models_are_names_or_patterns(patterns: tuple[str, ...], allowed: list[str],
                                              refused: list[str]) -> None:
    key = ApiKey(id="0" * 12, name="n", tenant="t", models=patterns,
                 created_at=datetime.now(UTC))
    assert all(key.allows_model(name) for name in allowed)
    assert not any(key.allows_model(name) for name in refused)


def test_allowed_collections_are_names_or_patterns() -> None:
    every = ApiKey(id="0" * 12, name="n", tenant="t", created_at=datetime.now(UTC))
    some = ApiKey(id="0" * 12, name="n", tenant="t", collections=("docs", "team-a-*"),
                  created_at=datetime.now(UTC))
    assert every.allows_collection("anything")
    assert some.allows_collection("docs") and some.allows_collection("team-a-wiki")
    assert not some.allows_collection("docs2") and not some.allows_collection("team-b-wiki")


@pytest.mark.parametrize(("fields", "named"), [
    ({"tenant": ""}, "tenant"), ({"tenant": "  "}, "tenant"), ({"name": ""}, "name"),
    ({"rpm": 0}, "rpm"), ({"rpm": -1}, "rpm"), ({"tpm": 0}, "tpm"), ({"rpm": True}, "rpm"),
    ({"models": [""]}, "model"), ({"models": ["openai:*", " "]}, "model"),
    ({"models": "openai:*"}, "model"), ({"collections": [""]}, "collection"),
])
def test_invalid_keys_are_refused_and_nothing_is_stored(
        store: KeyStore, fields: dict[str, object], named: str) -> None:
    values: dict[str, object] = {"name": "ci", "tenant": "acme", **fields}
    with pytest.raises(InvalidInput, match=named) as caught:
        store.create(**values)  # type: ignore[arg-type]
    assert caught.value.http_status == 400
    assert store.list(include_revoked=True) == ()


def test_names_are_stripped(store: KeyStore) -> None:
    key, token = store.create(" ci ", " acme ", models=[" openai:* "], collections=[" docs"])
    assert (key.name, key.tenant, key.models, key.collections) == (
        "ci", "acme", ("openai:*",), ("docs",))
    assert store.authenticate(token) == key


def test_from_settings_uses_home_or_keys_url(make_settings: Callable[..., Settings],
                                             tmp_path: Path) -> None:
    settings = make_settings()
    with KeyStore.from_settings(settings) as store:
        key, token = store.create("ci", "acme")
    assert (Path(settings.home) / "keys.sqlite").is_file()
    elsewhere = tmp_path / "elsewhere.sqlite"
    with KeyStore.from_settings(make_settings(gateway={"keys_url": f"sqlite:///{elsewhere}"})
                                ) as store:
        assert store.list() == ()
        store.create("other", "beta")
    assert elsewhere.is_file()
    with KeyStore.from_settings(settings) as store:
        assert store.authenticate(token) == key


def test_a_bad_keys_url_names_the_gateway_setting() -> None:
    for url in ("not a url", "mysql://user@host/db"):
        with pytest.raises(ConfigError) as caught:
            KeyStore(url)
        assert "gateway.keys_url" in str(caught.value)
        assert "cost.ledger_url" not in str(caught.value)


def test_an_unreachable_database_is_a_store_error_naming_the_key_store() -> None:
    with (KeyStore("postgresql+psycopg://nobody@127.0.0.1:1/none") as store,
          pytest.raises(StoreUnavailable, match="API key store") as caught):
        store.list()
    assert caught.value.http_status == 503 and not isinstance(caught.value, LedgerError)
