"""The API fuzzed from its own OpenAPI schema (schemathesis, Hypothesis underneath): for
every operation, generated requests, valid and not, never get a 5xx, and every 4xx is a
JSON error in the shape of its path (OpenAI's, Anthropic's or ragline's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.server.conftest import Live, Upstream, serving

pytestmark = pytest.mark.model  # the pipelines load the real embedder

SENT: list[str] = []
"""The operations of the requests sent, one entry per request."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serving(tmp_path_factory.mktemp("fuzz") / "home", Upstream()) as live:
        yield live


def _error_of(path: str, body: Any) -> dict[str, Any]:
    assert isinstance(body, dict), body
    error = body["error"]
    if path.startswith("/v1/messages"):
        assert body["type"] == "error"
    assert isinstance(error, dict) and error["type"] and error["message"], body
    return error


def _check(case: Any) -> None:
    SENT.append(f"{case.method} {case.path}")
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        (content_type, *_) = response.headers.get("content-type", [""])
        assert content_type.startswith("application/json"), response.text
        _error_of(case.path, response.json())


def test_no_request_gets_a_server_error(fuzzed: Live) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        fuzz = settings(max_examples=40, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))(
            given(case=operation.as_strategy())(_check))
        fuzz()
    assert "POST /v1/chat/completions" in labels and "POST /v1/messages" in labels
    assert set(SENT) == set(labels) and len(SENT) >= 3 * len(labels), Counter(SENT)
