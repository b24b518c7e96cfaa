"""Guarded answers: the offline support check attached to every answer as Answer.support."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.testing import scripted_openai_model
from ragline.types import Answer

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

TEXT = ("Qdrant is written in Rust. It stores vectors in segments on disk. "
        "Hybrid search fuses BM25 and dense results inside Qdrant.")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "qdrant.md").write_text(f"# Qdrant\n\n{TEXT}\n")
    return folder


def ask(settings: Settings, corpus: Path, reply: str | None = None) -> Answer:
    generator = None if reply is None else scripted_openai_model(reply)[0]
    with RAGPipeline.from_settings(settings, generator=generator, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        return pipeline.answer("What language is Qdrant written in?")


def test_a_grounded_answer_is_fully_supported(make_settings: Callable[..., Settings],
                                              corpus: Path) -> None:
    answer = ask(make_settings(generation={"provider": "extractive"}), corpus)
    assert answer.support is not None
    assert answer.support.judge == "offline"
    assert answer.support.faithfulness == 1.0 and answer.support.unsupported == ()
    assert answer.support.citation_recall == 1.0 and answer.support.citation_precision == 1.0
    assert "verify" in answer.timings
    # the extractive answer quotes the passage word for word: the judge embeds nothing
    assert "judge" not in answer.cost.by_stage


def test_an_invented_claim_is_flagged(make_settings: Callable[..., Settings],
                                      corpus: Path) -> None:
    reply = "Qdrant is written in Rust [1]. It was founded on the Moon in 1850 [1]."
    settings = make_settings(generation={"provider": "extractive", "fallback": "none"})
    answer = ask(settings, corpus, reply)
    assert answer.text == reply
    support = answer.support
    assert support is not None
    assert support.faithfulness == 0.5
    assert len(support.unsupported) == 1 and "Moon" in support.unsupported[0]
    assert support.citation_recall == 0.5
    [good, bad] = support.citations
    assert (good.markers, good.recalled) == ((1,), True)
    assert (bad.markers, bad.recalled, bad.precise) == ((1,), False, (False,))


def test_the_check_can_be_turned_off(make_settings: Callable[..., Settings],
                                     corpus: Path) -> None:
    answer = ask(make_settings(generation={"provider": "extractive", "verify": "none"}), corpus)
    assert answer.support is None and "verify" not in answer.timings
