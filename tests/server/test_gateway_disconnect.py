"""A client that leaves before a non-streamed answer: the gateway abandons the upstream call
at once (it does not wait for the upstream), records what was sent as a cancelled call, and
counts the request as 499."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.testing import openai_text_reply
from tests.server.conftest import Upstream, serving
from tests.server.http_upstream import http_upstream

UPSTREAM_DELAY_S = 3.0


def test_a_client_that_leaves_cancels_the_upstream_call(tmp_path: Path) -> None:
    released = threading.Event()

    def late(body: dict[str, Any]) -> str:
        released.wait(UPSTREAM_DELAY_S)
        return "too late"

    home = tmp_path / "home"
    with http_upstream(openai_text_reply(late)) as upstream, serving(
            home, Upstream(), ingest=False, configured=True,
            generation={"provider": "openai", "model": "gpt-4o-mini", "base_url": upstream.url,
                        "api_key": "sk-upstream", "max_retries": 0}) as live:
        left = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{live.url}/v1/chat/completions", timeout=0.5, json={
                "model": "openai:gpt-4o-mini",
                "messages": [{"role": "user", "content": "are you there?"}]})
        rows = _cancelled_rows(home / "ledger.sqlite", deadline_s=UPSTREAM_DELAY_S - 1)
        recorded_after = time.monotonic() - left
        metrics = live.client.get("/metrics").text
        released.set()
    assert rows, "no cancelled call was recorded before the upstream would have answered"
    assert recorded_after < UPSTREAM_DELAY_S
    stage, model, error, output_tokens = rows[0]
    assert (stage, model, output_tokens) == ("generate", "gpt-4o-mini", 0)
    assert "cancelled before the reply" in error
    assert 'route="/v1/chat/completions",status="499"' in metrics


def _cancelled_rows(ledger: Path, *, deadline_s: float) -> list[tuple[str, str, str, int]]:
    """The ledger's cancelled calls, polled until one is there or ``deadline_s`` passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if ledger.exists():
            with sqlite3.connect(ledger) as db:
                tables = db.execute("SELECT name FROM sqlite_master WHERE name = "
                                    "'ragline_calls'").fetchall()
                rows = db.execute(
                    "SELECT stage, model, error, output_tokens FROM ragline_calls "
                    "WHERE error LIKE '%cancelled%'").fetchall() if tables else []
            if rows:
                return rows
        time.sleep(0.05)
    return []
