"""Retries: jittered exponential backoff, retry-after honoured, only retryable errors retried."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest

from ragline.errors import (
    AuthenticationFailed,
    ConfigError,
    ContextTooLong,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from ragline.models.chat import ChatModel
from ragline.models.retry import RetryPolicy
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    SleepRecorder,
    anthropic_chat_model,
    anthropic_message,
    json_reply,
    openai_chat_model,
    openai_completion,
    transport_error,
)
from ragline.types import ChatResponse

MakeModel = Callable[..., ChatModel]
PROVIDERS = [pytest.param(openai_chat_model, openai_completion, id="openai"),
             pytest.param(functools.partial(openai_chat_model, wire=True), openai_completion,
                          id="openai-wire"),
             pytest.param(anthropic_chat_model, anthropic_message, id="anthropic")]
SLOW_DOWN = {"error": {"type": "rate_limit_error", "message": "slow down"}}
BOOM = {"error": {"type": "api_error", "message": "boom"}}


def call(model: ChatModel, use_async: bool) -> ChatResponse:
    if use_async:
        return asyncio.run(model.agenerate(SAMPLE_REQUEST))
    return model.generate(SAMPLE_REQUEST)


# -- the policy --------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    policy = RetryPolicy(initial_wait_s=0.5, max_wait_s=8.0)
    first = [policy.wait_s(None, 1) for _ in range(300)]
    fourth = [policy.wait_s(None, 4) for _ in range(300)]
    tenth = [policy.wait_s(None, 10) for _ in range(300)]
    assert all(0 <= w <= 0.5 for w in first)
    assert all(0 <= w <= 4.0 for w in fourth) and max(fourth) > 2.0
    assert all(0 <= w <= 8.0 for w in tenth) and max(tenth) > 6.0  # capped at max_wait_s
    assert len(set(first)) > 250  # jittered, not in lock step


def test_retry_after_is_a_floor_capped_at_the_limit() -> None:
    policy = RetryPolicy(max_retry_after_s=60.0)
    hinted = RateLimited("429", provider="p", retry_after=2.0)
    assert policy.wait_s(hinted, 1) == 2.0  # the backoff of retry 1 is at most 0.5
    huge = RateLimited("429", provider="p", retry_after=3600.0)
    assert policy.wait_s(huge, 1) == 60.0
    tiny = RateLimited("429", provider="p", retry_after=0.0)
    assert 0 <= policy.wait_s(tiny, 1) <= 0.5


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_retries must be >= 0, but got -1"):
        RetryPolicy(max_retries=-1)


# -- through the providers --------------------------------------------------------------------


@pytest.mark.parametrize("make, ok", PROVIDERS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_429_with_retry_after_then_success_waits_as_asked(
        make: MakeModel, ok: Callable[..., dict[str, Any]], use_async: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    waits = SleepRecorder()
    server = ScriptedServer(json_reply(429, SLOW_DOWN, {"retry-after": "2"}),
                            json_reply(200, ok("Fine.")))
    with caplog.at_level(logging.WARNING, logger="ragline.models.retry"):
        response = call(make(server, waits.policy(max_retries=2)), use_async)
    assert response.text == "Fine."
    assert len(server.requests) == 2
    assert waits.seconds == [2.0]
    assert "retrying in 2.0 s (attempt 2 of 3)" in caplog.text


@pytest.mark.parametrize("make, ok", PROVIDERS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_429_forever_raises_rate_limited_after_the_last_retry(
        make: MakeModel, ok: Callable[..., dict[str, Any]], use_async: bool) -> None:
    waits = SleepRecorder()
    server = ScriptedServer(json_reply(429, SLOW_DOWN, {"retry-after-ms": "1500"}))
    with pytest.raises(RateLimited) as caught:
        call(make(server, waits.policy(max_retries=2)), use_async)
    assert caught.value.retry_after == 1.5
    assert caught.value.status_code == 429
    assert len(server.requests) == 3
    assert waits.seconds == [1.5, 1.5]


@pytest.mark.parametrize("make, ok", PROVIDERS)
def test_5xx_is_retried_then_raised(make: MakeModel, ok: Callable[..., dict[str, Any]]) -> None:
    waits = SleepRecorder()
    server = ScriptedServer(json_reply(500, BOOM))
    with pytest.raises(ProviderUnavailable) as caught:
        make(server, waits.policy(max_retries=3)).generate(SAMPLE_REQUEST)
    assert caught.value.status_code == 500
    assert len(server.requests) == 4
    assert len(waits.seconds) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits.seconds, [0.5, 1.0, 2.0], strict=True))


@pytest.mark.parametrize("make, ok", PROVIDERS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_failure_then_success_is_invisible(make: MakeModel, ok: Callable[..., dict[str, Any]],
                                            use_async: bool) -> None:
    server = ScriptedServer(transport_error(httpx.ConnectError), json_reply(503, BOOM),
                    json_reply(200, ok("Third time.")))
    response = call(make(server, SleepRecorder().policy(max_retries=2)), use_async)
    assert response.text == "Third time."
    assert len(server.requests) == 3


@pytest.mark.parametrize("make, ok", PROVIDERS)
def test_timeouts_are_retried_then_raised(make: MakeModel,
                                          ok: Callable[..., dict[str, Any]]) -> None:
    server = ScriptedServer(transport_error(httpx.ReadTimeout))
    with pytest.raises(ProviderTimeout):
        make(server, SleepRecorder().policy(max_retries=1)).generate(SAMPLE_REQUEST)
    assert len(server.requests) == 2


@pytest.mark.parametrize("status, body, expected", [
    (400, {"error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                     "message": "maximum context length is 128000 tokens"}}, ContextTooLong),
    (401, {"error": {"type": "authentication_error", "message": "bad key"}},
     AuthenticationFailed),
    (404, {"error": {"type": "not_found_error", "message": "no such model"}}, ProviderError),
])
@pytest.mark.parametrize("make, ok", PROVIDERS)
def test_client_errors_are_not_retried(make: MakeModel, ok: Callable[..., dict[str, Any]],
                                       status: int, body: dict[str, Any],
                                       expected: type[ProviderError]) -> None:
    waits = SleepRecorder()
    server = ScriptedServer(json_reply(status, body), json_reply(200, ok()))
    with pytest.raises(expected):
        make(server, waits.policy(max_retries=3)).generate(SAMPLE_REQUEST)
    assert len(server.requests) == 1
    assert waits.seconds == []
