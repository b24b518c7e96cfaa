"""Redaction: keys never reach an error message, a log line or a config error."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest

from ragline import redact as redaction
from ragline.config import load_settings
from ragline.errors import AuthenticationFailed, ConfigError, ProviderError, RagLineError
from ragline.models.openai_chat import OpenAIChatModel
from ragline.redact import MASK, RedactingFilter, mask, redact, register_secret
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    SleepRecorder,
    json_reply,
    openai_completion,
)
from tests.constants import ANTHROPIC_KEY, OPENAI_KEY, PLAIN_KEY


@pytest.fixture(autouse=True)
def no_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no registered secret and none in the environment."""
    monkeypatch.setattr(redaction, "_SECRETS", set())
    for name in redaction.PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    yield


# -- redact ------------------------------------------------------------------------------------

@pytest.mark.parametrize("secret, shown", [
    (OPENAI_KEY, "sk-proj-...w9Zk"),
    (ANTHROPIC_KEY, "sk-ant-...AbCd"),
    ("sk-" + "a1B2c3D4e5" * 5, "sk-...D4e5"),
    ("hf_" + "AbCdEfGhIj" * 3 + "K1", "hf_...IjK1"),
    ("ghp_" + "aB3" * 12, "ghp_...3aB3"),
    ("AKIA" + "ABCDEFGH12345678", "AKIA...5678"),
])
def test_provider_keys_keep_their_prefix_and_last_four(secret: str, shown: str) -> None:
    text = redact(f"upstream said: Incorrect API key provided: {secret}. Check it.")
    assert text == f"upstream said: Incorrect API key provided: {shown}. Check it."
    assert mask(secret) == shown


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
     "Authorization: Bearer [redacted]"),
    ("{'authorization': 'Bearer 0a1b2c3d4e5f6a7b8c9d'}", "{'authorization': 'Bearer [redacted]'}"),
    ("headers x-api-key: 9f8e7d6c5b4a39281706", "headers x-api-key: [redacted]"),
    ("OPENAI_API_KEY=abcdef0123456789abcdef", "OPENAI_API_KEY=[redacted]"),
    ("GET https://maps.test/geo?key=k3y0123456789abcdef&q=1", "GET https://maps.test/geo?key=[redacted]&q=1"),
    ("postgresql+psycopg://bob:s3cr3t-pw@db:5432/ledger", "postgresql+psycopg://bob:[redacted]@db:5432/ledger"),
    ('{"password": "correct-horse-1234-battery"}', '{"password": "[redacted]"}'),
])
def test_labelled_tokens_bearer_tokens_and_url_passwords_are_masked(text: str,
                                                                      expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    hashlib.sha256(b"chunk").hexdigest(),  # chunk ids
    f"chunk_id={hashlib.sha256(b'c').hexdigest()} doc_id={hashlib.sha1(b'd').hexdigest()}",
    str(uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF)),
    "a task-based approach; risk-aware desk-bound sk-learn users ask-me-anything",
    "generation.api_key: required key is missing",
    "generation.max_tokens: Input should be greater than 0 (got -5)",
    "retrying in 1.5 s (attempt 2 of 3); cost $0.000123456789, 123456789012345678 tokens",
    "the bearer of bad news; a token of thanks; key: value",
    "http://127.0.0.1:8000/v1 and sqlite:////tmp/home/ledger.sqlite",
    "cost ledger postgresql+psycopg://user:***@db.example:5432/ledger: could not connect",
    "openai:gpt-4o-mini failed: AuthenticationFailed",
    "",
])
def test_ordinary_text_ids_and_numbers_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_secrets_are_masked_whatever_their_shape() -> None:
    assert redact(f"echo {PLAIN_KEY}!") == f"echo {PLAIN_KEY}!"
    register_secret(PLAIN_KEY)
    assert redact(f"echo {PLAIN_KEY}!") == f"echo {MASK}!"
    register_secret(None)
    register_secret("short")  # too short to mask safely: ignored
    assert redact("a short answer") == "a short answer"


def test_provider_key_variables_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", PLAIN_KEY)
    monkeypatch.setenv("ACME_LLM_API_KEY", "acme" + PLAIN_KEY)
    assert redact(f"{PLAIN_KEY} / acme{PLAIN_KEY}") == f"{MASK} / {MASK}"


def test_redacting_twice_changes_nothing() -> None:
    register_secret(PLAIN_KEY)
    once = redact(f"{OPENAI_KEY} {ANTHROPIC_KEY} {PLAIN_KEY} api_key={PLAIN_KEY}0a")
    assert redact(once) == once
    assert not any(key in once for key in (OPENAI_KEY, ANTHROPIC_KEY, PLAIN_KEY))


# -- errors ------------------------------------------------------------------------------------

