"""``CachedChatModel``: the exact cache, as a ChatModel wrapping another one.

A request's :func:`~ragline.cache.keys.cache_key` (tenant namespace from the current
``query_scope``, prompt and index version from :class:`~ragline.cache.keys.CacheScope`)
is looked up in a :class:`~ragline.cache.store.CacheStore`:

- a hit answers from the store: ``cache="hit"``, no usage, cost 0, the stored route with
  ``(cache hit)`` after it, and the lookup's ms in ``timings["cache"]``;
- a miss calls the wrapped model, stores the response and returns it with ``cache="miss"``.
  Concurrent identical misses share one upstream call (single-flight); the callers that
  waited get the answer as a hit. On an event loop (``agenerate``) an in-process store is
  read on the loop and written once the loop's current step ends, after the response has
  gone out and before the next request is read; a network store is called from a thread.

Streams: a miss streams from upstream while recording the deltas and stores the reply only
when the stream completed (a broken or abandoned stream stores nothing); a hit is replayed
as a stream of the stored text, word by word. Failures are never cached. A store whose
backend is down answers misses and drops writes, so requests still succeed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, replace
from decimal import Decimal

from ragline.cache.keys import CacheKey, CacheScope, cache_key
from ragline.cache.singleflight import AsyncSingleFlight, SingleFlight
from ragline.cache.store import CacheStore
from ragline.cost.metered import current_scope
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import ChatModelWrapper, route_of
from ragline.offload import off_loop
from ragline.types import ChatRequest, ChatResponse, Usage


def scope_from_metadata(request: ChatRequest) -> CacheScope:
    """The request's :class:`CacheScope`, read from its metadata."""
    return CacheScope.from_metadata(request.metadata)


def encode_response(response: ChatResponse, route: str) -> str:
    """The JSON a store keeps for ``response``: text, model, finish reason, route, and the
    original usage, cost and latency (for reports of what the cache saved)."""
    return json.dumps({"text": response.text, "model": response.model,
                       "finish_reason": response.finish_reason, "route": route,
                       "usage": asdict(response.usage), "latency_ms": response.latency_ms,
                       "cost": None if response.cost is None else str(response.cost)})


def decode_hit(payload: str, started: float) -> ChatResponse:
    """The response a hit returns for ``payload``: nothing was spent to produce it."""
    stored = json.loads(payload)
    elapsed = _ms_since(started)
    return ChatResponse(text=stored["text"], model=stored["model"], usage=Usage(),
                        cost=Decimal(0), latency_ms=elapsed,
                        finish_reason=stored.get("finish_reason", "stop"),
                        route=f"{stored.get('route') or stored['model']} (cache hit)",
                        timings={"cache": elapsed}, cache="hit")


