"""The wire's HTTP/1.1 pool against real sockets: framing, keep-alive, stale connections,
timeouts and refusals, and the ``openai`` provider built from settings calling through it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ragline.errors import ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from ragline.models.http_pool import HttpPool, MalformedReply, parse_reply
from ragline.models.openai_chat import OpenAIChatModel
from ragline.models.retry import RetryPolicy
from ragline.testing import SAMPLE_REQUEST, openai_completion
from ragline.types import Usage
from tests.constants import OPENAI_USAGE

Answer = Callable[[bytes], bytes | None]  # a request's bytes -> the raw reply (None: close)


class RawServer:
    """An HTTP server on 127.0.0.1 answering each request with ``answer(request)`` verbatim,
    counting connections; it reads a request as headers plus ``Content-Length`` bytes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def run_against(answer: Answer, body: Callable[[str, RawServer], Awaitable[Any]]) -> Any:
    """Run ``body(base_url, server)`` with a :class:`RawServer` serving ``answer``."""
    async def main() -> Any:
        server = RawServer(answer)
        url = await server.start()
        try:
            return await body(url, server)
        finally:
            await server.stop()

    return asyncio.run(main())


def sized(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def test_kept_alive_connections_are_reused() -> None:
    async def body(url: str, server: RawServer) -> list[bytes]:
        pool = HttpPool(url)
        replies = [await pool.post("/ping", b"{}", {"x-a": "1"}, timeout_s=5) for _ in range(3)]
        pool.close()
        return [r.body for r in replies] + [str(server.connections).encode()]

    out = run_against(lambda request: sized(b'{"ok":true}'), body)
    assert out == [b'{"ok":true}'] * 3 + [b"1"]


def test_request_line_headers_and_body_are_sent() -> None:
    async def body(url: str, server: RawServer) -> bytes:
        await HttpPool(url).post("/chat/completions", b'{"a":1}', {"authorization": "Bearer k"},
                                 timeout_s=5)
        return server.requests[0]

    sent = run_against(lambda request: sized(b"{}"), body)
    head, _, payload = sent.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    assert "authorization: Bearer k" in lines and "content-length: 7" in lines
    assert any(line.startswith("host: 127.0.0.1:") for line in lines)
    assert payload == b'{"a":1}'


@pytest.mark.parametrize("raw, expected", [
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n"
     b"0\r\n\r\n", b"abcdefg"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
     b"ok"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
])
def test_reply_framings(raw: bytes, expected: bytes) -> None:
    reply = parse_reply(bytearray(raw), eof=False)
    assert reply is not None and reply.body == expected and reply.keep_alive


def test_partial_replies_wait_and_a_close_delimited_body_ends_at_eof() -> None:
    assert parse_reply(bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab"),
                       eof=False) is None
    head = b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{}"
    assert parse_reply(bytearray(head), eof=False) is None
    reply = parse_reply(bytearray(head), eof=True)
    assert reply is not None and reply.body == b"{}" and not reply.keep_alive
    closing = parse_reply(bytearray(b"HTTP/1.1 200 OK\r\nconnection: close\r\n"
                                    b"content-length: 0\r\n\r\n"), eof=False)
    assert closing is not None and not closing.keep_alive


@pytest.mark.parametrize("raw, eof", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", False),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", True),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", False),
])
def test_what_is_not_http_is_refused(raw: bytes, eof: bool) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(bytearray(raw), eof=eof)


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    answered = 0

    def answer(request: bytes) -> bytes | None:
        nonlocal answered
        answered += 1
        return None if answered == 2 else sized(b"{}")  # 2nd: closed without a word

    async def body(url: str, server: RawServer) -> tuple[int, int, int]:
        pool = HttpPool(url)
        await pool.post("/a", b"{}", {}, timeout_s=5)
        reply = await pool.post("/b", b"{}", {}, timeout_s=5)
        return reply.status, server.connections, len(server.requests)

    assert run_against(answer, body) == (200, 2, 3)


def test_timeouts_and_refusals_reach_the_caller() -> None:
    async def slow(url: str, server: RawServer) -> None:
        with pytest.raises(TimeoutError):
            await HttpPool(url).post("/x", b"{}", {}, timeout_s=0.2)

    run_against(lambda request: b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{", slow)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(OSError):
        asyncio.run(HttpPool(f"http://127.0.0.1:{port}").post("/x", b"", {}, timeout_s=5))


def settled_model(url: str, *, timeout_s: float = 5.0) -> OpenAIChatModel:
    """The ``openai`` provider as settings build it: its own clients, so its wire's pool."""
    return OpenAIChatModel(model="gpt-4o-mini", api_key="sk-test", base_url=url,
                           timeout_s=timeout_s, retry=RetryPolicy(max_retries=0))


def test_the_provider_built_from_settings_calls_through_the_pool() -> None:
    completion = json.dumps(openai_completion("Pooled.", usage=OPENAI_USAGE)).encode()

    async def body(url: str, server: RawServer) -> tuple[Any, ...]:
        model = settled_model(url)
        first = await model.agenerate(SAMPLE_REQUEST)
        second = await model.agenerate(SAMPLE_REQUEST)
        return first, second, server.connections, server.requests[0]

    first, second, connections, request = run_against(lambda r: sized(completion), body)
    assert first.text == second.text == "Pooled."
    assert first.usage == Usage(input_tokens=176, output_tokens=7, cache_read_tokens=1024)
    assert connections == 1
    sent = json.loads(request.partition(b"\r\n\r\n")[2])
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 50
    assert sent["messages"][0] == {"role": "system", "content": "Cite passages."}
    assert b"authorization: Bearer sk-test" in request
    assert b"accept-encoding: identity" in request  # the pool decompresses nothing


@pytest.mark.parametrize("raw, expected, says", [
    (sized(b'{"error":{"message":"slow down","type":"rate_limit_error"}}',
           "429 Too Many Requests", "retry-after: 3\r\n"), RateLimited, "slow down"),
    (sized(b"<html>bad gateway</html>", "502 Bad Gateway"), ProviderUnavailable, "bad gateway"),
    (sized(b"<html>ok</html>"), ProviderError, "malformed response"),
    (b"garbage\r\n\r\n", ProviderError, "malformed response"),
])
def test_the_pooled_provider_translates_failures(raw: bytes, expected: type[ProviderError],
                                                 says: str) -> None:
    async def body(url: str, server: RawServer) -> ProviderError:
        with pytest.raises(ProviderError) as caught:
            await settled_model(url).agenerate(SAMPLE_REQUEST)
        return caught.value

    error = run_against(lambda request: raw, body)
    assert type(error) is expected and says in str(error)
    if expected is RateLimited:
        assert error.retry_after == 3.0 and error.status_code == 429


def test_the_pooled_provider_times_out_and_reports_refusals() -> None:
    async def slow(url: str, server: RawServer) -> ProviderError:
        with pytest.raises(ProviderTimeout) as caught:
            await settled_model(url, timeout_s=0.2).agenerate(SAMPLE_REQUEST)
        return caught.value

    timeout = run_against(lambda request: b"HTTP/1.1 200 OK\r\n", slow)
    assert "did not answer" in str(timeout)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ProviderUnavailable, match="failed or broke off"):
        asyncio.run(settled_model(f"http://127.0.0.1:{port}/v1").agenerate(SAMPLE_REQUEST))
