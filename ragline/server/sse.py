"""A stream of deltas (an answer's, a chat model's) consumed in a thread of its own.

A blocking :class:`~ragline.models.streaming.DeltaStream` (an
:class:`~ragline.app.streaming.AnswerStream`, a
:class:`~ragline.models.streaming.ChatStream`) is iterated from start to end in one
dedicated thread (:class:`Pump`): the stream sets and resets context variables (the
query's scope, its deadline) across its steps, which must all run in one context. The
deltas reach the event loop through an :class:`asyncio.Queue`, so a slow model holds one
thread, never the loop. :func:`pumped` gives them to async code as ``("delta", text)``,
then ``("final", item)`` or ``("error", exception)``; :func:`answer_events` turns an
answer's into the chat API's events: ``delta`` (``{"text": ...}``) per delta, then
``answer`` (the final answer) or ``error`` (the JSON error). When the consumer stops
early (the client went away) the pump is stopped: it closes the stream (the model's
stream is closed, nothing is recorded or cached) after the delta in flight.
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
from ragline.models.streaming import DeltaStream
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
    """Runs one delta stream in its own thread, handing ``(kind, item)`` pairs to the
    event loop's :attr:`queue`: ``("delta", str)``, then ``("final", item)`` (the stream's
    ``final``) or ``("error", exception)``. :meth:`stop` makes the thread close the stream
    early; ``on_final`` sees the final item first, in the pump's thread."""

    def __init__(self, stream: DeltaStream[Any], loop: asyncio.AbstractEventLoop, *,
                 on_final: Callable[[Any], None] | None = None) -> None:
        self.stream = stream
        self._on_final = on_final
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
                final = self.stream.final
                assert final is not None  # set when the stream is exhausted
                if self._on_final is not None:
                    self._on_final(final)
                self._put("final", final)
        except RagLineError as exc:
            self._put("error", exc)
        except Exception as exc:
            log.error("a stream failed", exc_info=exc)
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


async def pumped(stream: DeltaStream[Any], pumps: Pumps, *,
                 on_final: Callable[[Any], None] | None = None
                 ) -> AsyncIterator[tuple[str, Any]]:
    """The ``(kind, item)`` pairs of ``stream`` as its :class:`Pump` hands them over, up
    to and including ``final`` or ``error``; when the consumer stops early (the client
    disconnected), the stream is closed."""
    pump = Pump(stream, asyncio.get_running_loop(), on_final=on_final)
    pumps.add(pump)
    pump.start()
    try:
        while True:
            kind, item = await pump.queue.get()
            yield kind, item
            if kind != "delta":
                return
    finally:
        pump.stop()
        pumps.discard(pump)


async def answer_events(stream: AnswerStream, pumps: Pumps, *,
                        on_answer: Callable[[Answer], None] | None = None
                        ) -> AsyncIterator[str]:
    """The chat API's events of ``stream`` (see the module docstring). ``on_answer`` is
    called with the final answer, in the pump's thread, before the ``answer`` event."""
    async for kind, item in pumped(stream, pumps, on_final=on_answer):
        if kind == "delta":
            yield event("delta", {"text": item})
        elif kind == "final":
            yield event("answer", answer_json(item))
        else:
            yield event("error", error_body(item))