def replay_chunks(text: str) -> list[str]:
    """``text`` cut before each word that follows whitespace; the pieces join to ``text``."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class CachedChatModel(ChatModelWrapper):
    """A :class:`~ragline.models.chat.ChatModel` that answers repeated requests from
    ``store``.

    ``ttl_s`` overrides the store's TTL for this model's entries; ``default_tenant`` is
    the namespace used outside any ``query_scope``; ``scope_of`` gives a request's
    prompt and index version (default: its metadata, see
    :meth:`CacheScope.from_metadata`).
    """

    def __init__(self, inner: ChatModel, store: CacheStore, *, ttl_s: float | None = None,
                 default_tenant: str = "default",
                 scope_of: Callable[[ChatRequest], CacheScope] = scope_from_metadata) -> None:
        super().__init__(inner)
        self.store = store
        self.ttl_s = ttl_s
        self.default_tenant = default_tenant
        self.scope_of = scope_of
        self._flight: SingleFlight[ChatResponse] = SingleFlight()
        self._aflight: AsyncSingleFlight[ChatResponse] = AsyncSingleFlight()

    def tenant(self) -> str:
        """The tenant of the current ``query_scope``, else ``default_tenant``."""
        scope = current_scope()
        return scope.tenant if scope is not None else self.default_tenant

    def key_for(self, request: ChatRequest) -> CacheKey:
        """The cache key of ``request`` for the current tenant."""
        return cache_key(request, tenant=self.tenant(), provider=self.inner.provider,
                         model=self.inner.model, scope=self.scope_of(request))

    def _store(self, key: CacheKey, response: ChatResponse) -> ChatResponse:
        """Put ``response`` in the store; return it marked as a miss."""
        self.store.put(key, encode_response(response, route_of(response, self.inner)),
                       ttl_s=self.ttl_s)
        return replace(response, cache="miss")

    def _shared(self, response: ChatResponse, started: float) -> ChatResponse:
        """A leader's response as a follower receives it: a hit, nothing spent."""
        if response.cache == "hit":
            return response
        return decode_hit(encode_response(response, route_of(response, self.inner)), started)

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The stored response, else the wrapped model's (stored; one call per key)."""
        started = time.perf_counter()
        key = self.key_for(request)
        payload = self.store.get(key)
        if payload is not None:
            return decode_hit(payload, started)

        def fill() -> ChatResponse:
            again = self.store.get(key)  # a flight that just ended may have stored it
            if again is not None:
                return decode_hit(again, started)
            return self._store(key, self.inner.generate(request))

        response, led = self._flight.do(key, fill)
        return response if led else self._shared(response, started)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; a network store is called in a worker thread, an
        in-process one on the loop, its write once the loop's current step ends."""
        started = time.perf_counter()
        key = self.key_for(request)
        payload = await off_loop(self.store.in_process, self.store.get, key)
        if payload is not None:
            return decode_hit(payload, started)

        async def fill() -> ChatResponse:
            # a flight that ended while a network store was read may have stored the key;
            # an in-process store was read with no await before the flight began
            if not self.store.in_process:
                again = await asyncio.to_thread(self.store.get, key)
                if again is not None:
                    return decode_hit(again, started)
            response = await self.inner.agenerate(request)
            if not self.store.in_process:
                return await asyncio.to_thread(self._store, key, response)
            # stored once this step of the loop ends: after the response is sent, before
            # the loop reads another request
            payload = encode_response(response, route_of(response, self.inner))
            asyncio.get_running_loop().call_soon(
                functools.partial(self.store.put, key, payload, ttl_s=self.ttl_s))
            return replace(response, cache="miss")

        response, led = await self._aflight.do(key, fill)
        return response if led else self._shared(response, started)

    def stream(self, request: ChatRequest) -> ChatStream:
        """A hit replayed as a stream, else the wrapped model's stream, stored once complete.

        The lookup happens when the first delta is asked for; what is stored (and replayed)
        is the deltas the caller received, joined.
        """
        return ChatStream(self._stream(request))

    def _stream(self, request: ChatRequest) -> Iterator[Delta]:
        started = time.perf_counter()
        key = self.key_for(request)
        payload = self.store.get(key)
        if payload is not None:
            hit = decode_hit(payload, started)
            yield from replay_chunks(hit.text)
            yield hit
            return
        inner = self.inner.stream(request)
        parts: list[str] = []
        complete = False
        try:
            for delta in inner:
                parts.append(delta)
                yield delta
            complete = True
        finally:
            if not complete:
                inner.close()
        if inner.response is not None:
            yield self._store(key, replace(inner.response, text="".join(parts)))

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""
        return AsyncChatStream(self._astream(request))

    async def _astream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        started = time.perf_counter()
        key = self.key_for(request)
        payload = await off_loop(self.store.in_process, self.store.get, key)
        if payload is not None:
            hit = decode_hit(payload, started)
            for piece in replay_chunks(hit.text):
                yield piece
            yield hit
            return
        inner = self.inner.astream(request)
        parts: list[str] = []
        complete = False
        try:
            async for delta in inner:
                parts.append(delta)
                yield delta
            complete = True
        finally:
            if not complete:
                await inner.aclose()
        if inner.response is not None:
            response = replace(inner.response, text="".join(parts))
            yield await off_loop(self.store.in_process, self._store, key, response)
