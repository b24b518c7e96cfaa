"""A scripted OpenAI upstream served over real HTTP on 127.0.0.1, in a thread.

It answers with :mod:`ragline.testing`'s replies (documented Chat Completions bodies and
stream events), so a ragline server configured with ``generation.provider: openai`` and
``base_url`` pointing here runs its real provider, SDK and network path end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2

from ragline.testing import Reply, ScriptedServer


class _Server(ThreadingHTTPServer):
    """A threading HTTP server whose listen backlog holds a hundred waiting clients."""

    request_queue_size = 256
    daemon_threads = True


class HttpUpstream:
    """``reply`` over HTTP: :attr:`url` is the ``base_url`` to configure; :attr:`bodies`
    the JSON bodies received so far."""

    def __init__(self, reply: Reply) -> None:
        self.scripted = ScriptedServer(reply)
        scripted = self.scripted

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = httpx2.Request("POST", f"http://upstream{self.path}",
                                         headers=dict(self.headers.items()),
                                         content=self.rfile.read(length))
                response = scripted.handle(request)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding",
                                            "connection"):
                        self.send_header(name, value)
                self.send_header("connection", "close")
                self.end_headers()
                for chunk in response.iter_bytes():
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The OpenAI base URL of this upstream."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received so far."""
        return [json.loads(r.content) for r in self.scripted.requests]


@contextmanager
def http_upstream(reply: Reply) -> Iterator[HttpUpstream]:
    """Serve ``reply`` until the block ends."""
    upstream = HttpUpstream(reply)
    upstream.thread.start()
    try:
        yield upstream
    finally:
        upstream.httpd.shutdown()
        upstream.httpd.server_close()
