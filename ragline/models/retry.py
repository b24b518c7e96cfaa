"""Retrying provider calls: jittered exponential backoff that honours ``retry-after``.

The cloud providers build their SDK clients with ``max_retries=0`` and run every
attempt through a :class:`RetryPolicy`, so ragline alone decides what is
retried, how long it waits and what it logs. Only errors whose class says
``retryable`` (:class:`~ragline.errors.RateLimited`, ``ProviderTimeout``,
``ProviderUnavailable``) are retried; when the attempts run out the last error is
raised. A stream is retried only until its first delta: once the caller has seen
text, a failure is raised with the ``partial`` reply instead.

A deadline (``generation.deadline_s``) bounds the whole call, retries and waits
included: no retry starts that could not finish by then, and each attempt's
timeout is cut to the time left. :func:`request_deadline` sets one deadline for
everything a request calls (a fallback chain shares it); a policy's own
``deadline_s`` can only make it earlier.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from ragline.errors import ConfigError, ProviderError
from ragline.models.streaming import Delta

DEFAULT_TIMEOUT_S = 60.0
"""Seconds one attempt may take (``generation.timeout_s``)."""

log = logging.getLogger(__name__)
T = TypeVar("T")


_deadline: ContextVar[float | None] = ContextVar("ragline_request_deadline", default=None)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, provider calls (retries and waits included) end by ``seconds`` from
    now, or by an earlier deadline already set; None sets none."""
    if seconds is None:
        yield
        return
    current = _deadline.get()
    end = time.monotonic() + seconds
    token = _deadline.set(end if current is None else min(current, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left(timeout_s: float) -> float:
    """An attempt's timeout: ``timeout_s``, cut to what is left of the request's deadline
    (a millisecond at least, so an attempt past it times out at once)."""
    end = _deadline.get()
    return timeout_s if end is None else max(0.001, min(timeout_s, end - time.monotonic()))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a provider call that failed with a retryable error.

    ``max_retries`` attempts follow the first at most. Before retry ``n`` (1-based)
    the wait is drawn uniformly from ``[0, min(max_wait_s, initial_wait_s * 2**(n-1))]``
    (full jitter, so many clients do not retry in step), and is at least the
    provider's ``retry_after`` hint, which is capped at ``max_retry_after_s``.
    ``sleep`` and ``async_sleep`` do the waiting; tests pass ones that record the waits.
    ``deadline_s`` bounds each call, retries included (see :func:`request_deadline`).
    """

    max_retries: int = 3
    initial_wait_s: float = 0.5
    max_wait_s: float = 8.0
    max_retry_after_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, but got {self.max_retries}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ConfigError(f"deadline_s must be > 0, but got {self.deadline_s}")

    def wait_s(self, error: BaseException | None, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``error``."""
        backoff = random.uniform(0, min(self.max_wait_s, self.initial_wait_s * 2 ** (retry - 1)))
        hint = getattr(error, "retry_after", None)
        return backoff if hint is None else max(backoff, min(hint, self.max_retry_after_s))

    def _next_wait(self, error: Exception, retry: int) -> float | None:
        """Seconds to wait before retry number ``retry`` after ``error`` (logged), or None
        when there is to be none: the error is not retryable, the retries are spent, or
        the wait would end at or after the request's deadline."""
        if not _retryable(error) or retry > self.max_retries:
            return None
        wait = self.wait_s(error, retry)
        end = _deadline.get()
        if end is not None and time.monotonic() + wait >= end:
            return None
        log.warning("%s; retrying in %.1f s (attempt %d of %d)", error, wait, retry + 1,
                    self.max_retries + 1)
        return wait

    def call(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, a non-retryable error, the last retry fails or
        the deadline leaves no time for another; the last error is raised."""
        with request_deadline(self.deadline_s):
            retry = 1
            while True:
                try:
                    return attempt()
                except Exception as error:
                    wait = self._next_wait(error, retry)
                    if wait is None:
                        raise
                self.sleep(wait)
                retry += 1

    async def acall(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`call`: awaits ``attempt()`` and sleeps with ``async_sleep``."""
        with request_deadline(self.deadline_s):
            retry = 1
            while True:
                try:
                    return await attempt()
                except Exception as error:
                    wait = self._next_wait(error, retry)
                    if wait is None:
                        raise
                await self.async_sleep(wait)
                retry += 1

    def stream(self, open_stream: Callable[[], Iterator[Delta]]) -> Iterator[Delta]:
        """Open a provider stream, retrying until its first delta arrives, then pass it on."""

        def first() -> tuple[Iterator[Delta], Delta]:
            source = open_stream()
            return source, next(source)

        source, item = self.call(first)
        yield item
        yield from source

    async def astream(self, open_stream: Callable[[], AsyncIterator[Delta]],
                      ) -> AsyncIterator[Delta]:
        """Async twin of :meth:`stream`; closing it closes the provider stream."""

        async def first() -> tuple[AsyncIterator[Delta], Delta]:
            source = open_stream()
            return source, await anext(source)

        source, item = await self.acall(first)
        try:
            yield item
            async for item in source:
                yield item
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
