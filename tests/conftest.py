"""Shared fixtures: offline models, throwaway ragline homes, real MiniLM embedder."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.config import Settings, load_settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.offline_judge import default_judge_embedder


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
    """Build settings whose ``home`` is a fresh temporary folder, with overrides."""

    def build(**overrides: Any) -> Settings:
        return load_settings(home=str(tmp_path / "home"), **overrides)

    return build


@pytest.fixture(params=["edge", "client"])
def transport_settings(request: pytest.FixtureRequest,
                       make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    """Settings for each transport: an Edge shard on disk, and qdrant-client ``:memory:``."""
    yield make_settings(index={"transport": request.param, "url": ":memory:"})
