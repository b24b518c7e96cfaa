"""The one exception hierarchy of ragline.

Every error ragline raises on purpose derives from :class:`RagLineError`, so a
caller can catch one class. Each class says whether retrying can help and which
HTTP status a server should answer with::

    RagLineError
    ├── ConfigError               bad or unknown configuration key (400)
    ├── InvalidInput              a request ragline cannot act on, e.g. an empty question (400)
    ├── DocumentLoadError         a file that cannot be read or holds no text (422)
    ├── CollectionNotFound        asked for a collection that was never created (404)
    ├── SessionNotFound           asked for a chat session never saved for this tenant (404)
    ├── KeyNotFound               named an API key id that was never created (404)
    ├── AuthenticationRequired    a request without a valid ragline API key (401)
    ├── RateLimitExceeded         an API key is over its requests or tokens per minute (429)
    ├── ForeignCollection         wrote to a collection another tool created; it is read-only (409)
    ├── IndexBusy                 another process holds the embedded index past the wait (503)
    ├── BudgetExceeded            a tenant's or API key's spending limit is reached (402)
    ├── StoreUnavailable          a database of ragline state failed; nothing half-written (503)
    │   ├── LedgerError           the cost ledger's database (503)
    │   └── SessionStoreUnavailable  the chat session store: SQLite or Redis (503)
    ├── RouterError               a saved router cannot be used (422)
    │   └── RouterMismatch        it was trained with another embedder than the one given (422)
    └── ProviderError             a model provider failed or answered nonsense (502)
        ├── ProviderNotInstalled  the provider's Python package is missing (500)
        ├── MissingCredentials    the provider's API key is not set (401)
        ├── AuthenticationFailed  the provider rejected the key (401/403 upstream) (502)
        ├── RateLimited           the provider said 429; retried, then raised (429)
        ├── ContextTooLong        the prompt exceeds the model's context window (400)
        ├── ProviderTimeout       no answer within the timeout; retried, then raised (504)
        ├── ProviderUnavailable   5xx or connection failure; retried, then raised (503)
        │   └── CircuitOpen       the provider's circuit breaker is open: not called (503)
        └── AnswerRejected        every model of a fallback chain failed its answer check (502)

Messages say what to do next: the key to fix, the package to install, the
variable to set.
"""

from __future__ import annotations

from typing import Any

from ragline.redact import redact


class RagLineError(Exception):
    """Root of every error ragline raises deliberately.

    Its message never shows a secret: the arguments, ``str()``, ``repr()`` and every
    note added to it pass through :func:`ragline.redact.redact`, so an upstream reply
    that echoes an API key is printed, logged and stored masked wherever it goes.
    """

    retryable: bool = False
    http_status: int = 500

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))

    def __str__(self) -> str:
        return redact(super().__str__())

    def __repr__(self) -> str:
        return redact(super().__repr__())

    def add_note(self, note: str, /) -> None:
        """Add ``note`` (redacted) to the notes a traceback prints."""
        super().add_note(redact(note))


class ConfigError(RagLineError):
    """A configuration file, key or value is invalid; the message names the key."""

    http_status = 400


class InvalidInput(RagLineError):
    """The caller's input cannot be acted on (empty question, bad option value)."""

    http_status = 400


class DocumentLoadError(RagLineError):
    """A document could not be read, parsed, or held no text."""

    http_status = 422

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CollectionNotFound(RagLineError):
    """The named collection does not exist; ingest documents into it first."""

    http_status = 404

    def __init__(self, name: str, where: str) -> None:
        super().__init__(
            f"collection {name!r} does not exist in {where}; "
            f"create it with `ragline ingest PATH --collection {name}`"
        )
        self.name = name


class SessionNotFound(RagLineError):
    """No saved chat session has this id for this tenant (never saved, deleted, or another
    tenant's: the message does not say which)."""

    http_status = 404

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no saved chat session {session_id!r} for this tenant; start a new "
                         "session, or list the saved ones")
        self.session_id = session_id


class KeyNotFound(RagLineError):
    """No API key has this id (``ragline keys list --all`` shows every key, revoked too)."""

    http_status = 404

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key {key_id!r}; `ragline keys list --all` shows every key")
        self.key_id = key_id


class AuthenticationRequired(RagLineError):
    """A request carries no valid ragline API key: missing, malformed, unknown, with a
    wrong secret or revoked. The message is the same for each, so it never tells a caller
    whether a key id exists."""

    http_status = 401

    def __init__(self) -> None:
        super().__init__("a valid ragline API key (rl-...) is required: this one is missing, "
                         "malformed, wrong or revoked; `ragline keys create` makes a new one")


