"""Open Qdrant Edge shards shared within a process, and waited for across processes.

Qdrant Edge locks a shard's write-ahead log when it opens it, so a second
``EdgeShard.load`` of the same directory fails, even from the same process.
Here every opener of one directory in this process shares one handle (Edge
shards are safe to use from several threads), counted so the last release
closes it. A shard another process holds is retried until ``wait_s`` has
passed, then :class:`~ragline.errors.IndexBusy` names the holder: each process
that opens a shard leaves a ``holder.json`` beside it saying what it is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ragline.errors import IndexBusy

log = logging.getLogger(__name__)

_HOLDER_FILE = "holder.json"
_RETRY_S = 0.2


@dataclass(slots=True)
class _Open:
    shard: qe.EdgeShard
    users: int


_lock = threading.Lock()
_open: dict[Path, _Open] = {}


def process_description() -> str:
    """What this process is, for another process told that it holds a shard: ``ragline ingest``."""
    argv = sys.argv or [""]
    program = Path(argv[0]).name
    if program in ("ragline", "__main__.py", "-m") and len(argv) > 1:
        return f"ragline {argv[1]}"
    return program or "python"


def holder_of(directory: Path) -> str:
    """Who holds the shard in ``directory``, as its ``holder.json`` says: command, pid, since."""
    try:
        holder: dict[str, Any] = json.loads((directory / _HOLDER_FILE).read_text("utf-8"))
        pid = int(holder["pid"])
        os.kill(pid, 0)  # raises when no such process lives: the note is stale
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    return f"`{holder.get('command', 'a process')}` (pid {pid}, since {holder.get('since', '?')})"


def _write_holder(directory: Path) -> None:
    note = {"pid": os.getpid(), "command": process_description(),
            "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
    tmp = directory / f"{_HOLDER_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(note), encoding="utf-8")
    tmp.replace(directory / _HOLDER_FILE)


def _clear_holder(directory: Path) -> None:
    path = directory / _HOLDER_FILE
    try:
        if json.loads(path.read_text("utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _is_locked(exc: Exception) -> bool:
    """Whether Edge failed because another process holds the shard's write-ahead log."""
    return "WouldBlock" in str(exc)


def acquire(directory: Path, *, name: str, wait_s: float,
            create: Callable[[str], qe.EdgeShard] | None = None) -> qe.EdgeShard:
    """The shard under ``directory/shard``, shared with this process's other users.

    Loads it, or makes it with ``create(path)`` when given and the shard is not on
    disk yet (re-checked after each wait: another process may have made it). Waits
    up to ``wait_s`` seconds for another process to let go, then raises
    :class:`IndexBusy`. Every call must be paired with :func:`release`.
    """
    key = directory.resolve()
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        with _lock:
            entry = _open.get(key)
            if entry is not None:
                entry.users += 1
                return entry.shard
            path = str(key / "shard")
            try:
                shard = (create(path) if create is not None and not (key / "shard").exists()
                         else qe.EdgeShard.load(path))
            except Exception as exc:  # Edge raises plain Exception; only a lock is retried
                if not _is_locked(exc):
                    raise
            else:
                _open[key] = _Open(shard, 1)
                _write_holder(key)
                return shard
        holder = holder_of(key)
        if time.monotonic() >= deadline:
            raise IndexBusy(name, str(key.parent), holder=holder, waited_s=wait_s)
        if not said:
            log.warning("collection %r is in use by %s; waiting up to %g s", name, holder,
                        wait_s)
            said = True
        time.sleep(min(_RETRY_S, max(0.0, deadline - time.monotonic())))


def release(directory: Path) -> None:
    """Give back one :func:`acquire`; the last user flushes and closes the shard."""
    key = directory.resolve()
    with _lock:
        entry = _open.get(key)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            entry.shard.flush()
            return
        del _open[key]
        try:
            entry.shard.flush()
            entry.shard.close()
        finally:
            _clear_holder(key)
