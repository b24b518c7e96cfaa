"""``RAGPipeline.stream``: deltas as the model writes them, then the same Answer that
``answer`` gives; the answer cache replays hits and stores only completed streams."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ragline.app.pipeline import RAGPipeline
from ragline.app.streaming import NO_PASSAGES
from ragline.config import Settings
from ragline.cost.metered import current_scope
from ragline.errors import InvalidInput
from ragline.testing import scripted_openai_model

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

TEXT = "Hybrid search fuses BM25 and dense results inside Qdrant."
REPLY = "Hybrid search fuses BM25 and dense results inside Qdrant [1] [7]."
QUESTION = "How does hybrid search work?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "search.md").write_text(f"# Search\n\n{TEXT}\n")
    return folder


def pipeline_for(make_settings: Callable[..., Settings], **cache: Any) -> tuple[
        RAGPipeline, list[dict[str, Any]]]:
    model, seen = scripted_openai_model(REPLY, usage=(400, 25))
    settings = make_settings(cache=cache or {"mode": "off"},
                             generation={"verify": "none", "fallback": "none"})
    return RAGPipeline.from_settings(settings, generator=model, rerank=False), seen


def test_deltas_then_the_answer_with_resolved_citations_and_cost(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    pipeline, seen = pipeline_for(make_settings)
    with pipeline:
        pipeline.ingest([corpus])
        stream = pipeline.stream(QUESTION, tenant="acme", session="s-1")
        deltas = list(stream)
        answer = stream.answer
    assert len(deltas) > 3 and "".join(deltas) == REPLY  # the model's raw text
    assert answer is not None and seen[-1]["stream"] is True
    assert answer.text == "Hybrid search fuses BM25 and dense results inside Qdrant [1]."
    assert [c.marker for c in answer.citations] == [1]  # [7] points at nothing: dropped
    assert answer.cost.total_usd == pytest.approx(75e-6) and answer.query_id
    assert answer.cache == "off" and {"retrieve", "generate", "total"} <= answer.timings.keys()
    assert current_scope() is None  # the query's scope never leaks into the caller


def test_a_cached_answer_is_replayed_and_only_a_completed_stream_is_stored(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    pipeline, seen = pipeline_for(make_settings, mode="exact")
    with pipeline:
        pipeline.ingest([corpus])
        abandoned = pipeline.stream(QUESTION)
        next(abandoned)
        abandoned.close()
        first = pipeline.stream(QUESTION)
        list(first)
        again = pipeline.stream(QUESTION)
        replayed = list(again)
    assert len(seen) == 2  # the abandoned stream stored nothing; the replay asked nothing
    assert first.answer is not None and first.answer.cache == "miss"
    assert again.answer is not None and again.answer.cache == "exact"
    assert "".join(replayed) == again.answer.text == first.answer.text
    assert len(replayed) > 3 and again.answer.cost.total_usd == 0


def test_nothing_retrieved_streams_the_no_passages_answer(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    pipeline, seen = pipeline_for(make_settings)
    with pipeline:
        pipeline.ingest([corpus])
        stream = pipeline.stream(QUESTION, filters={"source": "no such file"})
        assert list(stream) == [NO_PASSAGES]
    assert stream.answer is not None and stream.answer.sources == () and seen == []


def test_bad_input_raises_before_any_delta(make_settings: Callable[..., Settings]) -> None:
    pipeline, _ = pipeline_for(make_settings)
    with pipeline, pytest.raises(InvalidInput):
        pipeline.stream("   ")
