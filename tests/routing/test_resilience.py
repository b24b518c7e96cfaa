"""Fallback chains, circuit breakers and hedging over the real SDKs (httpx2 MockTransport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx2 as httpx
import pytest

from ragline.cost.metered import CostMeter, QueryScope, query_scope
from ragline.errors import CircuitOpen, ProviderError, ProviderUnavailable, RateLimited
from ragline.routing.breaker import BreakerChatModel, CircuitBreaker
from ragline.routing.fallback import FallbackChatModel
from ragline.routing.hedged import HedgedChatModel
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_chat_model,
    anthropic_events,
    anthropic_message,
    json_reply,
    openai_chat_model,
    openai_completion,
    sse_body,
    stream_reply,
    transport_error,
)
from ragline.types import ChatResponse

Rows = Callable[[], list[dict[str, object]]]
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
OK = json_reply(200, openai_completion("From the primary [1].", usage=USAGE))
DOWN = json_reply(503, {"error": {"message": "overloaded", "type": "server_error"}})
LIMITED = json_reply(429, {"error": {"message": "slow down", "type": "rate_limit"}},
                     headers={"retry-after": "1"})
TIMEOUT = transport_error(httpx.ReadTimeout)
TOO_LONG = json_reply(400, {"error": {"message": "maximum context length exceeded",
                                      "code": "context_length_exceeded"}})


def test_a_scheduled_outage_loses_no_request(meter: CostMeter, ledger_rows: Rows) -> None:
    schedule = [OK, DOWN, TIMEOUT, LIMITED, OK, TOO_LONG]
    primary_server = ScriptedServer(*schedule)
    backup_server = ScriptedServer(json_reply(200, anthropic_message("From the backup [1].")))
    chain = FallbackChatModel([meter.chat(openai_chat_model(primary_server)),
                               meter.chat(anthropic_chat_model(backup_server), stage="fallback")])
    answers = []
    for n in range(len(schedule)):
        with query_scope(QueryScope(f"q-{n}", "acme")):
            answers.append(chain.generate(SAMPLE_REQUEST))
    assert [a.text for a in answers] == [
        "From the primary [1].", "From the backup [1].", "From the backup [1].",
        "From the backup [1].", "From the primary [1].", "From the backup [1]."]
    assert answers[0].route == "openai:gpt-4o-mini"
    assert answers[1].route == ("anthropic:claude-haiku-4-5 (fallback: openai:gpt-4o-mini "
                                "failed: ProviderUnavailable)")
    assert "ProviderTimeout" in answers[2].route and "RateLimited" in answers[3].route
    assert "ContextTooLong" in answers[5].route
    assert len(primary_server.requests) == 6 and len(backup_server.requests) == 4
    # every attempt is in the ledger: the failed ones with their error, the fallbacks with why
    recorded = [(r["query_id"], r["stage"], r["model"], r["route_reason"], r["error"] is None)
                for r in ledger_rows()]
    assert recorded[:3] == [
        ("q-0", "generate", "gpt-4o-mini", "", True),
        ("q-1", "generate", "gpt-4o-mini", "", False),
        ("q-1", "fallback", "claude-haiku-4-5",
         "fallback: openai:gpt-4o-mini failed: ProviderUnavailable", True)]
    assert len(recorded) == 6 + 4


def test_when_every_model_fails_the_error_is_clear_and_keeps_the_others(
        meter: CostMeter) -> None:
    chain = FallbackChatModel([meter.chat(openai_chat_model(ScriptedServer(DOWN))),
                               meter.chat(anthropic_chat_model(ScriptedServer(json_reply(429, {
                                   "type": "error", "error": {"type": "rate_limit_error",
                                                              "message": "slow down"}}))))])
    with pytest.raises(RateLimited) as caught:
        chain.generate(SAMPLE_REQUEST)
    assert isinstance(caught.value, ProviderError)
    assert any("ProviderUnavailable" in note for note in caught.value.__notes__)


def test_context_too_long_skips_to_a_larger_window(meter: CostMeter) -> None:
    small = ScriptedServer(OK)
    large = ScriptedServer(json_reply(200, anthropic_message("Large [1].")))
    chain = FallbackChatModel(
        [openai_chat_model(ScriptedServer(TOO_LONG)), openai_chat_model(small),
         anthropic_chat_model(large)],
        context_windows=[16_000, 8_000, 200_000])
    answer = chain.generate(SAMPLE_REQUEST)
    assert answer.text == "Large [1]."
    assert small.requests == []  # a smaller window would fail the same way


def test_the_async_path_falls_back_too(meter: CostMeter) -> None:
    backup = ScriptedServer(json_reply(200, anthropic_message("Async backup [1].")))
    chain = FallbackChatModel([meter.chat(openai_chat_model(ScriptedServer(TIMEOUT))),
                               meter.chat(anthropic_chat_model(backup), stage="fallback")])
    answer = asyncio.run(chain.agenerate(SAMPLE_REQUEST))
    assert answer.text == "Async backup [1]."
    assert "ProviderTimeout" in answer.route


def test_a_stream_falls_back_when_the_primary_fails_before_its_first_text() -> None:
    backup = ScriptedServer(stream_reply(sse_body(*anthropic_events("Streamed ", "backup [1]."))))
    chain = FallbackChatModel([openai_chat_model(ScriptedServer(DOWN)),
                               anthropic_chat_model(backup)])
    stream = chain.stream(SAMPLE_REQUEST)
    assert "".join(stream) == "Streamed backup [1]."
    assert stream.response is not None
    assert stream.response.route == ("anthropic:claude-haiku-4-5 (fallback: "
                                     "openai:gpt-4o-mini failed: ProviderUnavailable)")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_failures_in_a_window_and_recovers() -> None:
    clock = Clock()
    server = ScriptedServer(DOWN, DOWN, DOWN, OK)
    breaker = CircuitBreaker("openai", failures=3, window_s=60, cooldown_s=30, clock=clock)
    model = BreakerChatModel(openai_chat_model(server), breaker)
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            model.generate(SAMPLE_REQUEST)
        clock.now += 5
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match=r"next probe in 25\.0 s") as refused:
        model.generate(SAMPLE_REQUEST)
    assert refused.value.retry_after == pytest.approx(25.0)
    assert len(server.requests) == 3  # refused without calling the provider
    clock.now += 25
    assert breaker.state == "half_open"
    assert model.generate(SAMPLE_REQUEST).text == "From the primary [1]."  # the probe succeeds
    assert breaker.state == "closed" and len(server.requests) == 4


def test_a_failed_probe_opens_the_circuit_again_and_old_failures_expire() -> None:
    clock = Clock()
    server = ScriptedServer(DOWN)
    breaker = CircuitBreaker("openai", failures=2, window_s=10, cooldown_s=30, clock=clock)
    model = BreakerChatModel(openai_chat_model(server), breaker)
    with pytest.raises(ProviderUnavailable):
        model.generate(SAMPLE_REQUEST)
    clock.now += 11  # the first failure leaves the window
    with pytest.raises(ProviderUnavailable):
        model.generate(SAMPLE_REQUEST)
    assert breaker.state == "closed"
    with pytest.raises(ProviderUnavailable):
        model.generate(SAMPLE_REQUEST)
    assert breaker.state == "open"
    clock.now += 30
    with pytest.raises(ProviderUnavailable):  # the probe fails ...
        model.generate(SAMPLE_REQUEST)
    assert breaker.state == "open"  # ... and the circuit opens for another cool-down
    with pytest.raises(CircuitOpen):
        model.generate(SAMPLE_REQUEST)


def test_a_bad_request_does_not_open_the_circuit() -> None:
    breaker = CircuitBreaker("openai", failures=1, window_s=60, cooldown_s=30)
    model = BreakerChatModel(openai_chat_model(ScriptedServer(json_reply(
        400, {"error": {"message": "bad parameter", "type": "invalid_request_error"}}))),
        breaker)
    with pytest.raises(ProviderError):
        model.generate(SAMPLE_REQUEST)
    assert breaker.state == "closed"


def test_an_open_breaker_hands_over_to_the_fallback(meter: CostMeter, ledger_rows: Rows) -> None:
    breaker = CircuitBreaker("openai", failures=1, window_s=60, cooldown_s=300)
    primary = ScriptedServer(DOWN)
    backup = ScriptedServer(json_reply(200, anthropic_message("Backup [1].")))
    chain = FallbackChatModel([BreakerChatModel(meter.chat(openai_chat_model(primary)), breaker),
                               meter.chat(anthropic_chat_model(backup), stage="fallback")])
    first, second = chain.generate(SAMPLE_REQUEST), chain.generate(SAMPLE_REQUEST)
    assert "ProviderUnavailable" in first.route and "CircuitOpen" in second.route
    assert len(primary.requests) == 1 and len(backup.requests) == 2
    # a refused call never reached the provider, so it is not a ledger row
    assert [r["stage"] for r in ledger_rows()] == ["generate", "fallback", "fallback"]


def slow(reply: object, seconds: float) -> object:
    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(seconds)
        return reply(request)  # type: ignore[operator, no-any-return]

    return answer


def test_a_hedged_request_takes_the_first_answer(meter: CostMeter) -> None:
    primary = ScriptedServer(slow(OK, 1.0))  # type: ignore[arg-type]
    backup = ScriptedServer(json_reply(200, anthropic_message("Hedge [1].")))
    hedged = HedgedChatModel(meter.chat(openai_chat_model(primary)),
                             meter.chat(anthropic_chat_model(backup), stage="fallback"),
                             after_s=0.05)
    answer = hedged.generate(SAMPLE_REQUEST)
    assert answer.text == "Hedge [1]."
    assert answer.route.startswith("anthropic:claude-haiku-4-5 (hedged: openai:gpt-4o-mini")
    fast = HedgedChatModel(openai_chat_model(ScriptedServer(OK)), anthropic_chat_model(backup),
                           after_s=5.0)
    assert isinstance(fast.generate(SAMPLE_REQUEST), ChatResponse)
    assert len(backup.requests) == 1  # an answer in time sends no hedge
