"""A bounded load test of the gateway on 127.0.0.1: 10,000 requests from 100 concurrent
clients through ``ragline/auto`` with the exact cache on. Every response must arrive whole
and well formed, and the ledger must hold exactly one row per request (a generation for a
miss, a ``cache`` row for a hit)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragline.server.keys import KeyStore
from ragline.testing import openai_text_reply
from tests.server.conftest import Upstream, serving
from tests.server.http_upstream import http_upstream

pytestmark = pytest.mark.model  # the pipelines load the real embedder

REQUESTS = 10_000
CLIENTS = 100
QUESTIONS = 400  # distinct questions: the rest are repeats the cache answers


def echo(body: dict[str, Any]) -> str:
    return f"Answer to {body['messages'][-1]['content']}"


async def _load(url: str, token: str) -> tuple[list[tuple[int, str, str]], int]:
    """Send every request; (status, content, cache header) of each, and the number of
    responses that were not a well-formed completion."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(REQUESTS):
        queue.put_nowait(n)
    results: list[tuple[int, str, str]] = []
    malformed = 0
    # idle connections are dropped before the server's 5 s keep-alive closes them, or a
    # request sent just as the server closes its connection would fail (a client's race)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS,
                          keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                 headers={"authorization": f"Bearer {token}"}) as client:

        async def worker() -> None:
            nonlocal malformed
            while not queue.empty():
                n = queue.get_nowait()
                question = f"question {n % QUESTIONS}"
                response = await client.post("/v1/chat/completions", json={
                    "model": "ragline/auto",
                    "messages": [{"role": "user", "content": question}]})
                try:
                    content = response.json()["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError, TypeError):
                    malformed += 1
                    content = ""
                if content != f"Answer to {question}":
                    malformed += 1
                results.append((response.status_code, content,
                                response.headers.get("x-ragline-cache", "")))

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return results, malformed


def test_ten_thousand_requests_from_a_hundred_clients_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with KeyStore(f"sqlite:///{tmp_path / 'keys.sqlite'}") as keys:
        key, token = keys.create("load", "load")
    with http_upstream(openai_text_reply(echo)) as upstream, serving(
            home, Upstream(), ingest=False, configured=True,
            generation={"provider": "openai", "model": "gpt-4o-mini", "base_url": upstream.url,
                        "api_key": "sk-upstream", "max_retries": 0},
            gateway={"require_keys": True, "keys_url": f"sqlite:///{tmp_path / 'keys.sqlite'}"},
            cache={"mode": "exact"}) as live:
        results, malformed = asyncio.run(_load(live.url, token))
    assert len(results) == REQUESTS and malformed == 0
    assert Counter(status for status, _, _ in results) == {200: REQUESTS}
    caches = Counter(cache for _, _, cache in results)
    assert caches["miss"] + caches["hit"] == REQUESTS and caches["miss"] >= QUESTIONS
    assert len(upstream.bodies) == caches["miss"]  # a hit never reached the upstream
    with sqlite3.connect(home / "ledger.sqlite") as db:
        stages = Counter(stage for (stage,) in db.execute(
            "SELECT stage FROM ragline_calls WHERE api_key = ?", (key.id,)))
    assert sum(stages.values()) == REQUESTS, stages
    assert stages["cache"] == caches["hit"]
