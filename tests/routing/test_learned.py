"""Trained routers on synthetic outcomes: the weak model fails arithmetic, answers trivia.

Real MiniLM embeddings; every kind must rank unseen arithmetic prompts above unseen
trivia prompts, route them to the strong tier, and survive a save/load round trip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from ragline.errors import InvalidInput, RouterError, RouterMismatch
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.protocols import Vectors
from ragline.routing.learned import ROUTER_KINDS, TrainedRouter, train_router
from ragline.routing.outcomes import Outcomes
from ragline.types import ChatRequest, Message, RouteSignals

pytestmark = pytest.mark.slow
NAME = "all-MiniLM-L6-v2"
COUNTRIES = ("France", "Japan", "Brazil", "Canada", "Kenya", "Norway", "Peru", "India",
             "Egypt", "Italy", "Chile", "Spain", "Ghana", "Nepal", "Cuba", "Iran",
             "Poland", "Greece", "Mexico", "Sweden", "Turkey", "Vietnam", "Austria",
             "Portugal", "Morocco", "Finland", "Ireland", "Denmark", "Hungary", "Bolivia",
             "Belgium", "Uganda", "Jordan", "Laos", "Iceland", "Senegal")


def _arithmetic(i: int) -> str:
    a, b, c = 137 + 7 * i, 23 + 3 * i, 11 + i
    return f"Compute {a} * {b} - {c} / 4 and give the exact result."


def _trivia(i: int) -> str:
    return f"What is the capital city of {COUNTRIES[i]}?"


def _outcomes(indices: range) -> Outcomes:
    prompts = tuple(p for i in indices for p in (_arithmetic(i), _trivia(i)))
    weak = np.array([0.0, 1.0] * len(indices))
    strong = np.array([1.0, 1.0] * len(indices))
    strong[-2] = 0.0  # one arithmetic prompt both models fail
    return Outcomes(prompts=prompts, quality={"small": weak, "large": strong})


class CountingEmbedder:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.embedded = 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str]) -> Vectors:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        self.embedded += 1
        return self.inner.embed_query(text)


@pytest.fixture(scope="module")
def train_set() -> Outcomes:
    return _outcomes(range(30))


@pytest.fixture(scope="module")
def train_vectors(embedder: SentenceTransformerEmbedder, train_set: Outcomes) -> Vectors:
    return embedder.embed_documents(list(train_set.prompts))


@pytest.fixture(scope="module")
def routers(embedder: SentenceTransformerEmbedder, train_set: Outcomes,
            train_vectors: Vectors) -> dict[str, TrainedRouter]:
    return {kind: train_router(train_set, weak="small", strong="large", kind=kind,
                               embedder=embedder, embedder_name=NAME, vectors=train_vectors)
            for kind in ROUTER_KINDS}


UNSEEN_HARD = [_arithmetic(i) for i in range(30, 36)]
UNSEEN_EASY = [_trivia(i) for i in range(30, 36)]


@pytest.mark.parametrize("kind", ROUTER_KINDS)
def test_every_kind_ranks_unseen_arithmetic_above_trivia(
        routers: dict[str, TrainedRouter], kind: str) -> None:
    router = routers[kind]
    hard = router.strong_scores(UNSEEN_HARD)
    easy = router.strong_scores(UNSEEN_EASY)
    assert hard.shape == (6,) and easy.shape == (6,)
    assert hard.min() > easy.max(), (kind, hard, easy)
    # the default threshold sends half the training prompts to strong: it separates them
    assert easy.max() < router.threshold <= hard.min(), (kind, router.threshold)


@pytest.mark.parametrize("kind", ROUTER_KINDS)
def test_route_meets_the_router_protocol(routers: dict[str, TrainedRouter], kind: str) -> None:
    router = routers[kind].with_tiers("local", "cloud-large")
    assert router.name == kind
    request = ChatRequest(messages=(Message("system", "be brief"),
                                    Message("user", UNSEEN_HARD[0])))
    decision = router.route(request, RouteSignals(query=UNSEEN_HARD[0]))
    assert decision.tier == "cloud-large" and decision.model == "large"
    assert decision.reason == (f"{kind}: strong_score {decision.score:.2f} >= threshold "
                               f"{router.threshold:.2f}")
    easy = ChatRequest(messages=(Message("user", "ignored"),), question=UNSEEN_EASY[0])
    decision = router.route(easy, RouteSignals())
    assert (decision.tier, decision.model) == ("local", "small")
    assert " < threshold " in decision.reason


def test_route_reuses_the_shared_query_vector(embedder: SentenceTransformerEmbedder,
                                              routers: dict[str, TrainedRouter],
                                              tmp_path: Path) -> None:
    path = routers["knn"].save(tmp_path / "knn.joblib")
    counting = CountingEmbedder(embedder)
    router = TrainedRouter.load(path, embedder=counting, embedder_name=NAME)
    text = UNSEEN_HARD[1]
    request = ChatRequest(messages=(Message("user", text),))
    vector = embedder.embed_query(text)
    shared = router.route(request, RouteSignals(query=text, query_vector=vector, embedder=NAME))
    assert counting.embedded == 0
    other = router.route(request, RouteSignals(query=text, query_vector=vector,
                                               embedder="another-model"))
    assert counting.embedded == 1  # a vector of another embedder is not used
    assert other.score == pytest.approx(shared.score, abs=1e-5)


def test_with_threshold_moves_the_decision(routers: dict[str, TrainedRouter]) -> None:
    router = routers["logreg"]
    request = ChatRequest(messages=(Message("user", UNSEEN_HARD[2]),))
    assert router.route(request, RouteSignals()).tier == "strong"
    strict = router.with_threshold(1.01)
    assert strict.threshold == 1.01 and router.threshold != 1.01
    assert strict.route(request, RouteSignals()).tier == "weak"


def test_rag_router_reads_retrieval_signals(embedder: SentenceTransformerEmbedder,
                                            train_set: Outcomes,
                                            train_vectors: Vectors) -> None:
    # Signals carry the label here: a weak retrieval (low top score) needs the strong model.
    signals = [RouteSignals(top_score=0.2 if q == 0.0 else 0.9, margin=0.1, agreement=0.5,
                            retrieved=5) for q in train_set.quality["small"]]
    router = train_router(train_set, weak="small", strong="large", kind="rag",
                          embedder=embedder, embedder_name=NAME, vectors=train_vectors,
                          signals=signals)
    text = [UNSEEN_EASY[0]]
    weak_retrieval = router.strong_scores(text, signals=[RouteSignals(top_score=0.2,
                                                                      retrieved=5)])
    good_retrieval = router.strong_scores(text, signals=[RouteSignals(top_score=0.9,
                                                                      retrieved=5)])
    assert weak_retrieval[0] > good_retrieval[0]


def test_training_is_deterministic(embedder: SentenceTransformerEmbedder, train_set: Outcomes,
                                   train_vectors: Vectors) -> None:
    scores = []
    for _ in range(2):
        router = train_router(train_set, weak="small", strong="large", kind="mf",
                              embedder=embedder, embedder_name=NAME, vectors=train_vectors,
                              seed=3)
        scores.append(router.strong_scores(UNSEEN_HARD))
    assert scores[0].tolist() == scores[1].tolist()


def test_save_and_load_round_trip(embedder: SentenceTransformerEmbedder,
                                  routers: dict[str, TrainedRouter], train_set: Outcomes,
                                  tmp_path: Path) -> None:
    for kind, router in routers.items():
        path = router.with_threshold(0.42).with_tiers("a", "b").save(tmp_path / f"{kind}.joblib")
        loaded = TrainedRouter.load(path, embedder=embedder, embedder_name=NAME)
        assert (loaded.kind, loaded.weak, loaded.strong) == (kind, "small", "large")
        assert (loaded.threshold, loaded.weak_tier, loaded.strong_tier) == (0.42, "a", "b")
        assert loaded.data_hash == train_set.data_hash()
        assert loaded.created["prompts"] == len(train_set)
        np.testing.assert_allclose(loaded.strong_scores(UNSEEN_HARD),
                                   router.strong_scores(UNSEEN_HARD))


def test_load_refuses_another_embedder(embedder: SentenceTransformerEmbedder,
                                       routers: dict[str, TrainedRouter], tmp_path: Path) -> None:
    path = routers["knn"].save(tmp_path / "r.joblib")
    with pytest.raises(RouterMismatch, match="trained on embeddings of 'all-MiniLM-L6-v2'"):
        TrainedRouter.load(path, embedder=embedder, embedder_name="bge-small")


def test_load_refuses_what_is_not_a_router(embedder: SentenceTransformerEmbedder,
                                           routers: dict[str, TrainedRouter],
                                           tmp_path: Path) -> None:
    junk = tmp_path / "junk.joblib"
    junk.write_text("not a pickle")
    with pytest.raises(RouterError, match="not a ragline router"):
        TrainedRouter.load(junk, embedder=embedder, embedder_name=NAME)
    joblib.dump({"hello": 1}, tmp_path / "dict.joblib")
    with pytest.raises(RouterError, match="not a ragline router"):
        TrainedRouter.load(tmp_path / "dict.joblib", embedder=embedder, embedder_name=NAME)
    path = routers["knn"].save(tmp_path / "r.joblib")
    saved: dict[str, Any] = joblib.load(path)
    saved["version"] = 99
    joblib.dump(saved, path)
    with pytest.raises(RouterError, match="format version 99"):
        TrainedRouter.load(path, embedder=embedder, embedder_name=NAME)
    with pytest.raises(RouterError, match="no such router file"):
        TrainedRouter.load(tmp_path / "absent.joblib", embedder=embedder, embedder_name=NAME)


def test_bad_training_requests(embedder: SentenceTransformerEmbedder, train_set: Outcomes,
                               train_vectors: Vectors) -> None:
    common: dict[str, Any] = {"embedder": embedder, "embedder_name": NAME,
                              "vectors": train_vectors}
    with pytest.raises(InvalidInput, match="unknown router kind"):
        train_router(train_set, weak="small", strong="large", kind="bert", **common)
    with pytest.raises(InvalidInput, match="'huge' is not in the outcomes"):
        train_router(train_set, weak="small", strong="huge", kind="knn", **common)
    with pytest.raises(InvalidInput, match="one embedding row per prompt"):
        train_router(train_set, weak="small", strong="large", kind="knn",
                     embedder=embedder, embedder_name=NAME, vectors=train_vectors[:3])
    with pytest.raises(InvalidInput, match="no question and no user message"):
        train_router(train_set, weak="small", strong="large", kind="knn", **common).route(
            ChatRequest(messages=(Message("system", "x"),)), RouteSignals())
