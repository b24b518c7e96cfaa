"""OpenAI's ``prompt_cache_key``, and ``cache.provider_prompt`` reaching the providers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai

from ragline.config import load_settings
from ragline.cost.ledger import Ledger
from ragline.cost.metered import CostMeter
from ragline.cost.prices import PriceCatalogue
from ragline.models.anthropic_chat import AnthropicChatModel
from ragline.models.chat import create_chat_model
from ragline.models.openai_chat import OpenAIChatModel
from ragline.routing.compose import chat_stack
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    json_reply,
    openai_chat_model,
    openai_chunks,
    openai_completion,
    sse_body,
    stream_reply,
)
from ragline.types import ChatRequest, Message, Usage
from tests.constants import OPENAI_USAGE


def ask(system: str | None, question: str) -> ChatRequest:
    """A request with ``system`` (none when None) and one user ``question``."""
    head = (Message("system", system),) if system is not None else ()
    return ChatRequest(messages=(*head, Message("user", question)), max_tokens=20)


def keys(server: ScriptedServer) -> list[str | None]:
    """The ``prompt_cache_key`` of every request ``server`` received (None: not sent)."""
    return [body.get("prompt_cache_key") for body in server.bodies]


def test_the_same_system_prompt_gets_the_same_key_whatever_the_question() -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    model = openai_chat_model(server)
    model.generate(ask("Cite passages.", "What is Qdrant?"))
    model.generate(ask("Cite passages.", "Which language is Qdrant written in?"))
    model.generate(ask("Answer in French.", "What is Qdrant?"))
    model.generate(ChatRequest(messages=ask("Cite passages.", "What is Qdrant?").messages,
                               model="gpt-4o"))
    same_a, same_b, other_system, other_model = keys(server)
    assert same_a == same_b and same_a is not None
    assert same_a.startswith("ragline-") and len(same_a) == len("ragline-") + 16
    assert len({same_a, other_system, other_model}) == 3


def test_streams_send_the_key_and_cached_tokens_reach_the_usage() -> None:
    usage = {"prompt_tokens": 1300, "completion_tokens": 2, "total_tokens": 1302,
             "prompt_tokens_details": {"cached_tokens": 1280}}
    server = ScriptedServer(stream_reply(sse_body(*openai_chunks("Ru", "st.", usage=usage))))
    stream = openai_chat_model(server).stream(SAMPLE_REQUEST)
    assert "".join(stream) == "Rust."
    [body] = server.bodies
    assert body["prompt_cache_key"].startswith("ragline-")
    assert stream.response is not None
    assert stream.response.usage == Usage(input_tokens=20, output_tokens=2,
                                          cache_read_tokens=1280)


def test_no_key_without_a_system_prompt_off_or_for_compatible_servers() -> None:
    server = ScriptedServer(json_reply(200, openai_completion(usage=OPENAI_USAGE)))
    openai_chat_model(server).generate(ask(None, "What is Qdrant?"))
    openai_chat_model(server, compatible=True).generate(SAMPLE_REQUEST)
    options: dict[str, Any] = {"api_key": "sk-test", "base_url": "https://api.openai.test/v1",
                               "max_retries": 0}
    client = openai.OpenAI(**options, http_client=httpx.Client(transport=server.transport))
    OpenAIChatModel(model="gpt-4o-mini", client=client,
                    prompt_caching=False).generate(SAMPLE_REQUEST)
    assert keys(server) == [None, None, None]


def test_factory_passes_prompt_caching_through() -> None:
    for flag in (True, False):
        anthropic_model = create_chat_model("anthropic", model="claude-sonnet-4-5",
                                            api_key="k", prompt_caching=flag)
        openai_model = create_chat_model("openai", model="gpt-4o-mini", api_key="k",
                                         prompt_caching=flag)
        assert isinstance(anthropic_model, AnthropicChatModel)
        assert isinstance(openai_model, OpenAIChatModel)
        assert anthropic_model.prompt_caching is openai_model.prompt_caching is flag


def provider_of(model: Any) -> Any:
    """The provider at the bottom of a chat stack's first chain entry (under the
    abstention wrapper)."""
    while not hasattr(model, "models"):
        model = model.inner
    model = model.models[0]
    while hasattr(model, "inner"):
        model = model.inner
    return model


def test_cache_provider_prompt_setting_reaches_the_provider(tmp_path: Path) -> None:
    generation = {"provider": "anthropic", "model": "claude-sonnet-4-5", "api_key": "k"}
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        meter = CostMeter(PriceCatalogue.load(), ledger)
        for flag in (True, False):
            settings = load_settings(generation=generation, cache={"provider_prompt": flag})
            provider = provider_of(chat_stack(settings, meter).model)
            assert isinstance(provider, AnthropicChatModel)
            assert provider.prompt_caching is flag
