"""What the OpenAI- and Anthropic-compatible endpoints share: who is calling, what they may
call, and the models behind the names.

:class:`Gateway` authenticates a request's key (``Authorization: Bearer rl-...`` or
``x-api-key``) with the :class:`~ragline.server.keys.KeyStore`, checks the model and
collection against the key, takes the request from the key's rate limits, and resolves a
model name:

- ``ragline/auto``: the configured chat-model stack (routing, budgets, fallback), the same
  object the default collection's :class:`~ragline.app.pipeline.RAGPipeline` answers with;
- ``provider:model`` (``openai:gpt-4o-mini``): one configured model, metered into the
  ledger under the caller's tenant and key; the configured ones are the answering model,
  the routing tiers and ``gateway.models``;
- ``ragline/rag/<collection>``: a cited RAG answer from that collection's pipeline.

With ``cache.mode`` exact or semantic, chat models answer repeated requests from the exact
cache (namespaced by tenant); a hit is a ledger row of stage ``cache``. Every call runs in
a :class:`~ragline.cost.metered.QueryScope` of its own query id, the caller's tenant and
key id, so the ledger, budgets and cache never mix tenants.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from ragline.cache.chat import CachedChatModel
from ragline.cache.store import CacheStore
from ragline.config import Settings
from ragline.cost.metered import QueryScope, new_query_id, query_scope
from ragline.models.chat import ChatModel
from ragline.models.streaming import ChatStream
from ragline.offload import off_loop
from ragline.routing.compose import model_for_route
from ragline.server.errors import ModelNotFound, PermissionDenied
from ragline.server.keys import ApiKey, KeyStore
from ragline.server.metrics import ServerMetrics
from ragline.server.ratelimit import RateLimiter, open_rate_limiter
from ragline.server.state import ServerState
from ragline.types import ChatRequest, ChatResponse, Usage

AUTO = "ragline/auto"
"""The model name of the configured stack (the router, budgets, fallback)."""

RAG_PREFIX = "ragline/rag/"
"""``ragline/rag/<collection>``: a cited answer from that collection."""

KEY_CACHE_ENTRIES = 10_000
"""Authenticated keys remembered at most (the memory is cleared when it fills)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is for: its key (None for a keyless request the config allows) and
    the tenant it is charged to; :attr:`scope` gives each call a fresh query id."""

    key: ApiKey | None
    tenant: str

    @property
    def key_id(self) -> str | None:
        """The key's public id, as the ledger's ``api_key`` column records it."""
        return None if self.key is None else self.key.id

    def scope(self) -> QueryScope:
        """A new query scope for one request of this caller."""
        return QueryScope(new_query_id(), self.tenant, None, self.key_id)


def bearer_token(authorization: str | None, x_api_key: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` or ``x-api-key: <token>``; None when
    neither header is there."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else authorization.strip()
    return None


def estimated_tokens(request: ChatRequest) -> int:
    """What a request may spend, before it runs: its characters / 4, plus ``max_tokens``."""
    return sum(len(m.content) for m in request.messages) // 4 + request.max_tokens


class Gateway:
    """Keys, rate limits and models of the ``/v1`` endpoints of one server process."""

    def __init__(self, state: ServerState, *, cache_store: CacheStore | None = None,
                 metrics: ServerMetrics | None = None) -> None:
        self.state = state
        self.metrics = metrics or ServerMetrics()
        self.settings: Settings = state.settings
        self.keys = KeyStore.from_settings(self.settings)
        self.limiter: RateLimiter = open_rate_limiter(self.settings)
        self._cache_store = cache_store
        self._models: dict[str, ChatModel] = {}
        self._known: dict[bytes, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    # ---- who is calling ------------------------------------------------------------

    def caller(self, authorization: str | None, x_api_key: str | None) -> Caller:
        """The caller of a request; :class:`~ragline.errors.AuthenticationRequired` for a
        bad key, or for none when ``gateway.require_keys`` is on.

        A key that authenticated is remembered for ``gateway.key_cache_s`` seconds (by the
        SHA-256 of its token), so a busy key costs one database read per period: a key
        revoked meanwhile keeps working in this process until its entry expires."""
        token = bearer_token(authorization, x_api_key)
        if token is None and not self.settings.gateway.require_keys:
            return Caller(None, self.settings.cost.tenant)
        key = self._remembered(token or "") or self._authenticated(token or "")
        return Caller(key, key.tenant)

    async def acaller(self, authorization: str | None, x_api_key: str | None) -> Caller:
        """:meth:`caller` for the event loop: a remembered key costs no I/O, any other is
        looked up in a worker thread."""
        token = bearer_token(authorization, x_api_key)
        if token is None and not self.settings.gateway.require_keys:
            return Caller(None, self.settings.cost.tenant)
        key = self._remembered(token or "")
        if key is None:
            key = await run_in_threadpool(self._authenticated, token or "")
        return Caller(key, key.tenant)

    def _remembered(self, token: str) -> ApiKey | None:
        """The key ``token`` authenticated as less than ``gateway.key_cache_s`` ago."""
        remembered = self._known.get(hashlib.sha256(token.encode()).digest())
        if remembered is not None and remembered[1] > time.monotonic():
            return remembered[0]
        return None

    def _authenticated(self, token: str) -> ApiKey:
        """The key of ``token`` from the key store, remembered for ``gateway.key_cache_s``."""
        key = self.keys.authenticate(token)
        ttl = self.settings.gateway.key_cache_s
        if ttl > 0:
            with self._lock:
                if len(self._known) >= KEY_CACHE_ENTRIES:
                    self._known.clear()
                self._known[hashlib.sha256(token.encode()).digest()] = (
                    key, time.monotonic() + ttl)
        return key

    def check_model(self, caller: Caller, name: str) -> None:
        """:class:`PermissionDenied` unless the caller's key may call ``name`` (and, for a
        RAG model, use its collection)."""
        key = caller.key
        if key is None:
            return
        if not key.allows_model(name):
            raise PermissionDenied(f"API key {key.id} may not call model {name!r}")
        if name.startswith(RAG_PREFIX) and not key.allows_collection(name[len(RAG_PREFIX):]):
            raise PermissionDenied(f"API key {key.id} may not use collection "
                                   f"{name[len(RAG_PREFIX):]!r}")

    def admit(self, caller: Caller, tokens: int) -> None:
        """Take one request and ``tokens`` from the key's limits, or raise
        :class:`~ragline.errors.RateLimitExceeded` (429)."""
        if caller.key is not None:
            self.limiter.acquire(caller.key, tokens)

    async def aadmit(self, caller: Caller, tokens: int) -> None:
        """:meth:`admit` for the event loop (in a worker thread when the limits are kept
        on a server)."""
        if caller.key is not None:
            await off_loop(self.limiter.in_process, self.limiter.acquire, caller.key, tokens)

    def settle(self, caller: Caller, estimated: int, usage: Usage | None) -> None:
        """Correct the key's token bucket by what the request really used."""
        if caller.key is not None and usage is not None:
            self.limiter.settle(caller.key, estimated, usage.prompt_tokens + usage.output_tokens)

    # ---- what they may call --------------------------------------------------------

    def configured(self) -> list[str]:
        """The ``provider:model`` names the config offers, in a stable order."""
        generation, routing = self.settings.generation, self.settings.routing
        names = []
        if generation.provider not in ("routed", "extractive"):
            names.append(f"{generation.provider}:{generation.model}")
        names += [tier.model for tier in routing.tiers]
        names += list(self.settings.gateway.models)
        return list(dict.fromkeys(names))

    def model_names(self, caller: Caller) -> list[str]:
        """Every model name the caller may call: ``ragline/auto``, the configured models,
        and ``ragline/rag/<collection>`` for each collection."""
        collections = self.state.collections()
        names = [AUTO, *self.configured(), *(RAG_PREFIX + c for c in collections)]
        key = caller.key
        if key is None:
            return names
        return [n for n in names if key.allows_model(n) and (
            not n.startswith(RAG_PREFIX) or key.allows_collection(n[len(RAG_PREFIX):]))]

    def built_model(self, name: str) -> ChatModel | None:
        """The chat model behind ``name`` if :meth:`chat_model` has built it already."""
        with self._lock:
            return self._models.get(name)

    def chat_model(self, name: str) -> ChatModel:
        """The chat model behind ``name`` (``ragline/auto`` or a configured
        ``provider:model``), built once; :class:`ModelNotFound` for any other name."""
        model = self.built_model(name)
        if model is not None:
            return model
        if name == AUTO:
            model = self.state.pipelines.get(must_exist=False).model
        elif name in self.configured():
            meter = self.state.pipelines.get(must_exist=False).meter
            model = meter.chat(model_for_route(
                name, self.settings.generation, setting="gateway.models",
                prompt_caching=self.settings.cache.provider_prompt))
        else:
            raise ModelNotFound(name, self.configured())
        if self._cache_store is not None:
            model = CachedChatModel(model, self._cache_store,
                                    default_tenant=self.settings.cost.tenant)
        with self._lock:
            return self._models.setdefault(name, model)

    # ---- calling -------------------------------------------------------------------

    async def agenerate(self, model: ChatModel, request: ChatRequest, scope: QueryScope
                        ) -> ChatResponse:
        """``model``'s reply in ``scope``, on the event loop through the models' async
        calls; a cache hit is recorded as a ledger row."""
        with query_scope(scope):
            response = await model.agenerate(request)
            self._record_hit(response, deferred=True)
        return response

    def stream(self, model: ChatModel, request: ChatRequest, scope: QueryScope) -> ChatStream:
        """``model``'s streamed reply, every step in ``scope`` (a context of its own)."""

        def source() -> Iterator[str | ChatResponse]:
            with query_scope(scope):
                inner = model.stream(request)
                yield from inner
                assert inner.response is not None  # set when the stream is exhausted
                self._record_hit(inner.response)
                yield inner.response

        return ChatStream(source(), context=contextvars.copy_context())

    def _record_hit(self, response: ChatResponse, *, deferred: bool = False) -> None:
        if response.cache == "hit":
            meter = self.state.pipelines.get(must_exist=False).meter
            meter.record(stage="cache", provider="ragline", model="chat-cache",
                         usage=Usage(), latency_ms=response.latency_ms,
                         route_reason=f"exact: {response.route}", cache="exact",
                         deferred=deferred)

    def close(self) -> None:
        """Close the key store, the limiter and the cache store."""
        self.keys.close()
        self.limiter.close()
        if self._cache_store is not None:
            self._cache_store.close()
