"""The exact cache's key: what changes it and what does not."""

from __future__ import annotations

from dataclasses import replace

from ragline.cache.keys import CacheScope, cache_key, digest_of, key_material
from ragline.testing import SAMPLE_REQUEST
from ragline.types import ChatRequest, Message


def key(request: ChatRequest = SAMPLE_REQUEST, *, tenant: str = "acme",
        provider: str = "openai", model: str = "gpt-4o-mini",
        scope: CacheScope | None = None) -> str:
    return cache_key(request, tenant=tenant, provider=provider, model=model,
                     scope=scope).digest


def test_the_digest_is_the_sha256_of_the_material() -> None:
    found = cache_key(SAMPLE_REQUEST, tenant="acme", provider="openai", model="m")
    assert found.digest == digest_of(found.material)
    assert len(found.digest) == 64
    assert found.tenant == "acme"


def test_equal_requests_share_a_key_after_normalisation() -> None:
    composed = ChatRequest(messages=(Message("user", "café\r\nbar"),), temperature=0)
    decomposed = ChatRequest(messages=(Message("user", "cafe\u0301\nbar"),), temperature=0.0)
    assert key(composed) == key(decomposed)
    assert key(SAMPLE_REQUEST) == key(replace(SAMPLE_REQUEST, stream=True))


def test_everything_that_can_change_the_answer_changes_the_key() -> None:
    base = key()
    variants = [
        key(provider="anthropic"),
        key(model="gpt-4o"),
        key(replace(SAMPLE_REQUEST, model="gpt-4.1")),
        key(replace(SAMPLE_REQUEST, messages=SAMPLE_REQUEST.messages[:1])),
        key(replace(SAMPLE_REQUEST, max_tokens=51)),
        key(replace(SAMPLE_REQUEST, temperature=0.7)),
        key(replace(SAMPLE_REQUEST, question="what is Qdrant?")),
        key(replace(SAMPLE_REQUEST, passages=("Qdrant is a vector database.",))),
        key(replace(SAMPLE_REQUEST, metadata={"top_p": 0.9})),
        key(tenant="globex"),
        key(scope=CacheScope(prompt="rag_answer", prompt_version="1")),
        key(scope=CacheScope(prompt="rag_answer", prompt_version="2")),
        key(scope=CacheScope(collection="docs", index_version="7")),
        key(scope=CacheScope(collection="docs", index_version="8")),
        key(scope=CacheScope(collection="faq", index_version="7")),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_the_requested_model_is_the_model_whatever_the_default() -> None:
    asked = replace(SAMPLE_REQUEST, model="gpt-4o")
    assert key(asked, model="gpt-4o-mini") == key(asked, model="o3") == key(model="gpt-4o")


def test_the_scope_is_read_from_the_metadata() -> None:
    scope = CacheScope.from_metadata({"prompt": "rag_answer", "prompt_version": 2,
                                      "collection": "docs", "index_version": 41, "x": 1})
    assert scope == CacheScope("rag_answer", "2", "docs", "41")
    assert CacheScope.from_metadata({}) == CacheScope()


def test_the_material_names_every_part_in_plain_json() -> None:
    material = key_material(SAMPLE_REQUEST, tenant="acme", provider="openai", model="m",
                            scope=CacheScope(collection="docs", index_version="3"))
    for part in ('"tenant":"acme"', '"provider":"openai"', '"model":"m"', '"max_tokens":50',
                 '"temperature":0.0', '"collection":"docs"', '"index_version":"3"',
                 '"Question: what is Qdrant?"'):
        assert part in material
