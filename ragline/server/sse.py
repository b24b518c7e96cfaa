"""An answer stream as server-sent events, generated in a thread of its own.

The blocking :class:`~ragline.app.streaming.AnswerStream` is iterated from start to end
in one dedicated thread (:class:`Pump`): the stream sets and resets context variables
(the query's scope, its deadline) across its steps, which must all run in one context.
The deltas reach the event loop through an :class:`asyncio.Queue`, so a slow model holds
one thread, never the loop. :func:`answer_events` turns them into events: ``delta``
(``{"text": ...}``) per delta, then ``answer`` (the final answer) or ``error`` (the JSON
error). When the client goes away the pump is stopped: it closes the stream (the
model's stream is closed, nothing is recorded or cached) after the delta in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ragline.app.streaming import AnswerStream
from ragline.errors import RagLineError
from ragline.server.errors import error_body
from ragline.server.views import answer_json
from ragline.types import Answer

log = logging.getLogger("ragline")

JOIN_S = 10.0
"""How long shutting down waits for each running stream's thread to stop."""


def event(name: str, data: dict[str, Any]) -> str:
    """One server-sent event: ``event: NAME`` and ``data:`` the JSON of ``data``."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


class Pump:
    """Runs one answer stream in its own thread, handing ``(kind, item)`` pairs to the
    event loop's :attr:`queue`: ``("delta", str)``, then ``("answer", Answer)`` or
    ``("error", exception)``. :meth:`stop` makes the thread close the stream early;
    ``on_answer`` sees the final answer first."""

    def __init__(self, stream: AnswerStream, loop: asyncio.AbstractEventLoop, *,
                 on_answer: Callable[[Answer], None] | None = None) -> None:
        self.stream = stream
        self._on_answer = on_answer
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._loop = loop
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ragline-answer", daemon=True)

    def start(self) -> None:
        """Start generating."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread to close the stream after the delta in flight."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def _put(self, kind: str, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, (kind, item))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stop.set()

    def _run(self) -> None:
        try:
            for delta in self.stream:
                if self._stop.is_set():
                    break
                self._put("delta", delta)
            else:
                answer = self.stream.answer
                assert answer is not None  # set when the stream is exhausted
                if self._on_answer is not None:
                    self._on_answer(answer)
                self._put("answer", answer)
        except RagLineError as exc:
            self._put("error", exc)
        except Exception as exc:
            log.error("an answer stream failed", exc_info=exc)
            self._put("error", exc)
        finally:
            self.stream.close()  # a no-op when it ended; else the model's stream closes


class Pumps:
    """The running pumps of a server, so that shutting down can stop and wait for them."""

    def __init__(self) -> None:
        self._running: set[Pump] = set()
        self._lock = threading.Lock()

    def add(self, pump: Pump) -> None:
        """Track ``pump`` until :meth:`discard`."""
        with self._lock:
            self._running.add(pump)

    def discard(self, pump: Pump) -> None:
        """Stop tracking ``pump``."""
        with self._lock:
            self._running.discard(pump)

    def stop_all(self, wait_s: float = JOIN_S) -> None:
        """Stop every running pump and wait up to ``wait_s`` for each thread."""
        with self._lock:
            running = list(self._running)
        for pump in running:
            pump.stop()
        for pump in running:
            pump.thread.join(wait_s)


async def answer_events(stream: AnswerStream, pumps: Pumps, *,
                        on_answer: Callable[[Answer], None] | None = None
                        ) -> AsyncIterator[str]:
    """The events of ``stream`` (see the module docstring); when the consumer stops early
    (the client disconnected), the stream is closed. ``on_answer`` is called with the
    final answer, in the pump's thread, before the ``answer`` event is sent."""
    pump = Pump(stream, asyncio.get_running_loop(), on_answer=on_answer)
    pumps.add(pump)
    pump.start()
    try:
        while True:
            kind, item = await pump.queue.get()
            if kind == "delta":
                yield event("delta", {"text": item})
            elif kind == "answer":
                yield event("answer", answer_json(item))
                return
            else:
                yield event("error", error_body(item))
                return
    finally:
        pump.stop()
        pumps.discard(pump)
