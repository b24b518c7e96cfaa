"""Every way a provider call can fail maps onto one ProviderError class, for both SDKs."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2 as httpx
import pytest

from ragline.errors import (
    AuthenticationFailed,
    ContextTooLong,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from ragline.models.chat import ChatModel
from ragline.models.provider_errors import retry_after_s
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_chat_model,
    json_reply,
    openai_chat_model,
    openai_completion,
    raw_reply,
    transport_error,
)

MakeModel = Callable[[ScriptedServer], ChatModel]
PROVIDERS = [pytest.param(openai_chat_model, id="openai"),
             pytest.param(functools.partial(openai_chat_model, wire=True), id="openai-wire"),
             pytest.param(anthropic_chat_model, id="anthropic")]


def openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def anthropic_error(message: str, kind: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def failure(make: MakeModel, *replies: Callable[[httpx.Request], httpx.Response],
            use_async: bool = False) -> ProviderError:
    """The error a generate call raises against ``replies`` (no retries)."""
    model = make(ScriptedServer(*replies))
    with pytest.raises(ProviderError) as caught:
        if use_async:
            asyncio.run(model.agenerate(SAMPLE_REQUEST))
        else:
            model.generate(SAMPLE_REQUEST)
    return caught.value


@pytest.mark.parametrize("status, body, expected", [
    (401, openai_error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
     AuthenticationFailed),
    (403, openai_error("Project does not have access", "invalid_request_error"),
     AuthenticationFailed),
    (429, openai_error("Rate limit reached", "requests", "rate_limit_exceeded"), RateLimited),
    (400, openai_error("This model's maximum context length is 128000 tokens. However, your "
                       "messages resulted in 130000 tokens.", "invalid_request_error",
                       "context_length_exceeded"), ContextTooLong),
    (400, openai_error("Invalid value for 'temperature'", "invalid_request_error"),
     ProviderError),
    (404, openai_error("The model `gpt-9` does not exist", "invalid_request_error",
                       "model_not_found"), ProviderError),
    (500, openai_error("The server had an error", "server_error"), ProviderUnavailable),
    (503, openai_error("The engine is currently overloaded", "server_error"),
     ProviderUnavailable),
])
@pytest.mark.parametrize("wire", [False, True], ids=["sdk", "wire"])
def test_openai_statuses(status: int, body: dict[str, Any], expected: type[ProviderError],
                         wire: bool) -> None:
    make = functools.partial(openai_chat_model, wire=wire)
    error = failure(make, json_reply(status, body), use_async=wire)
    assert type(error) is expected
    assert (error.provider, error.model, error.status_code) == ("openai", "gpt-4o-mini", status)
    assert body["error"]["message"] in str(error)
    assert error.partial is None


@pytest.mark.parametrize("status, body, expected", [
    (401, anthropic_error("invalid x-api-key", "authentication_error"), AuthenticationFailed),
    (403, anthropic_error("Your API key does not have permission", "permission_error"),
     AuthenticationFailed),
    (429, anthropic_error("Number of requests has exceeded your rate limit",
                          "rate_limit_error"), RateLimited),
    (400, anthropic_error("prompt is too long: 210000 tokens > 200000 maximum",
                          "invalid_request_error"), ContextTooLong),
    (400, anthropic_error("max_tokens: Field required", "invalid_request_error"), ProviderError),
    (404, anthropic_error("model: claude-9", "not_found_error"), ProviderError),
    (500, anthropic_error("Internal server error", "api_error"), ProviderUnavailable),
    (529, anthropic_error("Overloaded", "overloaded_error"), ProviderUnavailable),
])
def test_anthropic_statuses(status: int, body: dict[str, Any], expected: type[ProviderError],
                            ) -> None:
    error = failure(anthropic_chat_model, json_reply(status, body))
    assert type(error) is expected
    assert (error.provider, error.model, error.status_code) == (
        "anthropic", "claude-haiku-4-5", status)
    assert body["error"]["message"] in str(error)


def test_messages_say_what_to_do_next() -> None:
    auth = failure(anthropic_chat_model, json_reply(401, anthropic_error("bad key",
                                                                    "authentication_error")))
    assert "ANTHROPIC_API_KEY" in str(auth)
    context = failure(openai_chat_model, json_reply(400, openai_error(
        "too long", "invalid_request_error", "context_length_exceeded")))
    assert "context.max_tokens" in str(context)
    limited = failure(openai_chat_model, json_reply(429, openai_error("slow down", "requests"),
                                               {"retry-after": "7"}))
    assert "retry after 7 s" in str(limited)


@pytest.mark.parametrize("make", PROVIDERS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_rate_limit_carries_retry_after(make: MakeModel, use_async: bool) -> None:
    error = failure(make, json_reply(429, {"error": {"message": "slow down"}},
                                     {"retry-after-ms": "2500"}), use_async=use_async)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5
    assert error.retryable


@pytest.mark.parametrize("make", PROVIDERS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_timeouts_and_connection_errors(make: MakeModel, use_async: bool) -> None:
    timeout = failure(make, transport_error(httpx.ReadTimeout), use_async=use_async)
    assert isinstance(timeout, ProviderTimeout)
    assert "generation.timeout_s" in str(timeout)
    assert timeout.status_code is None
    refused = failure(make, transport_error(httpx.ConnectError), use_async=use_async)
    assert isinstance(refused, ProviderUnavailable)
    assert "generation.base_url" in str(refused)


@pytest.mark.parametrize("make", PROVIDERS)
def test_invalid_json_is_a_malformed_response(make: MakeModel) -> None:
    error = failure(make, raw_reply(200, b"<html>gateway</html>"))
    assert type(error) is ProviderError
    assert "malformed response" in str(error)


@pytest.mark.parametrize("wire", [False, True], ids=["sdk", "wire"])
def test_a_completion_without_choices_is_malformed(wire: bool) -> None:
    body = openai_completion()
    del body["choices"]
    error = failure(functools.partial(openai_chat_model, wire=wire), json_reply(200, body),
                    use_async=wire)
    assert type(error) is ProviderError
    assert "malformed response" in str(error) and "no choices" in str(error)


def test_a_message_without_content_is_malformed() -> None:
    error = failure(anthropic_chat_model, json_reply(200, {"id": "msg_1", "type": "message"}))
    assert "malformed response" in str(error)


def test_retry_after_header_forms() -> None:
    assert retry_after_s(httpx.Headers({"retry-after": "3"})) == 3.0
    assert retry_after_s(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_s(httpx.Headers({"retry-after": later})) or 0) <= 30
    assert retry_after_s(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_s(httpx.Headers({})) is None
