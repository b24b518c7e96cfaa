"""Shared fixtures: offline models, throwaway ragline homes, real MiniLM embedder.

Every test gets exactly the markers that say what it needs (``pyproject.toml`` lists them):
``model``, ``postgres``, ``redis``, ``e2e``, ``browser``, or else ``unit``. They are assigned
here from the fixtures a test uses and the folder it is in; a test that loads a model
without a fixture says so with ``@pytest.mark.model`` (or ``slow``, which implies it).
"""

from __future__ import annotations

import os
import uuid

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.config import Settings, load_settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.offline_judge import default_judge_embedder

# Fixtures that load a real local model (directly or through what they build).
MODEL_FIXTURES = frozenset({"embedder", "judge_embedder", "cross_encoder_dir",
                            "untrained_cross_encoder"})
POSTGRES_FIXTURES = frozenset({"postgres_admin", "postgresql_url"})
REDIS_FIXTURES = frozenset({"redis_url", "redis_client", "redis_text", "redis_prefix"})
BROWSER_FIXTURES = frozenset({"page", "browser", "browser_type"})  # pytest-playwright's
KINDS = ("model", "postgres", "redis", "e2e", "browser")
TESTS = Path(__file__).parent
REDIS_URL = os.environ.get("RAGLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The shared Redis server of the tests (scripts/ensure-redis.sh starts one there)."""


def _kinds(item: pytest.Item) -> set[str]:
    """The markers ``item`` needs, from its own markers, its fixtures and its folder."""
    names = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    path = Path(str(item.path))
    folder = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else ""
    kinds = {mark.name for mark in item.iter_markers() if mark.name in KINDS}
    if names & MODEL_FIXTURES or item.get_closest_marker("slow"):
        kinds.add("model")
    if names & POSTGRES_FIXTURES or params.get("ledger_url") == "postgresql":
        kinds.add("postgres")
    if names & REDIS_FIXTURES:
        kinds.add("redis")
    if folder == "e2e":
        kinds.add("e2e")
    if names & BROWSER_FIXTURES or folder == "browser":
        kinds.add("browser")
    return kinds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with what it needs, or ``unit`` when it needs none of it."""
    for item in items:
        kinds = _kinds(item)
        for kind in sorted(kinds or {"unit"}):
            if not item.get_closest_marker(kind):
                item.add_marker(kind)


@pytest.fixture(autouse=True)
def _no_ragline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's RAGLINE_* variables."""
    for name in list(os.environ):
        if name.startswith("RAGLINE_") and name != "RAGLINE_TIKTOKEN_CACHE":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once for the session."""
    model = SentenceTransformerEmbedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def judge_embedder() -> SentenceTransformerEmbedder:
    """The offline judge's own embedder (bundled MiniLM, int8 where that is fast), loaded once."""
    model = default_judge_embedder()
    assert isinstance(model, SentenceTransformerEmbedder)
    model.warm_up()
    return model


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings whose ``home`` is a fresh temporary folder, with overrides.

    Abstention is off unless a test turns it on (``generation={"abstain": "calibrated"}``):
    most tests ask about what they test, not about their few documents, and the tests
    of abstention say so.
    """

    def build(**overrides: Any) -> Settings:
        generation = {"abstain": "off", **overrides.pop("generation", {})}
        return load_settings(home=str(tmp_path / "home"), generation=generation, **overrides)

    return build


@pytest.fixture(params=["edge", "client"])
def transport_settings(request: pytest.FixtureRequest,
                       make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """Settings for each transport: an Edge shard on disk, and qdrant-client ``:memory:``."""
    yield make_settings(index={"transport": request.param, "url": ":memory:"})


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server's URL; fails (never skips) when nothing answers there."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not answering at {REDIS_URL} ({exc}); run "
                    "scripts/ensure-redis.sh (see docs/troubleshooting.md)")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_text(redis_url: str) -> Iterator[Any]:
    """A client of the shared Redis server that answers text (``decode_responses``)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_text: Any) -> Iterator[str]:
    """A Redis key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"ragline-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_text.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_text.delete(*keys)
    assert not list(redis_text.scan_iter(match=f"{prefix}*"))
