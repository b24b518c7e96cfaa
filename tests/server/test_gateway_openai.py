"""The OpenAI-compatible gateway through the official ``openai`` SDK, against a live
``ragline serve`` whose configured model is ragline's real OpenAI provider talking HTTP to
a scripted upstream (tests/server/http_upstream.py). Keys are required; the exact cache is
on."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest

from ragline.server.keys import KeyStore
from ragline.testing import openai_text_reply
from tests.server.conftest import Live, Upstream, serving
from tests.server.http_upstream import HttpUpstream, http_upstream

pytestmark = pytest.mark.model  # the pipelines load the real embedder

RAG_SYSTEM = "You answer questions using only the numbered passages"


def reply(body: dict[str, Any]) -> str:
    """Cite passage [1] for a RAG prompt; echo the last message otherwise."""
    if str(body["messages"][0]["content"]).startswith(RAG_SYSTEM):
        return "Qdrant is a vector database [1]."
    return f"You said: {body['messages'][-1]['content']}"


def upstream_reply(request: httpx2.Request) -> httpx2.Response:
    """:func:`reply` as the upstream's answer; a 500 for a message saying ``please fail``."""
    if b"please fail" in request.content:
        return httpx2.Response(500, json={"error": {"message": "upstream broke",
                                                    "type": "server_error"}})
    return openai_text_reply(reply)(request)


@dataclass
class Site:
    """The live server, its upstream, and tokens of the keys made for the tests."""

    live: Live
    upstream: HttpUpstream
    tokens: dict[str, str]
    key_ids: dict[str, str]

    def client(self, who: str | None = "acme") -> openai.OpenAI:
        token = self.tokens[who] if who else "none"
        return openai.OpenAI(base_url=f"{self.live.url}/v1", api_key=token, max_retries=0)

    def ledger_rows(self, key: str, *, holding: tuple[str, str, str] | None = None,
                    ) -> list[tuple[str, str, str]]:
        """The key's ledger rows (tenant, stage, cache), once they hold ``holding`` (or
        any row): the server writes a gateway call's rows just after its response, so a
        client that reads the database itself may be a moment early."""
        deadline = time.monotonic() + 10
        while True:
            with sqlite3.connect(self.live.home / "ledger.sqlite") as db:
                rows = db.execute("SELECT tenant, stage, cache FROM ragline_calls "
                                  "WHERE api_key = ? ORDER BY id",
                                  (self.key_ids[key],)).fetchall()
            if (holding in rows if holding else rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.02)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("gateway") / "home"
    with KeyStore(f"sqlite:///{home.parent / 'keys.sqlite'}") as keys:
        made = {"acme": keys.create("acme", "acme"), "globex": keys.create("globex", "globex"),
                "narrow": keys.create("narrow", "initech", models=(
                    "openai:gpt-4o-mini", "ragline/rag/*"), collections=("other",), rpm=3),
                "revoked": keys.create("revoked", "acme")}
        keys.revoke(made["revoked"][0].id)
    with http_upstream(upstream_reply) as upstream, serving(
            home, Upstream(), configured=True,
            generation={"provider": "openai", "model": "gpt-4o-mini", "base_url": upstream.url,
                        "api_key": "sk-upstream", "max_retries": 0},
            gateway={"require_keys": True, "models": ["openai:gpt-4o"],
                     "keys_url": f"sqlite:///{home.parent / 'keys.sqlite'}"},
            cache={"mode": "exact"}) as live:
        yield Site(live, upstream, {k: token for k, (_, token) in made.items()},
                   {k: key.id for k, (key, _) in made.items()})


