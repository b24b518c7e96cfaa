"""Ledger rows of async calls, written once the event loop finishes its current step.

A coroutine that answers a request (the gateway's) prices its call at once but need not
make the client wait for the row's transaction: :class:`DeferredRows` queues the row and
writes every row queued during one step of the event loop in one transaction, as soon as
that step ends. The step is the one that sends the response, and the loop runs the write
before it reads the next request, so a request that follows a response finds its row (and
a budget its spend) already there. What changes is only what a crash may lose: the rows
of the step it interrupts.

An in-process ledger (SQLite) is written on the loop; a ledger on a database server from a
worker thread, so the loop never waits on the network. A write that fails is logged and
its rows are queued again for the next write, up to :data:`MAX_PENDING` rows; past that
the oldest are dropped, and each drop is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from ragline.cost.ledger import CallRecord, Ledger
from ragline.errors import LedgerError

log = logging.getLogger(__name__)

MAX_PENDING = 10_000
"""Rows kept for another try at most while the ledger cannot be written."""


class DeferredRows:
    """Rows for ``ledger`` written after the current event-loop step (module docstring).
    Thread-safe; from a thread with no running event loop, a row is written at once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pending: list[CallRecord] = []
        self._scheduled = False
        self._lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        """Queue ``record`` for the write after this step (or write it now, off a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.ledger.record(record)
            return
        with self._lock:
            self._pending.append(record)
            if self._scheduled:
                return
            self._scheduled = True
        loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            rows, self._pending, self._scheduled = self._pending, [], False
        if not rows:
            return
        if self.ledger.in_process:
            self._write(rows)
        else:
            loop.run_in_executor(None, self._write, rows)

    def _write(self, rows: list[CallRecord]) -> None:
        try:
            self.ledger.record_many(rows)
        except LedgerError as exc:
            with self._lock:
                self._pending[:0] = rows
                dropped = len(self._pending) - MAX_PENDING
                if dropped > 0:
                    del self._pending[:dropped]
            log.error("%d ledger rows could not be written (%s); they are kept for the next "
                      "write%s", len(rows), exc,
                      f", and the {dropped} oldest were dropped" if dropped > 0 else "")

    @property
    def pending(self) -> int:
        """Rows queued and not written yet."""
        with self._lock:
            return len(self._pending)
