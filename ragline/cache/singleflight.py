"""Single-flight: concurrent calls with the same key share one execution.

The first caller of a key (the leader) runs the function; callers that arrive while it
runs (followers) wait and receive its result, or its exception. Once the leader is done
the key is free again: the next call runs anew (by then the cache answers it).
:class:`SingleFlight` is for threads, :class:`AsyncSingleFlight` for coroutines on one
event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    """One execution in flight: its result or error once ``done`` is set."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Thread single-flight: :meth:`do` runs ``fn`` once per key at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[T]] = {}

    def do(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """``fn()``'s result and whether this caller ran it (False: shared a leader's).

        A follower re-raises the leader's exception.
        """
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result, False  # type: ignore[return-value]
        try:
            call.result = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.result, True

    def in_flight(self) -> int:
        """How many keys are being computed now."""
        with self._lock:
            return len(self._calls)


class AsyncSingleFlight(Generic[T]):
    """Asyncio single-flight: :meth:`do` awaits ``fn()`` once per key at a time.

    Keys are kept per event loop, so one instance may serve several loops (threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The awaited ``fn()`` and whether this caller ran it (False: shared a leader's).

        A follower re-raises the leader's exception. A cancelled leader (its client went
        away) does not cancel its followers: they start the call again, one of them
        leading. A cancelled follower does not cancel the leader.
        """
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        while True:
            with self._lock:
                future = self._calls.get(slot)
                leader = future is None
                if future is None:
                    future = self._calls[slot] = loop.create_future()
            if leader:
                break
            try:
                return await asyncio.shield(future), False
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not future.cancelled() or task is None or task.cancelling():
                    raise  # this caller was cancelled, not the leader
        try:
            result = await fn()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without followers
            raise
        else:
            future.set_result(result)
        finally:
            with self._lock:
                del self._calls[slot]
        return result, True
