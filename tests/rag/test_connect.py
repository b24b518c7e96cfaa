"""Listing the collections the settings reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.rag.connect import collection_names


@pytest.mark.unit
def test_edge_collections_are_the_shards_under_home(tmp_path: Path) -> None:
    settings = load_settings(home=str(tmp_path / "home"))
    assert collection_names(settings) == []  # no home yet
    root = tmp_path / "home" / "collections"
    for name in ("notes", "handbook", "semantic-cache"):
        (root / name / "shard").mkdir(parents=True)
    (root / "half-made").mkdir()  # no shard: not a collection
    assert collection_names(settings) == ["handbook", "notes", "semantic-cache"]
    assert collection_names(settings, exclude={"semantic-cache"}) == ["handbook", "notes"]


def test_client_collections_are_asked_of_the_server(tmp_path: Path) -> None:
    settings = load_settings(home=str(tmp_path / "home"),
                             index={"transport": "client", "url": ":memory:"})
    assert collection_names(settings) == []  # a fresh in-memory client holds none
