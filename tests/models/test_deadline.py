"""A request's deadline bounds every attempt and retry; connection errors name the URL."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from ragline.errors import ProviderTimeout, ProviderUnavailable
from ragline.models.chat import create_chat_model
from ragline.models.retry import request_deadline, time_left
from ragline.types import ChatRequest, Message

REQUEST = ChatRequest(messages=(Message("user", "What is Qdrant?"),), max_tokens=16)


class SilentServer:
    """A TCP server that accepts connections and never answers them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.socket.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.mark.parametrize("provider", ["openai_compatible", "anthropic"])
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_provider_that_never_answers_is_given_up_at_the_deadline(
        silent: SilentServer, provider: str, use_async: bool) -> None:
    # per attempt 60 s and 3 retries would keep the caller 4 minutes; the deadline is 1 s
    url = f"http://127.0.0.1:{silent.port}" + ("/v1" if provider != "anthropic" else "")
    model = create_chat_model(provider, model="m", api_key="k", base_url=url, timeout_s=60,
                              max_retries=3, deadline_s=1.0)
    with pytest.raises(ProviderTimeout) as caught:
        if use_async:
            asyncio.run(model.agenerate(REQUEST))
        else:
            model.generate(REQUEST)
    assert len(silent.accepted) == 1  # no retry could finish in time, so none started
    assert f"127.0.0.1:{silent.port}" in str(caught.value)
    assert "generation.deadline_s" in str(caught.value)


def test_a_refused_connection_names_the_url() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    model = create_chat_model("openai_compatible", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                              max_retries=0)
    with pytest.raises(ProviderUnavailable) as caught:
        model.generate(REQUEST)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in str(caught.value)


def test_a_request_deadline_is_shared_and_only_ever_shortened() -> None:
    assert time_left(60) == 60
    with request_deadline(5):
        assert 0 < time_left(60) <= 5
        with request_deadline(100):  # an inner, later deadline does not extend the outer one
            assert time_left(60) <= 5
        assert time_left(2) <= 2
    with request_deadline(None):
        assert time_left(60) == 60
