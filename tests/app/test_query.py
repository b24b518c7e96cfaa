"""Query rewriting, multi-query fusion and the conversational condenser, with the real SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ragline.app.query import (
    CONDENSE_PROMPT,
    EXPAND_PROMPT,
    MultiQuerySearch,
    condense_question,
    expand_query,
    fuse_rankings,
)
from ragline.config import Settings
from ragline.errors import InvalidInput
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.models.openai_chat import OpenAIChatModel
from ragline.rag.index import QdrantIndex
from ragline.testing import scripted_openai_model
from ragline.types import Chunk, Message, ScoredChunk

QUESTION = "How long do cats sleep?"


def scripted_openai(reply: str) -> tuple[OpenAIChatModel, list[dict[str, Any]]]:
    """The real OpenAI SDK whose (scripted) server answers ``reply``, and the bodies it saw."""
    return scripted_openai_model(reply)


# -- expand_query ---------------------------------------------------------------------------


def test_expand_sends_static_instructions_first() -> None:
    model, seen = scripted_openai("How many hours do felines doze?")
    assert expand_query(model, QUESTION, n=2) == [QUESTION, "How many hours do felines doze?"]
    (body,) = seen
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == EXPAND_PROMPT
    assert QUESTION in body["messages"][1]["content"]
    assert "up to 2" in body["messages"][1]["content"]


def test_expand_strips_markers_and_drops_duplicates() -> None:
    reply = ("Here are some rewrites:\n"
             "1. How many hours do felines doze?\n"
             "\n"
             "2) \"What is the sleep duration of cats?\"\n"
             "- how long do CATS sleep?\n"
             "* How many hours do felines doze?\n"
             "(3) “Daily sleep time of domestic cats”\n"
             "• Cat napping habits\n")
    model, _ = scripted_openai(reply)
    assert expand_query(model, QUESTION, n=3) == [
        QUESTION, "How many hours do felines doze?", "What is the sleep duration of cats?",
        "Daily sleep time of domestic cats"]


def test_expand_keeps_leading_numbers_that_are_not_list_markers() -> None:
    model, _ = scripted_openai("2024 sleep studies on cats")
    assert expand_query(model, QUESTION) == [QUESTION, "2024 sleep studies on cats"]


@pytest.mark.parametrize("reply", ["", "\n  \n", "1.\n- \n\"\"", "How long do cats sleep?",
                                   "Rewrites:"])
def test_expand_falls_back_to_the_question(reply: str) -> None:
    model, seen = scripted_openai(reply)
    assert expand_query(model, QUESTION) == [QUESTION]
    assert len(seen) == 1


def test_expand_with_zero_rewrites_calls_no_model() -> None:
    model, seen = scripted_openai("anything")
    assert expand_query(model, QUESTION, n=0) == [QUESTION]
    assert seen == []
    with pytest.raises(InvalidInput):
        expand_query(model, QUESTION, n=-1)


# -- fuse_rankings --------------------------------------------------------------------------


def _hit(cid: str, score: float = 1.0, sources: tuple[str, ...] = ("hybrid",)) -> ScoredChunk:
    return ScoredChunk(Chunk(cid, "doc", f"text {cid}", {}, 0), score, sources)


def test_fuse_matches_hand_computed_rrf() -> None:
    rankings = [
        [_hit("a", 0.9, ("dense",)), _hit("b", 0.8), _hit("c", 0.7)],
        [_hit("c", 0.5, ("bm25",)), _hit("a", 0.4, ("bm25",)), _hit("d", 0.3)],
        [_hit("b"), _hit("e")],
    ]
    fused = fuse_rankings(rankings, k=10, rrf_k=60)
    # a: 1/60 + 1/61; b: 1/61 + 1/60; c: 1/62 + 1/60; d: 1/62; e: 1/61
    expected = {"a": 1 / 60 + 1 / 61, "b": 1 / 61 + 1 / 60, "c": 1 / 62 + 1 / 60,
                "d": 1 / 62, "e": 1 / 61}
    assert [s.chunk.id for s in fused] == ["a", "b", "c", "e", "d"]  # a, b tie: by id
    for s in fused:
        assert s.score == pytest.approx(expected[s.chunk.id])
    by_id = {s.chunk.id: s for s in fused}
    assert by_id["a"].retrievers == ("dense", "bm25", "multi-query")
    assert by_id["c"].retrievers == ("hybrid", "bm25", "multi-query")
    assert by_id["e"].retrievers == ("hybrid", "multi-query")
    assert by_id["a"].chunk.text == "text a"


def test_fuse_cuts_at_k_and_honours_rrf_k() -> None:
    rankings = [[_hit("z"), _hit("y")], [_hit("y"), _hit("x")]]
    fused = fuse_rankings(rankings, k=2, rrf_k=1)
    # y: 1/2 + 1/1; z: 1/1; x: 1/2
    assert [(s.chunk.id, s.score) for s in fused] == [("y", 1.5), ("z", 1.0)]


def test_fuse_counts_a_repeated_chunk_once_per_list() -> None:
    fused = fuse_rankings([[_hit("a"), _hit("a"), _hit("b")]], k=5, rrf_k=60)
    assert [(s.chunk.id, s.score) for s in fused] == [("a", 1 / 60), ("b", 1 / 62)]


def test_fuse_edge_cases() -> None:
    assert fuse_rankings([], k=3) == []
    assert fuse_rankings([[], []], k=3) == []
    with pytest.raises(InvalidInput):
        fuse_rankings([[_hit("a")]], k=0)
    with pytest.raises(InvalidInput):
        fuse_rankings([[_hit("a")]], k=1, rrf_k=0)


# -- MultiQuerySearch -----------------------------------------------------------------------

PASSAGES = [
    "Felines doze for roughly sixteen hours each day.",
    "Cats chase mice in the barn at night.",
    "Dogs enjoy walks in the park.",
    "The index lives in a Qdrant Edge shard on disk.",
]


@pytest.fixture
def pets(make_settings: Callable[..., Settings],
         embedder: SentenceTransformerEmbedder) -> Iterator[QdrantIndex]:
    with QdrantIndex.from_settings(make_settings(), collection="q", embedder=embedder) as index:
        index.upsert([Chunk.create("pets", text, {"start": 0, "end": len(text)}, i)
                      for i, text in enumerate(PASSAGES)])
        yield index


def test_multi_query_finds_what_the_original_wording_misses(pets: QdrantIndex) -> None:
    plain = pets.search(QUESTION, k=4, mode="bm25")
    assert PASSAGES[0] not in [s.chunk.text for s in plain]
    model, seen = scripted_openai("1. How many hours do felines doze?\n2. Cat sleep duration")
    search = MultiQuerySearch(pets, model, n=2)
    fused = search.search(QUESTION, k=3, mode="bm25")
    texts = [s.chunk.text for s in fused]
    assert PASSAGES[0] in texts and PASSAGES[1] in texts
    assert PASSAGES[2] not in texts and PASSAGES[3] not in texts
    assert all(s.retrievers == ("bm25", "multi-query") for s in fused)
    assert [s.score for s in fused] == sorted((s.score for s in fused), reverse=True)
    assert len(seen) == 1


def test_multi_query_hybrid_and_filters(pets: QdrantIndex) -> None:
    model, _ = scripted_openai("How many hours do felines doze?")
    fused = MultiQuerySearch(pets, model, n=1, depth=4).search(
        QUESTION, k=2, filters={"doc_id": "pets"})
    assert {s.chunk.text for s in fused} == {PASSAGES[0], PASSAGES[1]}
    assert all(s.retrievers == ("hybrid", "multi-query") for s in fused)
    assert MultiQuerySearch(pets, model, n=1).search(
        QUESTION, k=2, filters={"doc_id": "other"}) == []


def test_multi_query_refuses_bad_input(pets: QdrantIndex) -> None:
    model, seen = scripted_openai("x")
    search = MultiQuerySearch(pets, model)
    with pytest.raises(InvalidInput):
        search.search("  ")
    with pytest.raises(InvalidInput):
        search.search(QUESTION, k=0)
    assert seen == []
    with pytest.raises(ValueError):
        MultiQuerySearch(pets, model, depth=0)


# -- condense_question ----------------------------------------------------------------------

HISTORY = (
    Message("system", "You are helpful."),
    Message("user", "What do cats do at night?"),
    Message("assistant", "They chase mice in the barn [1]."),
    Message("user", "And dogs?"),
    Message("assistant", "Dogs enjoy long walks in the park [1]."),
)


def test_condense_without_history_calls_no_model() -> None:
    model, seen = scripted_openai("anything")
    assert condense_question(model, [], "How long do they sleep?") == "How long do they sleep?"
    assert condense_question(model, [Message("system", "s")], "Why?") == "Why?"
    assert seen == []


def test_condense_sends_history_with_roles() -> None:
    model, seen = scripted_openai("How long do dogs sleep?")
    assert condense_question(model, HISTORY, "How long do they sleep?") == \
        "How long do dogs sleep?"
    (body,) = seen
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == CONDENSE_PROMPT
    prompt = body["messages"][1]["content"]
    assert ("User: What do cats do at night?\n"
            "Assistant: They chase mice in the barn [1].\n"
            "User: And dogs?\n"
            "Assistant: Dogs enjoy long walks in the park [1].") in prompt
    assert "You are helpful." not in prompt
    assert prompt.index("Assistant: Dogs") < prompt.index("How long do they sleep?")


def test_condense_keeps_only_the_last_turns() -> None:
    model, seen = scripted_openai("How long do dogs sleep?")
    condense_question(model, HISTORY, "How long do they sleep?", max_turns=2)
    prompt = seen[0]["messages"][1]["content"]
    assert "User: And dogs?" in prompt and "Assistant: Dogs enjoy" in prompt
    assert "cats" not in prompt
    with pytest.raises(InvalidInput):
        condense_question(model, HISTORY, "Why?", max_turns=0)


@pytest.mark.parametrize("reply", [
    "Standalone question: How long do dogs sleep?",
    "\n  \"How long do dogs sleep?\"\nBecause the user asked about dogs.",
    "standalone QUESTION: “How long do dogs sleep?”",
    "Question: How long do dogs sleep?",
])
def test_condense_cleans_the_reply(reply: str) -> None:
    model, _ = scripted_openai(reply)
    assert condense_question(model, HISTORY, "How long do they sleep?") == \
        "How long do dogs sleep?"


@pytest.mark.parametrize("reply", ["", "  \n\n", "\"\""])
def test_condense_falls_back_to_the_question(reply: str) -> None:
    model, _ = scripted_openai(reply)
    assert condense_question(model, HISTORY, "How long do they sleep?") == \
        "How long do they sleep?"
