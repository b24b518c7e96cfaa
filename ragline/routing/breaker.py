"""A per-provider circuit breaker: stop calling a provider that keeps failing.

:class:`CircuitBreaker` is the state of one provider, shared by every model of
it: *closed* (calls go through; failures are counted), *open* after
``failures`` failed calls within ``window_s`` seconds (calls are refused at once
with :class:`~ragline.errors.CircuitOpen`, which a fallback chain treats like any
provider failure), then *half-open* after ``cooldown_s``: one probe call goes
through, and it closes the circuit if it succeeds or opens it again if it fails.
Only failures that say the provider is unwell count: timeouts, 429 and 5xx
(``ProviderError.retryable``); a bad request or a bad key does not.

:class:`BreakerChatModel` puts a model behind a breaker. The class is small and
ours: the libraries that exist (pybreaker, circuitbreaker) count consecutive
failures rather than failures in a time window, and have no asyncio streams.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Literal

from ragline.errors import CircuitOpen, ProviderError
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import ChatModelWrapper
from ragline.types import ChatRequest, ChatResponse

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """The health of one provider; thread-safe. ``clock`` is injectable for tests."""

    def __init__(self, name: str, *, failures: int = 5, window_s: float = 60.0,
                 cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failures = failures
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        """``closed``, ``open`` or ``half_open`` (cool-down over, a probe may go)."""
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.cooldown_s else "open"

    def admit(self) -> None:
        """Let a call through, or raise :class:`CircuitOpen` when the circuit refuses it."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._probing:
                self._probing = True
                return
            assert self._opened_at is not None
            wait = max(self._opened_at + self.cooldown_s - self.clock(), 0.0)
        raise CircuitOpen(
            f"{self.name}: circuit open after {self.failures} failures within "
            f"{self.window_s:g} s; next probe in {wait:.1f} s (routing.breaker sets this)",
            provider=self.name, retry_after=wait)

    def succeeded(self) -> None:
        """A call went well: a probe closes the circuit."""
        with self._lock:
            if self._opened_at is not None:
                self._opened_at = None
                self._recent.clear()
            self._probing = False

    def failed(self, exc: BaseException) -> None:
        """A call failed; provider-side failures count towards opening the circuit."""
        with self._lock:
            probing, self._probing = self._probing, False
            if not (isinstance(exc, ProviderError) and exc.retryable):
                return
            now = self.clock()
            if probing:
                self._opened_at = now
                return
            self._recent.append(now)
            while self._recent and now - self._recent[0] > self.window_s:
                self._recent.popleft()
            if len(self._recent) >= self.failures:
                self._opened_at = now


class BreakerChatModel(ChatModelWrapper):
    """``inner`` behind ``breaker``: refused while it is open, every outcome reported."""

    def __init__(self, inner: ChatModel, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The wrapped model's response, unless the circuit is open."""
        self.breaker.admit()
        try:
            response = self.inner.generate(request)
        except BaseException as exc:
            self.breaker.failed(exc)
            raise
        self.breaker.succeeded()
        return response

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`."""
        self.breaker.admit()
        try:
            response = await self.inner.agenerate(request)
        except BaseException as exc:
            self.breaker.failed(exc)
            raise
        self.breaker.succeeded()
        return response

    def stream(self, request: ChatRequest) -> ChatStream:
        """The wrapped model's stream; refused at its first item while the circuit is open."""

        def deltas() -> Iterator[Delta]:
            self.breaker.admit()
            inner = self.inner.stream(request)
            try:
                yield from inner
            except BaseException as exc:
                self.breaker.failed(exc)
                raise
            self.breaker.succeeded()
            if inner.response is not None:
                yield inner.response

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            self.breaker.admit()
            inner = self.inner.astream(request)
            try:
                async for delta in inner:
                    yield delta
            except BaseException as exc:
                self.breaker.failed(exc)
                raise
            self.breaker.succeeded()
            if inner.response is not None:
                yield inner.response

        return AsyncChatStream(deltas())
