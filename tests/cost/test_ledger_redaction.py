"""The ledger never stores a key: error texts and route reasons are redacted, on both backends."""

from __future__ import annotations

import httpx2 as httpx
import openai
import pytest
from sqlalchemy import select

from ragline import redact as redaction
from ragline.cost.ledger import CallRecord, Ledger, calls
from ragline.cost.metered import CostMeter
from ragline.cost.prices import PriceCatalogue
from ragline.errors import AuthenticationFailed
from ragline.models.openai_chat import OpenAIChatModel
from ragline.redact import MASK
from ragline.testing import SAMPLE_REQUEST, ScriptedServer
from tests.constants import OPENAI_KEY, PLAIN_KEY


@pytest.fixture(autouse=True)
def no_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_SECRETS", set())


def stored(ledger: Ledger) -> list[tuple[str | None, str | None]]:
    with ledger.engine.connect() as connection:
        return [(row.error, row.route_reason) for row in connection.execute(
            select(calls.c.error, calls.c.route_reason).order_by(calls.c.id))]


def test_a_key_in_an_error_or_route_reason_is_stored_masked(ledger: Ledger) -> None:
    ledger.record(CallRecord(stage="generate", provider="openai", model="gpt-4o-mini",
                             cost_usd=None, route_reason=f"tier for {OPENAI_KEY}",
                             error=f"AuthenticationFailed: Incorrect API key: {OPENAI_KEY}"))
    ledger.record_many([CallRecord(stage="judge", provider="openai", model="gpt-4o-mini",
                                   cost_usd=None, error=f"Bearer {PLAIN_KEY}")])
    ledger.record(CallRecord(stage="embed", provider="local", model="m", cost_usd=0.0))
    assert stored(ledger) == [
        ("AuthenticationFailed: Incorrect API key: sk-proj-...w9Zk", "tier for sk-proj-...w9Zk"),
        (f"Bearer {MASK}", None),
        (None, None)]


def test_an_upstream_401_echoing_the_key_is_recorded_without_it(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLAIN_KEY)  # the provider's key, from the environment

    def echo(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(401, json={"error": {
            "message": f"Incorrect API key provided: {key}. You can find your API key at "
                       "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "code": "invalid_api_key"}})

    server = ScriptedServer(echo)
    options = {"api_key": PLAIN_KEY, "base_url": "https://api.openai.test/v1", "max_retries": 0}
    model = OpenAIChatModel(
        model="gpt-4o-mini",
        client=openai.OpenAI(**options, http_client=httpx.Client(transport=server.transport)),
        async_client=openai.AsyncOpenAI(
            **options, http_client=httpx.AsyncClient(transport=server.transport)))
    with pytest.raises(AuthenticationFailed) as caught:
        CostMeter(PriceCatalogue.load(), ledger).chat(model).generate(SAMPLE_REQUEST)
    assert server.requests[0].headers["authorization"] == f"Bearer {PLAIN_KEY}"
    assert PLAIN_KEY not in str(caught.value)
    [(error, _)] = stored(ledger)
    assert error is not None and PLAIN_KEY not in error
    assert error.startswith("AuthenticationFailed: openai answered 401 for gpt-4o-mini: "
                            f"Incorrect API key provided: {MASK}.")
