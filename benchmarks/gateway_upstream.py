"""An instant OpenAI-compatible upstream for the gateway benchmark (``gateway.py``).

A raw asyncio HTTP/1.1 server (no framework, keep-alive, pipelining tolerated) that answers

- ``POST /v1/chat/completions`` (and ``/chat/completions``): a fixed, small, non-streaming
  chat completion with a ``usage`` block, the request's ``model`` echoed back;
- ``GET /v1/models`` (and ``/models``): one model, ``gpt-4o-mini``;
- anything else: 404 with an OpenAI-style error body.

It does as little as it can per request, so the latency measured through a gateway is the
gateway's own. Run it pinned to a core by the caller::

    taskset -c 0 .venv/bin/python benchmarks/gateway_upstream.py --port 18080

It prints ``listening on 127.0.0.1:<port>`` once ready, and serves until killed (SIGTERM
or SIGINT). Only the standard library is used, so any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

COMPLETION_TEXT = "Hello from the bench upstream."
PROMPT_TOKENS, COMPLETION_TOKENS = 12, 7
_MODELS = json.dumps({"object": "list", "data": [
    {"id": "gpt-4o-mini", "object": "model", "created": 1700000000, "owned_by": "bench"}]},
    separators=(",", ":")).encode()
_NOT_FOUND = json.dumps({"error": {"message": "not found", "type": "invalid_request_error",
                                   "code": "not_found"}}, separators=(",", ":")).encode()
_BAD_REQUEST = json.dumps({"error": {"message": "body is not a JSON object",
                                     "type": "invalid_request_error"}},
                          separators=(",", ":")).encode()
# The completion with two holes, model and id, filled in per request.
_COMPLETION_HEAD = b'{"id":"chatcmpl-bench'
_COMPLETION_MID = b'","object":"chat.completion","created":%d,"model":'
_COMPLETION_TAIL = json.dumps({
    "choices": [{"index": 0, "message": {"role": "assistant", "content": COMPLETION_TEXT},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
              "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
    "system_fingerprint": "fp_bench"}, separators=(",", ":")).encode()[1:]  # without its "{"


def completion_body(model: str, serial: int) -> bytes:
    """The JSON body answering a chat completion request for ``model``."""
    return b"".join((_COMPLETION_HEAD, str(serial).encode(),
                     _COMPLETION_MID % int(time.time()), json.dumps(model).encode(), b",",
                     _COMPLETION_TAIL))


def _response(status: bytes, body: bytes, keep_alive: bool) -> bytes:
    return b"".join((b"HTTP/1.1 ", status, b"\r\ncontent-type: application/json\r\n"
                     b"content-length: ", str(len(body)).encode(), b"\r\n",
                     b"" if keep_alive else b"connection: close\r\n", b"\r\n", body))


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: parse requests from the buffer, answer each at once."""

    serial = 0  # requests answered, over all connections (the completion ids)

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._one_request():
            pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _one_request(self) -> bool:
        """Answer the first complete request in the buffer; False when there is none."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._close(b"400 Bad Request", _BAD_REQUEST)
            return False
        method, target, version = parts
        length, chunked, keep_alive = 0, False, version == "HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection":
                token = value.strip().lower()
                keep_alive = token != "close" and (keep_alive or token == "keep-alive")
        start = end + 4
        if chunked:
            decoded = dechunk(buffer, start)
            if decoded is None:
                return False
            body, consumed = decoded
        else:
            if len(buffer) < start + length:
                return False
            body, consumed = bytes(buffer[start:start + length]), start + length
        del buffer[:consumed]
        path = target.split("?", 1)[0]
        self._answer(method, path, body, keep_alive)
        return True

    def _answer(self, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        assert self.transport is not None
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            try:
                request = json.loads(body)
                model = str(request.get("model", "gpt-4o-mini"))
            except (ValueError, AttributeError):
                self.transport.write(_response(b"400 Bad Request", _BAD_REQUEST, keep_alive))
            else:
                UpstreamProtocol.serial += 1
                self.transport.write(_response(
                    b"200 OK", completion_body(model, UpstreamProtocol.serial), keep_alive))
        elif method == "GET" and path in ("/v1/models", "/models"):
            self.transport.write(_response(b"200 OK", _MODELS, keep_alive))
        else:
            self.transport.write(_response(b"404 Not Found", _NOT_FOUND, keep_alive))
        if not keep_alive:
            self.transport.close()
            self.transport = None

    def _close(self, status: bytes, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_response(status, body, False))
        self.transport.close()
        self.transport = None


def dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body starting at ``start``: (body, end offset), or None while incomplete."""
    out = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            while trailer_end > pos:  # skip trailer fields up to the empty line
                pos = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 2
        if len(buffer) < pos + size + 2:
            return None
        out += buffer[pos:pos + size]
        pos += size + 2


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=1024,
                                      reuse_address=True)
    stop: asyncio.Future[None] = loop.create_future()

    def stopping() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping)
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
