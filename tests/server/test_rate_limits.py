"""Rate limits of API keys: the memory limiter (on a clock the test moves) and the Redis
limiter (a real server, real time) count requests and tokens the same way; Redis shares
them between limiters and refuses requests when it cannot be reached."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError, RateLimitExceeded, StoreUnavailable
from ragline.server.keys import ApiKey
from ragline.server.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    open_rate_limiter,
)

UNREACHABLE = "redis://127.0.0.1:1/0"


def make_key(rpm: int | None = None, tpm: int | None = None) -> ApiKey:
    """A key of its own (a fresh id), with these limits."""
    return ApiKey(id=uuid.uuid4().hex[:12], name="test", tenant="acme", rpm=rpm, tpm=tpm,
                  created_at=datetime.now(UTC))


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """One backend under test: ``limiter``, a way to let ``seconds`` pass for it, and
    how many buckets it stores."""

    limiter: RateLimiter
    wait: Callable[[float], None]
    stored: Callable[[], int]


@pytest.fixture
def make_redis_limiter(redis_url: str,
                       redis_prefix: str) -> Iterator[Callable[[], RedisRateLimiter]]:
    """Build Redis limiters under this test's prefix; every one is closed afterwards."""
    limiters: list[RedisRateLimiter] = []

    def build() -> RedisRateLimiter:
        limiters.append(RedisRateLimiter(redis_url, prefix=redis_prefix))
        return limiters[-1]

    yield build
    for limiter in limiters:
        limiter.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each limiter: memory on a fake clock, and Redis under a prefix of the test's own."""
    if request.param == "memory":
        clock = FakeClock()
        memory = MemoryRateLimiter(clock=clock)

        def advance(seconds: float) -> None:
            clock.now += seconds

        return Backend(memory, advance, memory.buckets)
    make = request.getfixturevalue("make_redis_limiter")
    client = request.getfixturevalue("redis_text")
    prefix = request.getfixturevalue("redis_prefix")
    return Backend(make(), time.sleep,
                   lambda: len(list(client.scan_iter(match=f"{prefix}*"))))


def refused(limiter: RateLimiter, key: ApiKey, tokens: int) -> RateLimitExceeded:
    """The RateLimitExceeded that acquiring ``tokens`` raises."""
    with pytest.raises(RateLimitExceeded) as caught:
        limiter.acquire(key, tokens)
    assert caught.value.key_id == key.id
    assert caught.value.http_status == 429
    return caught.value


def test_rpm_lets_the_limit_through_then_refuses_until_refilled(backend: Backend) -> None:
    key = make_key(rpm=3)
    for _ in range(3):
        backend.limiter.acquire(key, 0)
    error = refused(backend.limiter, key, 0)
    assert error.limit == "rpm"
    assert 0 < error.retry_after_s <= 20  # 3 a minute: one back every 20 s
    assert key.id in str(error) and "requests per minute" in str(error)


def test_a_request_passes_again_once_a_slot_has_refilled(backend: Backend) -> None:
    key = make_key(rpm=60)  # one back a second
    for _ in range(60):
        backend.limiter.acquire(key, 0)
    assert 0 < refused(backend.limiter, key, 0).retry_after_s <= 1
    backend.wait(1.1)
    backend.limiter.acquire(key, 0)
    assert refused(backend.limiter, key, 0).limit == "rpm"


def test_tpm_refusal_takes_no_request_slot(backend: Backend) -> None:
    key = make_key(rpm=2, tpm=60)
    backend.limiter.acquire(key, 50)
    error = refused(backend.limiter, key, 20)  # about 10 tokens left
    assert error.limit == "tpm"
    assert 0 < error.retry_after_s <= 10  # one token a second; 10 short at most
    assert "tokens per minute" in str(error)
    backend.limiter.acquire(key, 5)  # the second request slot is still there
    assert refused(backend.limiter, key, 0).limit == "rpm"


def test_the_longer_wait_is_reported_when_both_buckets_are_short(backend: Backend) -> None:
    key = make_key(rpm=1, tpm=60)
    backend.limiter.acquire(key, 60)
    error = refused(backend.limiter, key, 30)  # requests: 60 s away, tokens: 30 s
    assert error.limit == "rpm"
    assert 30 < error.retry_after_s <= 60


def test_a_request_over_tpm_takes_the_whole_bucket_and_waits_at_most_a_minute(
        backend: Backend) -> None:
    key = make_key(tpm=60)
    backend.limiter.acquire(key, 1_000)
    error = refused(backend.limiter, key, 1_000)
    assert error.limit == "tpm"
    assert 0 < error.retry_after_s <= 60


def test_settle_gives_back_unused_tokens(backend: Backend) -> None:
    key = make_key(tpm=60)
    backend.limiter.acquire(key, 50)
    refused(backend.limiter, key, 20)
    backend.limiter.settle(key, estimated=50, actual=20)  # 30 back: about 40 left
    backend.limiter.acquire(key, 20)


def test_settle_gives_back_no_more_than_the_capacity(backend: Backend) -> None:
    key = make_key(tpm=60)
    backend.limiter.acquire(key, 10)
    backend.limiter.settle(key, estimated=10, actual=-500)  # counts as 0: 10 back, full
    backend.limiter.acquire(key, 60)
    refused(backend.limiter, key, 30)


def test_settle_takes_extra_usage_and_the_next_request_waits(backend: Backend) -> None:
    key = make_key(tpm=60)
    backend.limiter.acquire(key, 10)
    backend.limiter.settle(key, estimated=10, actual=70)  # 60 more: about -10 left
    error = refused(backend.limiter, key, 0)
    assert error.limit == "tpm"
    assert 5 < error.retry_after_s <= 11