def test_a_ragline_error_never_shows_a_key_however_it_is_printed() -> None:
    register_secret(PLAIN_KEY)
    with pytest.raises(RagLineError) as caught:
        error = AuthenticationFailed(f"openai answered 401: {OPENAI_KEY} / {PLAIN_KEY}",
                                     provider="openai", status_code=401)
        error.add_note(f"earlier in the fallback chain: {PLAIN_KEY}")
        raise error
    raised = caught.value
    assert str(raised) == f"openai answered 401: sk-proj-...w9Zk / {MASK}"
    shown = [str(raised), repr(raised), *map(str, raised.args), *raised.__notes__,
             "".join(traceback.format_exception(raised))]
    for text in shown:
        assert OPENAI_KEY not in text and PLAIN_KEY not in text


def test_a_secret_registered_after_the_error_is_masked_too() -> None:
    error = ProviderError(f"gateway said {PLAIN_KEY}", provider="openai_compatible")
    register_secret(PLAIN_KEY)
    assert str(error) == f"gateway said {MASK}"


# -- configuration -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [f"[{OPENAI_KEY}]", f"[{PLAIN_KEY}]", f"{{k: {PLAIN_KEY}}}"])
def test_a_mistyped_api_key_is_not_echoed_by_the_config_error(tmp_path: Path,
                                                              value: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"generation:\n  api_key: {value}\nindex:\n  api_key: [{PLAIN_KEY}x]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    printed = "".join(traceback.format_exception(caught.value))
    assert "generation.api_key" in printed and "index.api_key" in printed
    assert "secret values are not shown" in printed
    assert OPENAI_KEY not in printed and PLAIN_KEY not in printed


def test_other_bad_values_are_still_shown_redacted(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("retrieval:\n  k: 0\nrerank:\n  candidates: 'sqlite://u:p4ssw0rd-x@h/db'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "retrieval.k: Input should be greater than 0 (got 0)" in str(caught.value)
    assert "rerank.candidates: Input should be a valid integer, unable to parse string as an " \
           "integer (got 'sqlite://u:[redacted]@h/db')" in str(caught.value)


def test_loaded_api_keys_are_masked_from_then_on(tmp_path: Path) -> None:
    load_settings(home=str(tmp_path), generation={"api_key": PLAIN_KEY},
                  index={"api_key": PLAIN_KEY[::-1]})
    assert redact(f"{PLAIN_KEY} {PLAIN_KEY[::-1]}") == f"{MASK} {MASK}"


# -- logs --------------------------------------------------------------------------------------

def echoing_key(status: int) -> Callable[[httpx.Request], httpx.Response]:
    """A careless upstream's reply: the key the request carried, in the error message."""

    def reply(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(status, json={"error": {
            "message": f"Rate limit reached for key {key}", "type": "rate_limit_error"}})

    return reply


def keyed_openai_model(server: ScriptedServer, waits: SleepRecorder) -> OpenAIChatModel:
    """The openai provider, real SDK clients with :data:`OPENAI_KEY`, talking to ``server``."""
    options = {"api_key": OPENAI_KEY, "base_url": "https://api.openai.test/v1",
               "max_retries": 0}
    return OpenAIChatModel(
        model="gpt-4o-mini", retry=waits.policy(max_retries=1),
        client=openai.OpenAI(**options, http_client=httpx.Client(transport=server.transport)),
        async_client=openai.AsyncOpenAI(
            **options, http_client=httpx.AsyncClient(transport=server.transport)))


def test_a_retried_upstream_error_is_logged_without_the_key(
        caplog: pytest.LogCaptureFixture) -> None:
    server = ScriptedServer(echoing_key(429), json_reply(200, openai_completion()))
    with caplog.at_level(logging.WARNING):
        response = keyed_openai_model(server, SleepRecorder()).generate(SAMPLE_REQUEST)
    assert response.text and len(server.requests) == 2
    assert "Rate limit reached for key sk-proj-...w9Zk" in caplog.text
    assert OPENAI_KEY not in caplog.text


def test_every_ragline_logger_redacts_messages_and_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    register_secret(PLAIN_KEY)
    log = logging.getLogger(f"ragline.created.after.import.{uuid.uuid4().hex}")
    with caplog.at_level(logging.INFO):
        log.info("sent %s to %s", PLAIN_KEY, "the gateway")
        try:
            raise ValueError(f"upstream body: {OPENAI_KEY}")
        except ValueError:
            log.exception("call failed")
        log.info("nothing secret: %d chunks", 3)
    assert OPENAI_KEY not in caplog.text and PLAIN_KEY not in caplog.text
    assert f"sent {MASK} to the gateway" in caplog.text
    assert "ValueError: upstream body: sk-proj-...w9Zk" in caplog.text
    assert caplog.records[-1].args == (3,)  # a record without secrets is left as it was


def test_other_libraries_records_are_not_touched(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("someone.else").info("their own business: %s", OPENAI_KEY)
    assert OPENAI_KEY in caplog.text
    assert not any(isinstance(f, RedactingFilter) for f in logging.getLogger().filters)


def test_without_logging_configured_warnings_still_reach_stderr_redacted() -> None:
    code = ("import logging, ragline.redact\n"
            f"logging.getLogger('ragline.models.retry').warning('key %s', {OPENAI_KEY!r})\n"
            "logging.getLogger('ragline').info('not shown: below the last resort level')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stderr == "key sk-proj-...w9Zk\n"
