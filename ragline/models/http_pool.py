"""Keep-alive HTTP/1.1 connections to one origin, for small JSON requests on an event loop.

:class:`HttpPool` is what :class:`~ragline.models.openai_wire.OpenAIWire` posts through
when it talks straight to the upstream: a request is written whole (``Content-Length``),
and the reply read into memory (``Content-Length``, chunked, or up to the close). Reading
it takes a few dozen microseconds of CPU where a general client (``httpx2`` over
``httpcore2`` and ``anyio``) took most of a millisecond; that difference is most of what
the gateway adds to a request. It does nothing else: no redirects, no proxies, no
streaming, no cookies. Those are the general client's job; the wire uses one whenever a
proxy is configured.

A connection goes back to the pool after a complete reply that did not ask to close it, and
is closed after :data:`IDLE_S` idle. A connection whose server closed it meanwhile is
detected on reuse (nothing came back) and the request is sent once more on a new one. A
timeout or a cancelled request closes its connection, since its reply may still arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

MAX_IDLE = 256
"""Idle connections kept at most; more are closed when their reply is read."""

IDLE_S = 4.0
"""Seconds an idle connection is kept: less than the usual server keep-alive (uvicorn's
5 s), so a request is rarely sent on a connection the server is closing."""


class MalformedReply(ValueError):
    """The server's bytes are not an HTTP/1.1 response."""


class StaleConnection(ConnectionError):
    """A kept-alive connection the server had closed: nothing came back."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete response: status, headers (names lower-cased) and body."""

    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


def _dechunk(buffer: bytearray, start: int) -> bytes | None:
    """The body of a chunked message starting at ``start``; None until it is complete."""
    parts: list[bytes] = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        except ValueError as exc:
            raise MalformedReply("a chunk size is not hexadecimal") from exc
        if size == 0:
            return b"".join(parts) if buffer.find(b"\r\n\r\n", line_end) >= 0 else None
        chunk_start = line_end + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        parts.append(bytes(buffer[chunk_start:chunk_start + size]))
        at = chunk_start + size + 2


def parse_reply(buffer: bytearray, eof: bool) -> HttpReply | None:
    """The response in ``buffer`` once it is complete (``eof``: the server closed);
    interim (1xx) responses are skipped. :class:`MalformedReply` for bytes that are not
    HTTP/1.1."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if eof:
                raise MalformedReply("the connection closed inside the response headers")
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest.partition(" ")[0]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise MalformedReply(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        status = int(code)
        if 100 <= status < 200:
            del buffer[:end + 4]
            continue
        break
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(buffer, start)
    elif (length := headers.get("content-length")) is not None:
        if not length.isdigit():
            raise MalformedReply(f"content-length {length!r} is not a number")
        body = bytes(buffer[start:start + int(length)]) if (
            len(buffer) - start >= int(length)) else None
    elif status in (204, 304):
        body = b""
    else:  # delimited by the close
        body, keep_alive = (bytes(buffer[start:]) if eof else None), False
    if body is None:
        if eof:
            raise MalformedReply("the connection closed before the response body ended")
        return None
    return HttpReply(status, headers, body, keep_alive)


class _Connection(asyncio.Protocol):
    """One connection: writes a request, collects its reply."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.closed = False
        self.waiter: asyncio.Future[HttpReply] | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._settle()

    def eof_received(self) -> bool:
        self.eof = True
        self._settle()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.eof = True, True
        self._settle()

    def _settle(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        if self.eof and not self.buffer:
            self.waiter.set_exception(StaleConnection("the server closed the connection"))
            return
        try:
            reply = parse_reply(self.buffer, self.eof)
        except MalformedReply as exc:
            self.waiter.set_exception(exc)
            return
        if reply is not None:
            self.waiter.set_result(reply)

    @property
    def usable(self) -> bool:
        """Open, of the running event loop, and not told by the server that it is done."""
        return (not self.closed and not self.eof and self.transport is not None
                and not self.transport.is_closing()
                and self.loop is asyncio.get_running_loop()
                and self.loop.time() - self.idle_since < IDLE_S)

    async def exchange(self, request: bytes) -> HttpReply:
        """Send ``request`` and wait for the whole reply."""
        assert self.transport is not None
        self.buffer.clear()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has closed
                self.transport.close()


class HttpPool:
    """Kept-alive connections to the origin of ``base_url`` (``http`` or ``https``), each
    request going to a path under its path. Use it from one event loop."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._host_header = parts.netloc.rpartition("@")[2]  # IPv6 keeps its brackets
        self._root = parts.path.rstrip("/")
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self._ssl,
            server_hostname=self.host if self._ssl else None)
        return connection

    def _request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"POST {self._root}{path} HTTP/1.1", f"host: {self._host_header}",
                 f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def post(self, path: str, body: bytes, headers: dict[str, str], *,
                   timeout_s: float) -> HttpReply:
        """POST ``body`` to ``path`` (under the base URL's path) and return the reply.

        Raises ``TimeoutError`` past ``timeout_s`` (connecting included), ``OSError`` when
        the connection fails, :class:`MalformedReply` for a reply that is not HTTP/1.1."""
        request = self._request(path, body, headers)
        async with asyncio.timeout(timeout_s):
            while self._idle:
                connection = self._idle.pop()
                if not connection.usable:
                    connection.close()
                    continue
                try:
                    return self._kept(connection, await self._exchange(connection, request))
                except StaleConnection:
                    continue
            connection = await self._connect()
            return self._kept(connection, await self._exchange(connection, request))

    @staticmethod
    async def _exchange(connection: _Connection, request: bytes) -> HttpReply:
        try:
            return await connection.exchange(request)
        except BaseException:  # its reply may still come: the connection is done with
            connection.close()
            raise

    def _kept(self, connection: _Connection, reply: HttpReply) -> HttpReply:
        if reply.keep_alive and not connection.closed and len(self._idle) < MAX_IDLE:
            connection.idle_since = connection.loop.time()
            self._idle.append(connection)
        else:
            connection.close()
        return reply

    def close(self) -> None:
        """Close the idle connections."""
        while self._idle:
            self._idle.pop().close()
