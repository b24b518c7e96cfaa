"""CachedChatModel over a real Redis server: TTL, tenants, single-flight, and an outage."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from ragline.cache import keys
from ragline.cache.chat import CachedChatModel
from ragline.cache.redis_store import RedisCacheStore
from ragline.cost.metered import QueryScope, query_scope
from ragline.testing import SAMPLE_REQUEST, scripted_openai_model
from tests.cache.replies import ANSWER, slow

MakeStore = Callable[..., RedisCacheStore]


def test_an_entry_expires_after_its_ttl(make_redis_store: MakeStore) -> None:
    inner, seen = scripted_openai_model(ANSWER)
    model = CachedChatModel(inner, make_redis_store(ttl_s=0.4))
    assert [model.generate(SAMPLE_REQUEST).cache for _ in range(2)] == ["miss", "hit"]
    time.sleep(0.6)
    assert model.generate(SAMPLE_REQUEST).cache == "miss"
    assert len(seen) == 2


def test_tenants_never_share_answers_even_when_hashes_collide(
        make_redis_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "digest_of", lambda material: "f" * 64)
    inner, seen = scripted_openai_model(lambda body: f"answer {len(seen)}")
    model = CachedChatModel(inner, make_redis_store())
    other = replace(SAMPLE_REQUEST, max_tokens=99)
    answers: dict[tuple[str, int], set[str]] = {}
    for tenant, request in (("acme", SAMPLE_REQUEST), ("globex", SAMPLE_REQUEST),
                            ("globex", other), ("acme", SAMPLE_REQUEST)):
        with query_scope(QueryScope("q", tenant)):
            response = model.generate(request)
        answers.setdefault((tenant, request.max_tokens), set()).add(response.text)
    assert len(seen) == 3
    assert answers[("acme", 50)] == {"answer 1"}
    assert answers[("globex", 50)] == {"answer 2"}
    assert answers[("globex", 99)] == {"answer 3"}


def test_fifty_concurrent_identical_requests_make_one_upstream_call(
        make_redis_store: MakeStore) -> None:
    inner, seen = scripted_openai_model(slow(0.3))
    model = CachedChatModel(inner, make_redis_store())
    barrier = threading.Barrier(50)

    def ask(_: int) -> str:
        barrier.wait()
        with query_scope(QueryScope("q", "acme")):
            return model.generate(SAMPLE_REQUEST).text

    with ThreadPoolExecutor(50) as pool:
        assert list(pool.map(ask, range(50))) == [ANSWER] * 50
    assert len(seen) == 1


def test_fifty_concurrent_async_requests_make_one_upstream_call(
        make_redis_store: MakeStore) -> None:
    inner, seen = scripted_openai_model(slow(0.2))
    model = CachedChatModel(inner, make_redis_store())

    async def main() -> set[str]:
        answers = await asyncio.gather(*(model.agenerate(SAMPLE_REQUEST) for _ in range(50)))
        return {a.text for a in answers}

    assert asyncio.run(main()) == {ANSWER}
    assert len(seen) == 1


@pytest.mark.redis
def test_requests_succeed_when_redis_dies_mid_run_with_one_warning(
        private_redis: tuple[str, subprocess.Popen[bytes]],
        caplog: pytest.LogCaptureFixture) -> None:
    url, server = private_redis
    inner, seen = scripted_openai_model(ANSWER)
    store = RedisCacheStore(url, prefix="ragline-test:outage", retry_after_s=0.05)
    model = CachedChatModel(inner, store)
    assert [model.generate(SAMPLE_REQUEST).cache for _ in range(3)] == ["miss", "hit", "hit"]
    server.kill()
    server.wait(timeout=10)
    caplog.set_level(logging.WARNING, logger="ragline.cache")
    for _ in range(10):
        response = model.generate(SAMPLE_REQUEST)
        assert (response.text, response.cache) == (ANSWER, "miss")
        time.sleep(0.06)  # past retry_after_s: every request tries Redis again
    stream = model.stream(SAMPLE_REQUEST)
    assert "".join(stream) == ANSWER
    assert len(seen) == 12
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cache bypassed" in warnings[0].getMessage()
    assert store.stats().errors >= 10
    store.close()
