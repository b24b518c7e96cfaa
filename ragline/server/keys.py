"""API keys of the gateway: stored hashed, each bound to a tenant, models, collections and
rate limits, in a SQLite file or in PostgreSQL.

A key is shown once, when it is made, as the token ``rl-<id>-<secret>``: ``id`` is 12 hex
characters and public (fit for lists, logs and the cost ledger's ``api_key``), and
``secret`` is :func:`secrets.token_urlsafe` of 32 random bytes. The store keeps the id and
the SHA-256 of the secret, never the secret: a leaked table authenticates nobody.
:meth:`KeyStore.authenticate` turns a token back into its :class:`ApiKey`, or raises
:class:`~ragline.errors.AuthenticationRequired` (401) with one message for every failure.

The table is ``api_keys``, created on first use, in ``gateway.keys_url`` or
``home/keys.sqlite``; the engine is the cost ledger's (:func:`ragline.cost.ledger.open_engine`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
    update,
)

from ragline.config import Settings
from ragline.cost.ledger import UtcDateTime, open_engine, sqlite_under_home
from ragline.cost.schema import LazySchema, database_errors
from ragline.errors import (
    AuthenticationRequired,
    InvalidInput,
    KeyNotFound,
    StoreUnavailable,
)

TOKEN_PREFIX = "rl"
"""Every token starts with ``rl-``."""

_ID_BYTES = 6  # 12 hex characters
_SECRET_BYTES = 32
_TOKEN = re.compile(rf"{TOKEN_PREFIX}-(?P<id>[0-9a-f]{{{2 * _ID_BYTES}}})"
                    r"-(?P<secret>[A-Za-z0-9_-]+)")
STORE = "API key store"
"""How database failures of the store name it."""
_NO_DIGEST = "0" * 64  # compared against when the id is unknown: the same work either way

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(2 * _ID_BYTES), primary_key=True),
    Column("name", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("models", JSON, nullable=False),
    Column("collections", JSON, nullable=False),
    Column("rpm", Integer),
    Column("tpm", BigInteger),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Index("ix_api_keys_tenant", "tenant"),
)
"""One row per key: its public id, its limits and the SHA-256 hex of its secret."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One API key, without its secret: whose it is and what it may do.

    ``models`` are model names or ``fnmatch`` patterns (``openai:gpt-4o-mini``,
    ``ragline/auto``, ``ragline/rag/*``) and ``collections`` collection names or patterns;
    an empty tuple allows every one. ``rpm`` and ``tpm`` are requests and tokens per
    minute, None for no limit. Times are aware UTC; ``revoked_at`` None means the key works.
    """

    id: str
    name: str
    tenant: str
    models: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (it then authenticates nothing)."""
        return self.revoked_at is not None

    def allows_model(self, name: str) -> bool:
        """Whether the key may call model ``name``: no models listed, or one that is
        ``name`` or a pattern matching it (``*`` any text, ``?`` one character; case
        matters)."""
        return _allows(self.models, name)

    def allows_collection(self, name: str) -> bool:
        """Whether the key may use collection ``name``: no collections listed, or one that
        is ``name`` or a pattern matching it, as for :meth:`allows_model`."""
        return _allows(self.collections, name)


def _allows(patterns: tuple[str, ...], name: str) -> bool:
    return not patterns or any(fnmatchcase(name, pattern) for pattern in patterns)


def _digest(secret: str) -> str:
    """SHA-256 hex of a secret. A fast hash is right here: the secret is 256 random bits,
    so no guess list or brute force reaches it, and a slow hash (bcrypt, scrypt) would only
    slow every request down."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _text(value: str, what: str) -> str:
    if not value.strip():
        raise InvalidInput(f"an API key's {what} must be non-empty text, not {value!r}")
    return value.strip()


def _names(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidInput(f"an API key's {what}s are a list of names, not the text {values!r}")
    return tuple(_text(value, what) for value in values)


def _per_minute(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value <= 0):
        raise InvalidInput(f"an API key's {what} must be a whole number above 0, or none; "
                           f"not {value!r}")
    return value


def _key(row: Any) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, tenant=row.tenant, models=tuple(row.models),
                  collections=tuple(row.collections), rpm=row.rpm, tpm=row.tpm,
                  created_at=row.created_at, revoked_at=row.revoked_at)


class KeyStore:
    """Makes, lists, revokes and authenticates API keys; only secrets' hashes are stored.

    Thread-safe; the constructor does not connect, and the ``api_keys`` table is created
    on first use. A database failure raises :class:`~ragline.errors.StoreUnavailable` (503,
    naming the database) and changes nothing. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, url: str) -> None:
        self._engine = open_engine(url, setting="gateway.keys_url")
        self._schema = LazySchema(metadata, "the API key table", store=STORE,
                                  error=StoreUnavailable)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        """Open ``settings.gateway.keys_url``, or ``<settings.home>/keys.sqlite`` (created).

        Raises :class:`ConfigError` naming ``home`` when that folder cannot be created.
        """
        return cls(settings.gateway.keys_url or sqlite_under_home(settings.home, "keys.sqlite"))

    def create(self, name: str, tenant: str, models: Sequence[str] = (),
               collections: Sequence[str] = (), rpm: int | None = None,
               tpm: int | None = None) -> tuple[ApiKey, str]:
        """Make a key and return it with its token ``rl-<id>-<secret>``: the only time the
        secret is given out, as the store keeps nothing but its SHA-256.

        ``name`` and ``tenant`` are non-empty text, ``models`` and ``collections``
        non-empty names or patterns (none: all), ``rpm`` and ``tpm`` above 0 or None;
        anything else raises :class:`~ragline.errors.InvalidInput` and stores nothing.
        Surrounding whitespace is dropped.
        """
        key = ApiKey(id=secrets.token_hex(_ID_BYTES), tenant=_text(tenant, "tenant"),
                     name=_text(name, "name"), models=_names(models, "model"),
                     collections=_names(collections, "collection"),
                     rpm=_per_minute(rpm, "rpm"), tpm=_per_minute(tpm, "tpm"),
                     created_at=datetime.now(UTC))
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        row = {"id": key.id, "name": key.name, "tenant": key.tenant,
               "secret_sha256": _digest(secret), "models": list(key.models),
               "collections": list(key.collections), "rpm": key.rpm, "tpm": key.tpm,
               "created_at": key.created_at, "revoked_at": None}
        with database_errors(self._engine, "create an API key", store=STORE,
                             error=StoreUnavailable), \
                self._ready().begin() as connection:
            connection.execute(api_keys.insert().values(row))
        return key, f"{TOKEN_PREFIX}-{key.id}-{secret}"

    def list(self, include_revoked: bool = False) -> tuple[ApiKey, ...]:
        """The keys, oldest first: the working ones, or with ``include_revoked`` all."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with database_errors(self._engine, "list the API keys", store=STORE,
                             error=StoreUnavailable), \
                self._ready().connect() as connection:
            return tuple(_key(row) for row in connection.execute(query))

    def get(self, key_id: str) -> ApiKey:
        """The key with id ``key_id``, revoked or not; :class:`KeyNotFound` when none has it."""
        with database_errors(self._engine, "read an API key", store=STORE,
                             error=StoreUnavailable), \
                self._ready().connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise KeyNotFound(key_id)
        return _key(row)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke key ``key_id`` for good and return it. A key already revoked keeps its
        first ``revoked_at``; an unknown id raises :class:`KeyNotFound`."""
        with database_errors(self._engine, "revoke an API key", store=STORE,
                             error=StoreUnavailable), \
                self._ready().begin() as connection:
            connection.execute(update(api_keys)
                               .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                               .values(revoked_at=datetime.now(UTC)))
        return self.get(key_id)

    def authenticate(self, token: str) -> ApiKey:
        """The working key whose token is ``token``.

        Raises :class:`~ragline.errors.AuthenticationRequired` (401) when the token is
        malformed, its id unknown, its secret wrong or its key revoked, with the same
        message each time; the secret's hash is compared in constant time.
        """
        parsed = _TOKEN.fullmatch(token)
        if parsed is None:
            raise AuthenticationRequired()
        with database_errors(self._engine, "read an API key", store=STORE,
                             error=StoreUnavailable), \
                self._ready().connect() as connection:
            row = connection.execute(
                select(api_keys).where(api_keys.c.id == parsed["id"])).first()
        expected = _NO_DIGEST if row is None else row.secret_sha256
        if not hmac.compare_digest(_digest(parsed["secret"]), expected) \
                or row is None or row.revoked_at is not None:
            raise AuthenticationRequired()
        return _key(row)

    def _ready(self) -> Engine:
        """The engine, with the ``api_keys`` table created."""
        return self._schema.ready(self._engine)

    def close(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        self._engine.dispose()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KeyStore({self._engine.url.render_as_string(hide_password=True)!r})"
