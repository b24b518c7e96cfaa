"""The exact cache's key: the normalised request, as canonical JSON, and its sha256.

Two requests share an entry only when everything that can change the answer is equal:
the provider and model, the messages, ``max_tokens``, ``temperature``, the question,
passages and metadata, the prompt template's name and version, and, for a RAG answer,
the collection and its index version (which changes on every ingest or delete that
touches it, so an entry never outlives the content it was answered from).

The tenant is a namespace of the store, and is also part of the material: the stores keep
the full material beside each entry and compare it on every read, so neither a hash
collision nor a store bug can hand one tenant another tenant's answer.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ragline.types import ChatRequest

KEY_FORMAT = 1
"""Bumped whenever the material changes shape, so old entries are never read as new ones."""

SCOPE_KEYS = ("prompt", "prompt_version", "collection", "index_version")
"""The ``ChatRequest.metadata`` keys :meth:`CacheScope.from_metadata` reads."""


@dataclass(frozen=True, slots=True)
class CacheScope:
    """What an answer depends on besides the request's own text.

    ``prompt`` and ``prompt_version`` name the template that rendered the messages;
    ``collection`` and ``index_version`` say which content a RAG answer was drawn from
    (None for a plain chat request).
    """

    prompt: str | None = None
    prompt_version: str | None = None
    collection: str | None = None
    index_version: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> CacheScope:
        """The scope a request's metadata carries (keys :data:`SCOPE_KEYS`), as strings."""
        values = {name: metadata.get(name) for name in SCOPE_KEYS}
        return cls(**{k: None if v is None else str(v) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Where an entry lives: the ``tenant`` namespace, the ``digest`` (sha256 hex of
    ``material``) and the ``material`` itself, compared on every read."""

    tenant: str
    digest: str
    material: str


def normalise_text(text: str) -> str:
    """``text`` in Unicode NFC with ``\\r\\n`` and ``\\r`` line ends made ``\\n``."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys and no spaces; anything JSON lacks becomes str."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def key_material(request: ChatRequest, *, tenant: str, provider: str, model: str,
                 scope: CacheScope | None = None) -> str:
    """The canonical JSON of everything that can change the answer to ``request``.

    ``model`` is the model the request asks for, else the wrapped model's default.
    ``stream`` is left out: a stream and a plain call share an entry.
    """
    scope = scope or CacheScope()
    material = {
        "format": KEY_FORMAT,
        "tenant": tenant,
        "provider": provider,
        "model": request.model or model,
        "messages": [[m.role, normalise_text(m.content)] for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": float(request.temperature),
        "question": None if request.question is None else normalise_text(request.question),
        "passages": [normalise_text(p) for p in request.passages],
        "metadata": request.metadata,
        "prompt": scope.prompt,
        "prompt_version": scope.prompt_version,
        "collection": scope.collection,
        "index_version": scope.index_version,
    }
    return canonical_json(material)


def digest_of(material: str) -> str:
    """The sha256 hex digest of ``material``."""
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def cache_key(request: ChatRequest, *, tenant: str, provider: str, model: str,
              scope: CacheScope | None = None) -> CacheKey:
    """The :class:`CacheKey` of ``request`` for ``tenant`` (see :func:`key_material`)."""
    material = key_material(request, tenant=tenant, provider=provider, model=model,
                            scope=scope)
    return CacheKey(tenant, digest_of(material), material)
