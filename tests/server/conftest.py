"""A live ``ragline serve`` application on 127.0.0.1, in a thread of the test process.

The answering model is ragline's real OpenAI provider over a scripted upstream
(:mod:`ragline.testing`): it condenses follow-ups, answers "Qdrant is a vector database
[1]." and, for a question containing ``SLOWLY``, streams its words a third of a second
apart through :class:`SlowBody`, which records what it sent and whether it was closed.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn

from ragline.app.query import CONDENSE_PROMPT
from ragline.config import load_settings
from ragline.models.chat import ChatModel
from ragline.server.app import create_app
from ragline.testing import (
    ScriptedServer,
    openai_chat_model,
    openai_chunks,
    openai_text_reply,
    sse_body,
)

ANSWER = "Qdrant is a vector database [1]."
SLOW_WORDS = [f"word{n} " for n in range(30)]
QDRANT = "Qdrant is a vector database written in Rust and maintained by Qdrant Solutions."
LICENCE = "Qdrant is released under the Apache 2.0 licence."
MAX_FILE_MB = 0.05  # uploads over 50 kB are refused


@dataclass
class SlowBody(httpx2.SyncByteStream):
    """A streamed upstream body that sends one SSE event every ``delay_s`` seconds."""

    events: list[bytes]
    delay_s: float = 0.3
    sent: int = 0
    closed: threading.Event = field(default_factory=threading.Event)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.events:
            if self.closed.is_set():
                return
            self.sent += 1
            yield chunk
            time.sleep(self.delay_s)

    def close(self) -> None:
        self.closed.set()


class Upstream:
    """The scripted OpenAI upstream; :attr:`slow` holds the slow bodies it has served (a
    ``SLOWLY`` question is answered with ``slow_words``, one every 0.3 s)."""

    def __init__(self, slow_words: list[str] = SLOW_WORDS) -> None:
        self.slow_words = slow_words
        self.slow: list[SlowBody] = []
        self.text = openai_text_reply(self.reply)
        self.server = ScriptedServer(self.handle)
        self.model: ChatModel = openai_chat_model(self.server)

    @staticmethod
    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system == CONDENSE_PROMPT:
            follow_up = user.split("Follow-up question: ")[1].split("\n")[0]
            return f"Standalone question: {follow_up} (about Qdrant)"
        return ANSWER

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if body.get("stream") and "SLOWLY" in body["messages"][-1]["content"]:
            events = sse_body(*openai_chunks(*self.slow_words))
            slow = SlowBody([e + b"\n\n" for e in events.split(b"\n\n") if e])
            self.slow.append(slow)
            return httpx2.Response(200, stream=slow,
                                   headers={"content-type": "text/event-stream"})
        return self.text(request)


@dataclass
class Live:
    """The running server: its base ``url``, an httpx ``client`` and the ``upstream``."""

    url: str
    client: httpx.Client
    upstream: Upstream
    home: Path
    server: ScriptedServer

    def upstream_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies the model sent upstream so far."""
        return self.server.bodies


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a server-sent-events response, as they arrive."""
    name, data = "message", list[str]()
    for line in response.iter_lines():
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", list[str]()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def ask(client: httpx.Client, session_id: str, message: str) -> list[tuple[str, Any]]:
    """Send ``message`` in a session; every event of the reply."""
    with client.stream("POST", f"/api/sessions/{session_id}/messages",
                       json={"message": message}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(response))


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(home: Path, upstream: Upstream, *, ingest: bool = True, configured: bool = False,
            **overrides: Any) -> Iterator[Live]:
    """A server over ``home`` answering with ``upstream``'s model (with ``configured``, the
    model the settings configure instead), in a thread; with ``ingest`` its default
    collection holds qdrant.md. ``overrides`` are more settings. Shut down (and checked to
    stop) on exit."""
    generation = {"verify": "none", "fallback": "none", **overrides.pop("generation", {})}
    settings = load_settings(home=str(home), generation=generation,
                             retrieval={"k": 2}, rerank={"model": None},
                             ingest={"max_file_mb": MAX_FILE_MB}, **overrides)
    sock = _free_socket()
    port = sock.getsockname()[1]
    app = create_app(settings, generator=None if configured else upstream.model)
    server = uvicorn.Server(uvicorn.Config(app,
                                           log_level="warning", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        if ingest:
            corpus = f"# Qdrant\n\n{QDRANT}\n\n## Licence\n\n{LICENCE}\n"
            response = client.post("/api/ingest",
                                   files={"file": ("qdrant.md", corpus.encode())})
            assert response.status_code == 200, response.text
        yield Live(url, client, upstream, home, upstream.server)
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "the server did not shut down"
    sock.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server over a fresh home whose default collection holds qdrant.md."""
    with serving(tmp_path_factory.mktemp("serve") / "home", Upstream()) as running:
        yield running


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON error of ``response``, checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"type", "message"} and error["message"]
    assert not re.search(r"Traceback|<html", response.text)
    return error
