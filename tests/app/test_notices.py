"""Notices said once a day per key, remembered in ``<home>/notices.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from ragline.app.notices import NOTICES_FILE, first_today, reranker_missing, reranking_fact
from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings

MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)


def test_a_notice_is_said_once_a_day_per_key(tmp_path: Path) -> None:
    home = tmp_path / "home"  # created on first use
    assert first_today(home, "reranker-offline/docs/x", today=MONDAY)
    assert not first_today(home, "reranker-offline/docs/x", today=MONDAY)
    assert first_today(home, "reranker-offline/notes/x", today=MONDAY)  # another collection
    assert first_today(home, "reranker-offline/docs/x", today=TUESDAY)  # the next day
    assert not first_today(home, "reranker-offline/docs/x", today=TUESDAY)
    assert json.loads((home / NOTICES_FILE).read_text()) == {
        "reranker-offline/docs/x": "2026-11-24", "reranker-offline/notes/x": "2026-11-23"}
    assert [p.name for p in home.iterdir()] == [NOTICES_FILE]  # no temporary file left


def test_a_broken_file_or_a_read_only_home_never_silences_a_notice(tmp_path: Path) -> None:
    (tmp_path / NOTICES_FILE).write_text("{not json")
    assert first_today(tmp_path, "k", today=MONDAY)
    assert not first_today(tmp_path, "k", today=MONDAY)  # the file was repaired

    (tmp_path / "a-file").write_text("not a folder")
    unwritable = tmp_path / "a-file" / "home"  # even root cannot make this folder
    assert first_today(unwritable, "k", today=MONDAY)
    assert first_today(unwritable, "k", today=MONDAY)


def test_the_reranking_fact_and_warning_name_the_model_and_the_docs() -> None:
    assert reranking_fact(None, False) == "reranking: off (rerank.model is null)"
    assert reranking_fact("m", True) == "reranking: on (cross-encoder m)"
    assert reranking_fact("m", False) == ("reranking: off (cross-encoder m is not installed "
                                          "offline; see docs/retrieval.md, Reranking)")
    assert "Said once a day per collection" in reranker_missing("m")


def test_the_pipeline_warns_of_a_missing_cross_encoder_once_a_day_per_collection(
        make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(generation={"provider": "extractive"},
                             rerank={"model": "ragline-tests/no-such-cross-encoder"})

    def said(collection: str, notices: bool = True) -> int:
        caplog.clear()
        with caplog.at_level("WARNING", logger="ragline"), RAGPipeline.from_settings(
                settings, collection=collection, notices=notices) as pipeline:
            assert pipeline.reranker is None
        return sum("not available offline" in r.getMessage() for r in caplog.records)

    assert said("notes", notices=False) == 0  # the caller states it itself
    assert said("notes") == 1
    assert said("notes") == 0
    assert said("papers") == 1
    assert set(json.loads((settings.home / NOTICES_FILE).read_text())) == {
        "reranker-offline/notes/ragline-tests/no-such-cross-encoder",
        "reranker-offline/papers/ragline-tests/no-such-cross-encoder"}
