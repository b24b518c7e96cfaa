"""Fixtures of the exact-cache tests: the shared Redis server, stores with their own key
prefix (cleaned up afterwards), and a private Redis server a test may kill."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.cache.redis_store import RedisCacheStore
from ragline.cache.sqlite_store import SQLiteCacheStore


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of the shared server."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_redis_store(redis_url: str) -> Iterator[Callable[..., RedisCacheStore]]:
    """Build Redis stores under a prefix of this test's own; every key is deleted after."""
    prefix = f"ragline-test:{uuid.uuid4().hex}"
    stores: list[RedisCacheStore] = []

    def build(**options: Any) -> RedisCacheStore:
        store = RedisCacheStore(options.pop("url", redis_url), prefix=prefix, **options)
        stores.append(store)
        return store

    yield build
    cleaner = RedisCacheStore(redis_url, prefix=prefix)
    cleaner.clear()
    assert sum(1 for _ in cleaner.client.scan_iter(match=f"{prefix}:*")) == 0
    cleaner.close()
    for store in stores:
        store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteCacheStore]:
    """A SQLite store in this test's temporary folder."""
    store = SQLiteCacheStore.under_home(tmp_path / "home")
    yield store
    store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own (no persistence), its URL and process; the test
    may kill it. Never the shared server."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed; run scripts/ensure-redis.sh")
    port = _free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly",
                                "no", "--daemonize", "no", "--bind", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"the private redis-server on port {port} did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
