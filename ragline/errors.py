"""The one exception hierarchy of ragline.

Every error ragline raises on purpose derives from :class:`RagLineError`, so a
caller can catch one class. Each class says whether retrying can help and which
HTTP status a server should answer with::

    RagLineError
    ├── ConfigError               bad or unknown configuration key (400)
    ├── InvalidInput              a request ragline cannot act on, e.g. an empty question (400)
    ├── DocumentLoadError         a file that cannot be read or holds no text (422)
    ├── CollectionNotFound        asked for a collection that was never created (404)
    ├── ForeignCollection         wrote to a collection another tool created; it is read-only (409)
    └── ProviderError             a model provider failed (502)
        ├── ProviderNotInstalled  the provider's Python package is missing (500)
        └── MissingCredentials    the provider's API key is not set (401)

Messages say what to do next: the key to fix, the package to install, the
variable to set.
"""

from __future__ import annotations


class RagLineError(Exception):
    """Root of every error ragline raises deliberately."""

    retryable: bool = False
    http_status: int = 500


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


class ForeignCollection(RagLineError):
    """The collection exists but ragline did not create it: it can be searched, not written."""

    http_status = 409

    def __init__(self, name: str, where: str) -> None:
        super().__init__(
            f"collection {name!r} in {where} was not created by ragline (it has no ragline "
            "metadata), so ragline only searches it; ingest into a new collection name instead"
        )
        self.name = name


class ProviderError(RagLineError):
    """A chat or embedding provider failed; carries the provider and model."""

    http_status = 502

    def __init__(self, message: str, *, provider: str, model: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code


class ProviderNotInstalled(ProviderError):
    """The provider needs a Python package that is not installed."""

    http_status = 500


class MissingCredentials(ProviderError):
    """The provider needs an API key that is not set."""

    http_status = 401
