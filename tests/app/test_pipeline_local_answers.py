"""The default local route end to end: copied answers kept, declines, yes/no answers.

Real MiniLM, real Qdrant Edge, the real SmolLM2; the default generation settings
(``answer_style: span``, ``abstain: calibrated``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.routing.abstaining import YES_NO_ROUTE
from ragline.verify.abstention import ABSTAIN_TEXT

pytestmark = pytest.mark.slow  # loads SmolLM2

DOCS = {
    "qdrant.md": "Qdrant is a vector database written in Rust. It was first released in "
                 "2021. Qdrant stores vectors together with JSON payloads.",
    "bands.md": "The New Pornographers is a Canadian indie rock band formed in 1997 in "
                "Vancouver.\n\nKings of Leon is an American rock band that formed in "
                "Nashville, Tennessee, in 1999.",
    "tower.md": "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
}


@pytest.fixture
def pipeline(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[RAGPipeline]:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    settings = make_settings(generation={"abstain": "calibrated"}, rerank={"model": None})
    with RAGPipeline.from_settings(settings) as built:
        built.ingest([folder])
        yield built


def test_the_local_models_copied_answer_is_kept_and_cited(pipeline: RAGPipeline) -> None:
    answer = pipeline.answer("What language is Qdrant written in?")
    assert answer.route == "local:SmolLM2-135M-Instruct"  # no fallback: the answer stood
    assert len(answer.citations) == 1
    cited = answer.sources[answer.citations[0].marker - 1].chunk.text
    copied = answer.text.rsplit(" [", 1)[0]
    assert copied in cited and "Rust" in copied
    assert answer.timings["generate"] > 0
    assert answer.support is not None and answer.support.citation_precision == 1.0


def test_a_question_the_documents_cannot_answer_is_declined(pipeline: RAGPipeline) -> None:
    answer = pipeline.answer("Who runs the Qdrant office in Tokyo?")
    assert answer.route == "abstained (no passage mentions 'Tokyo')"
    assert answer.text.startswith(ABSTAIN_TEXT)
    assert answer.citations == () and answer.support is None
    assert "generate" not in answer.timings or answer.timings["generate"] < 1000


def test_a_yes_no_question_is_answered_with_both_sides_cited(pipeline: RAGPipeline) -> None:
    answer = pipeline.answer(
        "Are both The New Pornographers and Kings of Leon American rock bands?")
    assert answer.route == YES_NO_ROUTE
    assert answer.text.startswith("No.")
    assert len(answer.citations) >= 1


def test_a_streamed_decline_ends_with_the_same_answer(pipeline: RAGPipeline) -> None:
    stream = pipeline.stream("Who runs the Qdrant office in Tokyo?")
    text = "".join(stream)
    assert text.startswith(ABSTAIN_TEXT)
    assert stream.answer is not None and stream.answer.route.startswith("abstained")
