"""The semantic cache (ragline.cache.semantic) on real Qdrant Edge and qdrant-client
``:memory:``, with the bundled MiniLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragline.cache.semantic import (
    CacheEntry,
    Lookup,
    SemanticCache,
    open_semantic_cache,
    params_hash,
)
from ragline.config import Settings
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.transport import StoredPoint

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
NEGATED = "Why can I not reset my password?"
SCOPE: dict[str, Any] = {"tenant": "acme", "model": "gpt-4o", "params": {"temperature": 0.0},
         "index_version": "7"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(transport_settings: Settings, embedder: SentenceTransformerEmbedder,
          clock: Clock) -> Iterator[SemanticCache]:
    opened = open_semantic_cache(transport_settings, embedder, threshold=0.8, clock=clock,
                                 ttl_s=3600)
    yield opened
    opened.close()


def lookup(cache: SemanticCache, text: str, **scope: Any) -> Lookup:
    return cache.lookup(None, text, **{**SCOPE, **scope})


def add(cache: SemanticCache, text: str = QUESTION, key: str = "r1", **scope: Any) -> CacheEntry:
    return cache.add(None, text, key, **{**SCOPE, "doc_ids": ["doc-a"], **scope})


def test_a_paraphrase_hits(cache: SemanticCache) -> None:
    entry = add(cache)
    found = lookup(cache, PARAPHRASE)
    assert found.hit
    assert found.entry == entry
    assert found.entry.response_key == "r1"
    assert found.similarity >= 0.8
    assert found.entry.doc_ids == ("doc-a",)


def test_the_vector_may_be_given(cache: SemanticCache,
                                 embedder: SentenceTransformerEmbedder) -> None:
    cache.add(embedder.embed_query(QUESTION), QUESTION, "r1", **SCOPE)
    assert cache.lookup(embedder.embed_query(QUESTION), QUESTION, **SCOPE).hit


def test_a_negated_question_misses_with_its_reason(cache: SemanticCache) -> None:
    add(cache)
    found = lookup(cache, NEGATED)
    assert not found.hit
    assert [r.entry.question for r in found.rejected] == [QUESTION]
    assert "negation" in found.rejected[0].reason


def test_a_distant_question_misses_below_the_threshold(cache: SemanticCache) -> None:
    add(cache)
    found = lookup(cache, "What is the boiling point of water?")
    assert not found.hit
    assert "below the threshold" in found.rejected[0].reason


def test_tenants_are_isolated(cache: SemanticCache) -> None:
    add(cache)
    found = lookup(cache, QUESTION, tenant="globex")
    assert not found.hit
    assert found.rejected == []  # the other tenant's entry is not even a candidate
    assert lookup(cache, QUESTION).hit


@pytest.mark.parametrize("scope", [{"index_version": "8"}, {"model": "claude-3-5"},
                                   {"params": {"temperature": 0.7}}])
def test_another_index_version_model_or_parameters_misses(cache: SemanticCache,
                                                          scope: dict[str, object]) -> None:
    add(cache)
    assert not lookup(cache, QUESTION, **scope).hit


def test_entries_expire_and_are_purged_lazily(cache: SemanticCache, clock: Clock) -> None:
    add(cache)
    add(cache, "How do I delete my account?", "r2", ttl_s=10)
    clock.now += 11
    assert not lookup(cache, "How do I delete my account?").hit
    assert cache.count() == 1  # the expired entry met by the lookup is gone
    assert lookup(cache, PARAPHRASE).hit
    clock.now += 3600
    assert not lookup(cache, PARAPHRASE).hit
    assert cache.count() == 0


def test_purge_expired_sweeps_every_expired_entry(cache: SemanticCache, clock: Clock) -> None:
    add(cache, ttl_s=5)
    add(cache, "How do I delete my account?", "r2", ttl_s=100)
    add(cache, "Where is the billing page?", "r3", tenant="globex", ttl_s=5)
    clock.now += 6
    assert cache.purge_expired() == 2
    assert cache.count() == 1


def test_invalidate_docs_drops_entries_answered_from_a_changed_document(
        cache: SemanticCache) -> None:
    add(cache, doc_ids=["doc-a", "doc-b"])
    add(cache, "How do I delete my account?", "r2", doc_ids=["doc-c"])
    assert cache.invalidate_docs(["doc-b", "doc-z"]) == 1
    assert not lookup(cache, PARAPHRASE).hit
    assert lookup(cache, "How do I delete my account?").hit
    assert cache.invalidate_docs([]) == 0


def test_a_new_cache_misses_and_the_same_question_replaces_its_entry(
        cache: SemanticCache) -> None:
    assert not lookup(cache, QUESTION).hit
    assert cache.invalidate_docs(["doc-a"]) == 0
    add(cache, key="r1")
    add(cache, key="r2")
    assert cache.count() == 1
    found = lookup(cache, QUESTION)
    assert found.entry is not None and found.entry.response_key == "r2"


def test_extra_checks_run_after_the_verifier(cache: SemanticCache) -> None:
    from ragline.cache.verify import Verdict

    add(cache)
    cache.checks = (*cache.checks, lambda stored, new: Verdict(False, "cross-encoder says no"))
    found = lookup(cache, PARAPHRASE)
    assert not found.hit
    assert found.rejected[0].reason == "cross-encoder says no"


def test_params_hash_is_stable() -> None:
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})
    assert params_hash(None) == params_hash({})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_the_edge_shard_lives_apart_from_the_document_collections(
        make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder) -> None:
    settings = make_settings()
    opened = open_semantic_cache(settings, embedder, threshold=0.8)
    try:
        add(opened)
        assert opened.count() == 1
    finally:
        opened.close()
    home = Path(settings.home)
    assert (home / "cache" / "semantic" / "semantic-cache" / "shard").is_dir()
    assert not (home / "collections").exists()


def unit(cosine: float, dimension: int = 384) -> list[float]:
    """A unit vector at ``cosine`` to the first axis."""
    vector = [0.0] * dimension
    vector[0], vector[1] = cosine, (1 - cosine * cosine) ** 0.5
    return vector


def test_a_wrong_outcome_raises_the_entry_threshold(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    cache = open_semantic_cache(transport_settings, embedder, threshold=0.9, learn=True)
    try:
        cache.add(unit(1.0), QUESTION, "r1", **SCOPE)
        found = cache.lookup(unit(0.95), QUESTION, **SCOPE)
        assert found.hit and found.entry is not None
        cache.record(found, found.entry, found.similarity, correct=False)
        again = cache.lookup(unit(0.95), QUESTION, **SCOPE)
        assert not again.hit
        assert "below the threshold 0.95" in again.rejected[0].reason
        assert cache.lookup(unit(0.99), QUESTION, **SCOPE).hit
    finally:
        cache.close()


def test_correct_outcomes_below_the_threshold_lower_it(
        transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    cache = open_semantic_cache(transport_settings, embedder, threshold=0.95, learn=True)
    try:
        cache.add(unit(1.0), QUESTION, "r1", **SCOPE)
        for cosine in (0.94, 0.93, 0.92, 0.91, 0.9):  # misses, each explored and found right
            found = cache.lookup(unit(cosine), QUESTION, **SCOPE)
            assert not found.hit
            candidate = found.rejected[0]
            cache.record(found, candidate.entry, candidate.similarity, correct=True)
        hit = cache.lookup(unit(0.9), QUESTION, **SCOPE)
        assert hit.hit and hit.entry is not None
        assert len(hit.entry.observations) == 5
        assert cache.threshold_of(hit.entry) == pytest.approx(0.9, abs=1e-4)
        assert not cache.lookup(unit(0.8), QUESTION, **SCOPE).hit
    finally:
        cache.close()


def test_record_needs_a_learning_cache(cache: SemanticCache) -> None:
    add(cache)
    found = lookup(cache, QUESTION)
    assert found.entry is not None
    with pytest.raises(ValueError):
        cache.record(found, found.entry, found.similarity, correct=True)


def test_a_format_one_collection_is_still_filtered_on_its_four_fields(
        cache: SemanticCache) -> None:
    entry = add(cache)
    assert cache.transport.read_meta()["format"] == 2
    assert "scope" in cache.transport.payloads([entry.id], ["scope"])[entry.id]
    cache.transport.write_meta({"kind": "semantic-cache", "format": 1})
    old = {k: v for k, v in entry.payload().items() if k != "scope"}
    vector = [float(x) for x in cache.embedder.embed_query(QUESTION)]
    cache.transport.upsert([StoredPoint(entry.id, vector, None, old)])
    reopened = SemanticCache(cache.transport, cache.embedder, threshold=0.8,
                             clock=cache.clock)
    assert lookup(reopened, PARAPHRASE).hit
    assert not lookup(reopened, PARAPHRASE, tenant="globex").hit


def test_a_scope_collision_never_serves_another_tenant(cache: SemanticCache,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import ragline.cache.semantic as semantic

    monkeypatch.setattr(semantic, "scope_of", lambda *values: "same-for-everyone")
    add(cache)
    found = lookup(cache, QUESTION, tenant="globex")
    assert not found.hit and found.rejected == []
    assert lookup(cache, QUESTION).hit


def test_clear_removes_one_tenants_entries_or_all(cache: SemanticCache) -> None:
    add(cache)
    add(cache, tenant="globex")
    assert cache.clear("globex") == 1 and cache.count() == 1
    assert lookup(cache, PARAPHRASE).hit and not lookup(cache, PARAPHRASE, tenant="globex").hit
    assert cache.clear() == 1 and cache.count() == 0