def test_settle_of_an_estimate_over_tpm_counts_what_acquire_took(backend: Backend) -> None:
    key = make_key(tpm=60)
    backend.limiter.acquire(key, 1_000)  # took the 60 there were
    backend.limiter.settle(key, estimated=1_000, actual=30)  # 30 back
    backend.limiter.acquire(key, 25)


def test_an_unlimited_key_is_never_refused_and_stores_nothing(backend: Backend) -> None:
    key = make_key()
    for _ in range(200):
        backend.limiter.acquire(key, 10**9)
        backend.limiter.settle(key, estimated=10**9, actual=10**12)
    assert backend.stored() == 0


def test_a_key_with_rpm_only_ignores_tokens(backend: Backend) -> None:
    key = make_key(rpm=2)
    backend.limiter.acquire(key, 10**9)
    backend.limiter.settle(key, estimated=1, actual=10**9)
    backend.limiter.acquire(key, 10**9)
    assert refused(backend.limiter, key, 0).limit == "rpm"


def test_keys_are_counted_apart(backend: Backend) -> None:
    first, second = make_key(rpm=1), make_key(rpm=1)
    backend.limiter.acquire(first, 0)
    backend.limiter.acquire(second, 0)
    refused(backend.limiter, first, 0)


def test_concurrent_acquires_let_exactly_the_limit_through(backend: Backend) -> None:
    key = make_key(rpm=10)
    start = threading.Barrier(20)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def request() -> None:
        start.wait()
        try:
            backend.limiter.acquire(key, 0)
            passed = True
        except RateLimitExceeded:
            passed = False
        with lock:
            outcomes.append(passed)

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 20
    assert outcomes.count(True) == 10


def test_memory_limiter_holds_two_buckets_per_key_whatever_the_requests() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    key = make_key(rpm=1_000, tpm=1_000_000)
    for _ in range(100):
        limiter.acquire(key, 10)
        limiter.settle(key, 10, 5)
        clock.now += 1
    assert limiter.buckets() == 2


@pytest.mark.redis
def test_redis_limiters_on_one_prefix_share_the_buckets(
        make_redis_limiter: Callable[[], RedisRateLimiter]) -> None:
    replicas = [make_redis_limiter() for _ in range(3)]
    key = make_key(rpm=3, tpm=60)
    for replica in replicas:
        replica.acquire(key, 10)
    for replica in replicas:
        assert refused(replica, key, 0).limit == "rpm"
    replicas[0].settle(key, estimated=10, actual=70)  # 30 - 60: 30 tokens short
    error = refused(replicas[1], key, 0)  # requests: 20 s away, tokens: 30 s
    assert error.limit == "tpm"
    assert 20 < error.retry_after_s <= 30


@pytest.mark.redis
def test_redis_buckets_expire_once_they_would_be_full_again(
        make_redis_limiter: Callable[[], RedisRateLimiter], redis_text: Any,
        redis_prefix: str) -> None:
    limiter = make_redis_limiter()
    key = make_key(rpm=60, tpm=600)
    limiter.acquire(key, 300)
    requests, tokens = (f"{redis_prefix}{{{key.id}}}:{limit}" for limit in ("rpm", "tpm"))
    assert 0 < redis_text.pttl(requests) <= 1_000  # one request: full in a second
    assert 25_000 < redis_text.pttl(tokens) <= 30_000  # 300 of 600: full in 30 s
    assert set(redis_text.hgetall(tokens)) == {"level", "at"}


@pytest.mark.redis
def test_redis_limiters_on_other_prefixes_count_apart(
        redis_url: str, make_redis_limiter: Callable[[], RedisRateLimiter],
        redis_text: Any) -> None:
    prefix = f"ragline-test:{uuid.uuid4().hex}:"
    key = make_key(rpm=1)
    make_redis_limiter().acquire(key, 0)
    other = RedisRateLimiter(redis_url, prefix=prefix)
    try:
        other.acquire(key, 0)
        refused(other, key, 0)
    finally:
        other.close()
        redis_text.delete(*redis_text.scan_iter(match=f"{prefix}*"))


def test_unreachable_redis_refuses_limited_keys_with_store_unavailable() -> None:
    limiter = RedisRateLimiter(UNREACHABLE, timeout_s=0.2)
    try:
        with pytest.raises(StoreUnavailable, match="rate limiter") as caught:
            limiter.acquire(make_key(rpm=100), 1)
        assert caught.value.http_status == 503
        limiter.acquire(make_key(), 1)  # no limits: Redis is not asked
    finally:
        limiter.close()


def test_unreachable_redis_drops_a_settle_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter(UNREACHABLE, timeout_s=0.2)
    key = make_key(tpm=100)
    with caplog.at_level(logging.WARNING, logger="ragline.server.ratelimit"):
        limiter.settle(key, estimated=10, actual=50)
    limiter.close()
    assert f"API key {key.id}: 40 tokens not settled" in caplog.text
    assert "rate limiter on Redis" in caplog.text


def test_a_bad_redis_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"gateway\.redis_url"):
        RedisRateLimiter("http://nowhere")


def test_open_rate_limiter_follows_the_settings(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert isinstance(open_rate_limiter(load_settings(home=home)), MemoryRateLimiter)
    settings = load_settings(home=home, gateway={
        "rate_limits": "redis", "redis_url": UNREACHABLE, "redis_prefix": "mine:"})
    limiter = open_rate_limiter(settings)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        assert limiter.prefix == "mine:"
        with pytest.raises(StoreUnavailable):  # it is the configured server that is asked
            limiter.acquire(make_key(rpm=1), 0)
    finally:
        limiter.close()
    with pytest.raises(ConfigError, match="rate_limits"):
        load_settings(home=home, gateway={"rate_limits": "postgres"})