def test_a_completion_is_answered_with_ragline_headers(site: Site) -> None:
    raw = site.client().chat.completions.with_raw_response.create(
        model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "You said: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 120
    assert completion.model == "openai:gpt-4o-mini"
    assert raw.headers["x-ragline-route"] and raw.headers["x-ragline-cache"] == "miss"
    assert float(raw.headers["x-ragline-cost-usd"]) > 0
    assert raw.headers["x-request-id"] in completion.id
    assert site.upstream.bodies[-1]["messages"][-1]["content"] == "hello there"
    assert site.ledger_rows("acme")[0][:2] == ("acme", "generate")


def test_a_stream_arrives_in_chunks_with_usage_last(site: Site) -> None:
    chunks = list(site.client().chat.completions.create(
        model="ragline/auto", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "stream four words please"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream four words please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 4
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    last = next(c for c in reversed(chunks) if c.choices)
    assert last.choices[0].finish_reason == "stop"
    extension = (last.model_extra or {})["ragline"]
    assert extension["route"] and extension["cache"] in ("miss", "hit")


def test_repeats_hit_the_cache_of_their_own_tenant_only(site: Site) -> None:
    ask = [{"role": "user", "content": "a question asked twice"}]
    first = site.client("acme").chat.completions.with_raw_response.create(
        model="openai:gpt-4o-mini", messages=ask)
    again = site.client("acme").chat.completions.with_raw_response.create(
        model="openai:gpt-4o-mini", messages=ask)
    other = site.client("globex").chat.completions.with_raw_response.create(
        model="openai:gpt-4o-mini", messages=ask)
    assert [first.headers["x-ragline-cache"], again.headers["x-ragline-cache"],
            other.headers["x-ragline-cache"]] == ["miss", "hit", "miss"]
    assert again.parse().choices[0].message.content == "You said: a question asked twice"
    assert ("acme", "cache", "exact") in site.ledger_rows(
        "acme", holding=("acme", "cache", "exact"))
    assert all(tenant == "globex" for tenant, _, _ in site.ledger_rows("globex"))


def test_a_rag_model_answers_with_citations_in_the_extension(site: Site) -> None:
    raw = site.client().chat.completions.with_raw_response.create(
        model="ragline/rag/default", messages=[{"role": "user", "content": "What is Qdrant?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Qdrant is a vector database [1]."
    extension = (completion.model_extra or {})["ragline"]
    (citation,) = extension["citations"]
    assert citation["marker"] == 1 and citation["chunk_id"] == extension["sources"][0]["chunk_id"]
    assert "Qdrant is a vector database" in extension["sources"][0]["text"]
    assert raw.headers["x-request-id"] == extension["query_id"]


def test_models_are_listed_per_key(site: Site) -> None:
    everything = {m.id for m in site.client().models.list()}
    assert {"ragline/auto", "openai:gpt-4o-mini", "openai:gpt-4o", "ragline/rag/default",
            "ragline/embed"} <= everything
    narrow = {m.id for m in site.client("narrow").models.list()}
    assert "openai:gpt-4o-mini" in narrow and "ragline/auto" not in narrow
    assert "ragline/rag/default" not in narrow  # its collection is not the key's


def test_embeddings_come_back_through_the_sdk(site: Site) -> None:
    result = site.client().embeddings.create(model="ragline/embed", input=["cats", "dogs"])
    assert [len(d.embedding) for d in result.data] == [384, 384]
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens >= 2


def test_refusals_are_openai_errors_with_the_right_status(site: Site) -> None:
    hello = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError) as missing:
        site.client(None).chat.completions.create(model="ragline/auto", messages=hello)
    with pytest.raises(openai.AuthenticationError) as revoked:
        site.client("revoked").chat.completions.create(model="ragline/auto", messages=hello)
    assert missing.value.message == revoked.value.message  # never says which
    with pytest.raises(openai.PermissionDeniedError):
        site.client("narrow").chat.completions.create(model="openai:gpt-4o", messages=hello)
    with pytest.raises(openai.PermissionDeniedError):
        site.client("narrow").chat.completions.create(model="ragline/rag/default",
                                                      messages=hello)
    with pytest.raises(openai.NotFoundError) as unknown:
        site.client().chat.completions.create(model="nope:model", messages=hello)
    assert isinstance(unknown.value.body, dict) and unknown.value.body["code"] == "ModelNotFound"
    with pytest.raises(openai.BadRequestError):
        site.client().chat.completions.create(model="ragline/auto", messages=[])
    with pytest.raises(openai.BadRequestError):
        site.client().chat.completions.create(model="ragline/auto", messages=hello, n=2)


def test_a_key_over_its_rate_is_told_when_to_retry(site: Site) -> None:
    client = site.client("narrow")
    hello = [{"role": "user", "content": "rate me"}]
    with pytest.raises(openai.RateLimitError) as limited:
        for _ in range(5):  # rpm 3
            client.chat.completions.create(model="openai:gpt-4o-mini", messages=hello)
    response = limited.value.response
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_the_anthropic_sdk_gets_messages_and_streams(site: Site) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=site.live.url, api_key=site.tokens["acme"],
                                 max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="openai:gpt-4o-mini", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": "hello from anthropic"}])
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == "You said: hello from anthropic"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 20
    assert raw.headers["x-ragline-route"] and raw.headers["x-request-id"]
    assert site.upstream.bodies[-1]["messages"][0] == {"role": "system", "content": "Be brief."}

    with client.messages.stream(model="ragline/rag/default", max_tokens=64,
                                messages=[{"role": "user", "content": "What is Qdrant?"}]
                                ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Qdrant is a vector database [1]."
    assert final.stop_reason == "end_turn"

    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=site.live.url, api_key="rl-000000000000-nope",
                            max_retries=0).messages.create(
            model="ragline/auto", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.NotFoundError) as unknown:
        client.messages.create(model="nope:model", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="ragline/auto", max_tokens=0,
                               messages=[{"role": "user", "content": "hi"}])


def test_langchain_chat_openai_talks_to_the_gateway(site: Site) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{site.live.url}/v1", api_key=site.tokens["acme"],
                      model="openai:gpt-4o-mini", max_retries=0)
    assert chat.invoke("hello from langchain").content == "You said: hello from langchain"
    streamed = "".join(str(part.content) for part in chat.stream("stream from langchain"))
    assert streamed == "You said: stream from langchain"


def test_an_upstream_failure_is_a_5xx_and_every_turn_is_in_the_metrics(site: Site) -> None:
    client = site.client("acme")
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="openai:gpt-4o-mini",
                                       messages=[{"role": "user", "content": "please fail"}])
    assert failed.value.status_code >= 500
    client.chat.completions.create(model="openai:gpt-4o-mini",
                                   messages=[{"role": "user", "content": "count me"}])
    exposition = site.live.client.get("/metrics")
    assert exposition.status_code == 200
    text = exposition.text
    assert ('ragline_http_requests_total{method="POST",route="/v1/chat/completions",'
            'status="200"}') in text
    assert 'ragline_gateway_upstream_errors_total{type="ProviderUnavailable"}' in text
    assert 'ragline_gateway_tokens_total{kind="output",model="openai:gpt-4o-mini"}' in text
    assert 'ragline_gateway_cache_total{outcome="miss"}' in text
    assert "ragline_http_request_seconds_bucket" in text
