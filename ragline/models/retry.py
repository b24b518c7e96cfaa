"""Retrying provider calls: jittered exponential backoff that honours ``retry-after``.

The cloud providers build their SDK clients with ``max_retries=0`` and run every
attempt through a :class:`RetryPolicy`, so ragline alone decides what is
retried, how long it waits and what it logs. Only errors whose class says
``retryable`` (:class:`~ragline.errors.RateLimited`, ``ProviderTimeout``,
``ProviderUnavailable``) are retried; when the attempts run out the last error is
raised. A stream is retried only until its first delta: once the caller has seen
text, a failure is raised with the ``partial`` reply instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ragline.errors import ConfigError, ProviderError
from ragline.models.streaming import Delta

DEFAULT_TIMEOUT_S = 60.0
"""Seconds one attempt may take (``generation.timeout_s``)."""

log = logging.getLogger(__name__)
T = TypeVar("T")


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a provider call that failed with a retryable error.

    ``max_retries`` attempts follow the first at most. Before retry ``n`` (1-based)
    the wait is drawn uniformly from ``[0, min(max_wait_s, initial_wait_s * 2**(n-1))]``
    (full jitter, so many clients do not retry in step), and is at least the
    provider's ``retry_after`` hint, which is capped at ``max_retry_after_s``.
    ``sleep`` and ``async_sleep`` do the waiting; tests pass ones that record the waits.
    """

    max_retries: int = 3
    initial_wait_s: float = 0.5
    max_wait_s: float = 8.0
    max_retry_after_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, but got {self.max_retries}")

    def wait_s(self, error: BaseException | None, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``error``."""
        backoff = random.uniform(0, min(self.max_wait_s, self.initial_wait_s * 2 ** (retry - 1)))
        hint = getattr(error, "retry_after", None)
        return backoff if hint is None else max(backoff, min(hint, self.max_retry_after_s))

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.wait_s(error, state.attempt_number)

    def _log(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s; retrying in %.1f s (attempt %d of %d)", error, wait,
                    state.attempt_number + 1, self.max_retries + 1)

    def call(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, a non-retryable error or the last retry fails."""
        retrying = Retrying(sleep=self.sleep, stop=stop_after_attempt(self.max_retries + 1),
                            wait=self._wait, retry=retry_if_exception(_retryable),
                            before_sleep=self._log, reraise=True)
        return retrying(attempt)

    async def acall(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`call`: awaits ``attempt()`` and sleeps with ``async_sleep``."""
        retrying = AsyncRetrying(sleep=self.async_sleep,
                                 stop=stop_after_attempt(self.max_retries + 1), wait=self._wait,
                                 retry=retry_if_exception(_retryable), before_sleep=self._log,
                                 reraise=True)

        async def run() -> T:  # tenacity awaits only what a coroutine function returns
            return await attempt()

        result: T = await retrying(run)
        return result

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
