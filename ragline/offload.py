"""Blocking calls made from a coroutine: at once when what they touch is in-process, else
from a worker thread, so a network store never stalls the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def off_loop(in_process: bool, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``: at once when ``in_process`` (a SQLite file, this process's memory:
    quick enough for the event loop to wait on), else in a worker thread, in the caller's
    context (its query scope still applies)."""
    if in_process:
        return call(*args)
    return await asyncio.to_thread(call, *args)