class RateLimitExceeded(RagLineError):
    """An API key is over one of its gateway limits: ``limit`` is ``"rpm"`` (requests per
    minute) or ``"tpm"`` (tokens per minute), and ``retry_after_s`` the seconds until the
    request would pass (a server answers 429 with a ``Retry-After`` of it). Nothing of the
    request was counted. Not :class:`RateLimited`, which is an upstream provider's 429."""

    retryable = True
    http_status = 429

    def __init__(self, key_id: str, *, limit: str, retry_after_s: float) -> None:
        what = "requests" if limit == "rpm" else "tokens"
        super().__init__(f"API key {key_id!r} is over its {what} per minute limit ({limit}); "
                         f"retry in {retry_after_s:.1f} s")
        self.key_id = key_id
        self.limit = limit
        self.retry_after_s = retry_after_s


class ForeignCollection(RagLineError):
    """The collection exists but ragline did not create it: it can be searched, not written."""

    http_status = 409

    def __init__(self, name: str, where: str) -> None:
        super().__init__(
            f"collection {name!r} in {where} was not created by ragline (it has no ragline "
            "metadata), so ragline only searches it; ingest into a new collection name instead"
        )
        self.name = name


class IndexBusy(RagLineError):
    """Another process holds the collection's embedded (Qdrant Edge) shard.

    An Edge shard is opened by one process at a time; a second one waits up to
    ``index.lock_wait_s`` and then raises this. ``holder`` describes the process
    that holds it (its command and pid) when it said so.
    """

    retryable = True
    http_status = 503

    def __init__(self, name: str, where: str, *, holder: str, waited_s: float) -> None:
        super().__init__(
            f"collection {name!r} in {where} is in use by {holder}; waited {waited_s:g} s. "
            "Wait for it to finish and retry, raise index.lock_wait_s to wait longer, or "
            "serve many processes from a Qdrant server (index.transport: client)")
        self.name = name
        self.holder = holder
        self.waited_s = waited_s


class BudgetExceeded(RagLineError):
    """A spending limit (dollars or tokens, per day or month) is reached for a tenant or key."""

    http_status = 402

    def __init__(self, message: str, *, scope: str, key: str, period: str) -> None:
        super().__init__(message)
        self.scope = scope
        self.key = key
        self.period = period


class StoreUnavailable(RagLineError):
    """A database ragline keeps state in (the cost ledger, the API keys, the chat sessions)
    could not be read or written; the transaction rolled back (503)."""

    retryable = True
    http_status = 503


class LedgerError(StoreUnavailable):
    """The cost ledger's database could not be read or written (the transaction rolled back)."""


class SessionStoreUnavailable(StoreUnavailable):
    """The chat session store (the SQLite file, or the Redis server) failed or cannot be
    reached (503); the turn being saved was not saved."""


class RouterError(RagLineError):
    """A saved router file cannot be used: unreadable, not a router, or of another version."""

    http_status = 422


class RouterMismatch(RouterError):
    """A saved router was trained with another embedder than the one it is loaded with."""


class ProviderError(RagLineError):
    """A chat or embedding provider failed.

    Carries the ``provider``, the ``model``, the upstream HTTP ``status_code``
    (None when no response came), the ``retry_after`` seconds the provider asked
    for (None when it did not say), and ``partial``: the response produced
    before a stream broke off (its text and usage), so its cost can still be
    recorded. ``retryable`` says whether another attempt may succeed.
    """

    http_status = 502

    def __init__(self, message: str, *, provider: str, model: str | None = None,
                 status_code: int | None = None, retry_after: float | None = None,
                 partial: Any = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        self.partial = partial


class ProviderNotInstalled(ProviderError):
    """The provider needs a Python package that is not installed."""

    http_status = 500


class MissingCredentials(ProviderError):
    """The provider needs an API key that is not set."""

    http_status = 401


class AuthenticationFailed(ProviderError):
    """The provider rejected the credentials (upstream 401 or 403); check the API key."""


class RateLimited(ProviderError):
    """The provider answered 429 on every attempt; ``retry_after`` is its last hint."""

    retryable = True
    http_status = 429


class ContextTooLong(ProviderError):
    """The prompt does not fit the model's context window; shorten it or pick a larger model."""

    http_status = 400


class ProviderTimeout(ProviderError):
    """The provider did not answer within the configured timeout."""

    retryable = True
    http_status = 504


class ProviderUnavailable(ProviderError):
    """The provider failed on its side (5xx) or could not be reached."""

    retryable = True
    http_status = 503


class CircuitOpen(ProviderUnavailable):
    """The provider failed too often lately; its circuit breaker refuses calls until a
    probe succeeds (``retry_after`` says when the next probe may go)."""


class AnswerRejected(ProviderError):
    """Every model of a fallback chain answered, and every answer failed the answer check.

    ``partial`` is the last answer, so a caller may still show it with a warning.
    """
