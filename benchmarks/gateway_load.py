"""Open-loop HTTP load generator for the gateway benchmark (``gateway.py``).

Requests are scheduled at fixed times ``t0 + i / rate`` whatever the server does (open
loop): a slow answer never delays the next request, and each latency is measured from the
request's *scheduled* send time, so time spent waiting for a free connection or behind a
late timer counts (no coordinated omission). The client is raw asyncio sockets speaking
HTTP/1.1 with keep-alive, one request at a time per connection, from a pool that grows
on demand up to ``max_connections``; above that, requests queue in the generator (their
wait counts). httpx's AsyncClient costs about ten times as much CPU per request, too much to
drive 500+ RPS from one core that also runs the upstream.

An error is a status other than 200, a broken connection, or no full answer within
``timeout_s`` of the scheduled time (the request is then abandoned and its connection
closed). The first ``warmup_s`` seconds run at the same rate and are not counted.

The send lag (actual send time minus scheduled time) is recorded too: it is the
generator's own timer and queueing delay, included in every latency. The event loop
waits on ``select()`` (microsecond timeouts, not epoll's milliseconds), so the lag is
mostly the time to wake up and to send what is due.

Use from ``gateway.py`` (:func:`run_load`), or alone::

    .venv/bin/python benchmarks/gateway_load.py --url http://127.0.0.1:18080/v1/chat/completions \\
        --rate 200 --duration 10 [--core 0] [--token T] [--model gpt-4o-mini]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import selectors
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway_upstream import dechunk

RequestFactory = Callable[[int], bytes]


def chat_request_factory(url: str, model: str, token: str | None = None, *,
                         unique: bool = True, max_tokens: int = 16) -> RequestFactory:
    """Request ``i`` as raw bytes: a non-streaming chat completion for ``model``.

    With ``unique`` the user message carries a random tag of this factory and the
    request's number, so no two requests are alike, in this run or any other, and an
    exact cache never hits; without it every request is the same.
    """
    parts = urlsplit(url)
    host = parts.netloc
    path = parts.path or "/"
    auth = f"authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"accept: application/json\r\nuser-agent: ragline-bench\r\n{auth}"
            "content-length: ").encode()
    before = json.dumps({"model": model, "max_tokens": max_tokens, "messages": [
        {"role": "user", "content": "\x00"}]}, separators=(",", ":")).encode()
    prefix, suffix = before.split(b"\\u0000")
    fixed = prefix + b"Say hello. Bench request" + suffix
    tagged = prefix + b"Say hello. Bench request " + os.urandom(6).hex().encode() + b" "

    def make(i: int) -> bytes:
        body = tagged + str(i).encode() + suffix if unique else fixed
        return head + str(len(body)).encode() + b"\r\n\r\n" + body

    return make


def pin_to_core(core: int | None) -> None:
    """Run this process on ``core`` only (None: leave it as it is)."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def percentile(values: list[float], q: float) -> float:
    """The ``q`` percentile (0-100) by linear interpolation; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class LoadResult:
    """What one run at a fixed rate measured (counted requests only, warm-up excluded)."""

    target_rps: float
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)  # ok answers, from schedule
    lags_ms: list[float] = field(default_factory=list)  # send time - scheduled time
    achieved_rps: float = 0.0  # ok / max(duration, last answer - first scheduled send)
    connections: int = 0  # connections the pool opened

    def p(self, q: float) -> float:
        """Latency percentile in ms."""
        return percentile(self.latencies_ms, q)

    def lag(self, q: float) -> float:
        """Send-lag percentile in ms."""
        return percentile(self.lags_ms, q)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in self.error_kinds.most_common())
        return (f"target {self.target_rps:g} rps: sent {self.sent}, ok {self.ok}, errors "
                f"{self.errors}{f' ({kinds})' if kinds else ''}, achieved "
                f"{self.achieved_rps:.1f} rps, p50 {self.p(50):.3f} p95 {self.p(95):.3f} p99 "
                f"{self.p(99):.3f} ms, send lag p50 {self.lag(50):.3f} p99 "
                f"{self.lag(99):.3f} ms, {self.connections} connections opened")


class _Request:
    __slots__ = ("counted", "done", "scheduled", "sent")

    def __init__(self, scheduled: float, counted: bool) -> None:
        self.scheduled = scheduled
        self.sent = 0.0
        self.counted = counted
        self.done = False


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.current: _Request | None = None
        self.alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: _Request, data: bytes) -> None:
        assert self.transport is not None
        self.current = request
        request.sent = self.run.loop.time()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        parsed = _parse_response(self.buffer)
        if parsed is None:
            return
        status, consumed, close = parsed
        del self.buffer[:consumed]
        request, self.current = self.current, None
        if close or self.buffer:  # the server closes, or sent more than one answer
            self.abort()
        if request is not None:
            self.run.finished(self, request, None if status == 200 else f"HTTP {status}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        request, self.current = self.current, None
        self.run.lost(self)
        if request is not None:
            self.run.finished(self, request, "connection lost")

    def abort(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.abort()


def _parse_response(buffer: bytearray) -> tuple[int, int, bool] | None:
    """(status, bytes consumed, server closes) of the first full response, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = -1, False, lines[0].startswith(b"http/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = b"close" in value
    start = end + 4
    if chunked:
        decoded = dechunk(buffer, start)
        return None if decoded is None else (status, decoded[1], close)
    if length < 0:
        if status in (204, 304) or 100 <= status < 200:
            return status, start, close
        return None  # read to close: unsupported, waits for the timeout
    if len(buffer) < start + length:
        return None
    return status, start + length, close


class _Run:
    """The state of one load run: the pool, the queue, the counters."""

    def __init__(self, host: str, port: int, make: RequestFactory, result: LoadResult,
                 max_connections: int, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.make = host, port, make
        self.result = result
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.idle: deque[_Connection] = deque()
        self.busy: set[_Connection] = set()
        self.opening = 0
        self.waiting: deque[tuple[_Request, bytes]] = deque()
        self.outstanding = 0
        self.first_counted = math.inf
        self.last_done = 0.0
        self.all_done = self.loop.create_future()
        self.scheduling = True

    def issue(self, request: _Request, data: bytes) -> None:
        self.outstanding += 1
        if request.counted:
            self.result.sent += 1
            self.first_counted = min(self.first_counted, request.scheduled)
        while self.idle:
            conn = self.idle.pop()  # the most recently used: its socket is warm
            if conn.alive:
                self.busy.add(conn)
                conn.send(request, data)
                return
        self.waiting.append((request, data))
        if len(self.busy) + self.opening < self.max_connections:
            self.opening += 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: _Connection(self),
                                                        self.host, self.port)
        except OSError as exc:
            self.opening -= 1
            if self.waiting:  # fail the oldest waiting request, so errors show
                request, _ = self.waiting.popleft()
                self.finished(None, request, f"connect: {type(exc).__name__}")
            return
        self.opening -= 1
        self.result.connections += 1
        self._next(conn)

    def _next(self, conn: _Connection) -> None:
        """Give ``conn`` the oldest waiting request, or park it as idle."""
        if not conn.alive:
            self.busy.discard(conn)
            return
        while self.waiting:
            request, data = self.waiting.popleft()
            if not request.done:
                self.busy.add(conn)
                conn.send(request, data)
                return
        self.busy.discard(conn)
        self.idle.append(conn)

    def finished(self, conn: _Connection | None, request: _Request, error: str | None) -> None:
        if request.done:
            return
        request.done = True
        self.outstanding -= 1
        now = self.loop.time()
        if request.counted:
            result = self.result
            if error is None:
                result.ok += 1
                result.latencies_ms.append((now - request.scheduled) * 1000)
                result.lags_ms.append((request.sent - request.scheduled) * 1000)
                self.last_done = max(self.last_done, now)
            else:
                result.errors += 1
                result.error_kinds[error] += 1
        if conn is not None and conn.alive and conn.current is None:
            self._next(conn)
        elif conn is not None:
            self.busy.discard(conn)
            if self.waiting and len(self.busy) + self.opening < self.max_connections:
                self.opening += 1
                self.loop.create_task(self._open())
        self._check_done()

    def lost(self, conn: _Connection) -> None:
        self.busy.discard(conn)
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    def _check_done(self) -> None:
        if not self.scheduling and self.outstanding == 0 and not self.all_done.done():
            self.all_done.set_result(None)

    async def sweep(self) -> None:
        """Every 50 ms, abandon requests older than the timeout (queued or sent)."""
        while not self.all_done.done():
            await asyncio.sleep(0.05)
            limit = self.loop.time() - self.timeout_s
            while self.waiting and self.waiting[0][0].scheduled < limit:
                request, _ = self.waiting.popleft()
                self.finished(None, request, "timeout")
            for conn in list(self.busy):
                sent = conn.current
                if sent is not None and sent.scheduled < limit:
                    conn.current = None
                    conn.abort()
                    self.busy.discard(conn)
                    self.finished(None, sent, "timeout")
            if self.waiting and len(self.busy) + self.opening < self.max_connections:
                self.opening += 1
                self.loop.create_task(self._open())

    def close(self) -> None:
        for conn in [*self.idle, *self.busy]:
            conn.abort()


async def run_load_async(url: str, make: RequestFactory, rate: float, duration_s: float, *,
                         warmup_s: float = 2.0, timeout_s: float = 5.0,
                         max_connections: int = 128) -> LoadResult:
    """Send ``make(i)`` at ``rate`` per second for ``warmup_s + duration_s`` seconds."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult(target_rps=rate, duration_s=duration_s)
    run = _Run(host, port, make, result, max_connections, timeout_s)
    loop = run.loop
    sweeper = loop.create_task(run.sweep())
    warm_count = round(warmup_s * rate)
    total = warm_count + round(duration_s * rate)
    interval = 1.0 / rate
    t0 = loop.time() + 0.05
    i = 0
    while i < total:
        now = loop.time()
        due = t0 + i * interval
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and t0 + i * interval <= now:  # everything due by now
            scheduled = t0 + i * interval
            run.issue(_Request(scheduled, i >= warm_count), make(i))
            i += 1
    run.scheduling = False
    run._check_done()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.all_done, timeout_s + 1.0)
    sweeper.cancel()
    run.close()
    lost = result.sent - result.ok - result.errors
    if lost:
        result.errors += lost
        result.error_kinds["unfinished"] += lost
    if result.ok:  # on time: exactly the rate; behind: the answers' span is longer
        result.achieved_rps = result.ok / max(duration_s, run.last_done - run.first_counted)
    return result


def run_load(url: str, make: RequestFactory, rate: float, duration_s: float, *,
             warmup_s: float = 2.0, timeout_s: float = 5.0,
             max_connections: int = 128) -> LoadResult:
    """:func:`run_load_async` in a fresh event loop, with the garbage collector paused.

    The loop waits with ``select()``, whose timeout has microsecond resolution, rather
    than epoll's milliseconds: the requests leave closer to their scheduled times. That
    needs every socket's number below 1024: true of a pool of a few hundred connections.
    """
    gc.collect()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(
                selectors.SelectSelector())) as runner:
            return runner.run(run_load_async(url, make, rate, duration_s, warmup_s=warmup_s,
                                             timeout_s=timeout_s,
                                             max_connections=max_connections))
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:18080/v1/chat/completions")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="counted seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--connections", type=int, default=128, help="pool size at most")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--token", default=None, help="bearer token, if any")
    parser.add_argument("--same", action="store_true",
                        help="send the same message every time (exact-cache hits)")
    parser.add_argument("--core", type=int, default=None, help="pin the generator here")
    args = parser.parse_args()
    pin_to_core(args.core)
    make = chat_request_factory(args.url, args.model, args.token, unique=not args.same)
    started = time.perf_counter()
    result = run_load(args.url, make, args.rate, args.duration, warmup_s=args.warmup,
                      timeout_s=args.timeout, max_connections=args.connections)
    print(result.summary())
    print(f"wall {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
