"""No API key reaches the terminal, the logs, the ledger or any file ragline writes.

``ragline ask`` runs in a subprocess against a local HTTP server that rejects every
request with 401 and, like a careless upstream, echoes the key it was sent in the
error body. The real openai and anthropic SDKs send the keys; the server records
them, so each test knows the key really travelled and came back.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import typer

from ragline import redact as redaction
from ragline.cli_common import user_errors
from ragline.errors import ProviderError
from ragline.redact import register_secret
from tests.constants import OPENAI_KEY, PLAIN_KEY, RAGLINE

pytestmark = pytest.mark.e2e

SETTINGS_KEY = PLAIN_KEY  # generation.api_key: no recognisable shape
ENV_KEY = "an" + "7d3f1b" * 6  # ANTHROPIC_API_KEY: no recognisable shape either
SHAPED_KEY = OPENAI_KEY
KEYS = (SETTINGS_KEY, ENV_KEY, SHAPED_KEY)


class EchoingUpstream(BaseHTTPRequestHandler):
    """Answers every POST with 401 and the key it was sent, in OpenAI's or Anthropic's shape."""

    keys: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        key = (self.headers.get("x-api-key")
               or self.headers.get("authorization", "").removeprefix("Bearer "))
        self.keys.append(key)
        body = ({"type": "error", "error": {"type": "authentication_error",
                                            "message": f"invalid x-api-key: {key}"}}
                if self.path.endswith("/messages") else
                {"error": {"message": f"Incorrect API key provided: {key}.",
                           "type": "invalid_request_error", "code": "invalid_api_key"}})
        data = json.dumps(body).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The echoing server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Path:
    """An ingested corpus, and one config per provider pointing at the echoing server."""
    folder = tmp_path_factory.mktemp("secrets")
    (folder / "corpus").mkdir()
    (folder / "corpus" / "guide.md").write_text(
        "# Storage\n\nragline keeps its index in a Qdrant Edge shard under .ragline.\n")
    (folder / "compatible.yaml").write_text(
        f"generation:\n  provider: openai_compatible\n  model: gpt-4o-mini\n"
        f"  base_url: {upstream}/v1\n  api_key: {SETTINGS_KEY}\n  max_retries: 0\n"
        "  fallback: extractive\n")
    (folder / "anthropic.yaml").write_text(
        f"generation:\n  provider: anthropic\n  model: claude-haiku-4-5\n"
        f"  base_url: {upstream}\n  max_retries: 0\n  fallback: none\n")
    (folder / "typo.yaml").write_text(f"generation:\n  api_key: [{SHAPED_KEY}]\n")
    run(["ingest", "corpus"], folder)
    return folder


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith(("RAGLINE_", "OPENAI_", "ANTHROPIC_"))}
    environ |= {"HF_HUB_OFFLINE": "1", "COLUMNS": "120", "RAGLINE_HOME": str(cwd / "home"),
                **env}
    return subprocess.run([*RAGLINE, *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


def assert_no_key_in(*texts: str) -> None:
    for text in texts:
        for key in KEYS:
            assert key not in text


def files_holding_a_key(folder: Path) -> list[str]:
    """Every file under ``folder`` (SQLite ledger and its WAL included) holding a key's bytes,
    except the config files the test wrote."""
    return [str(path) for path in folder.rglob("*")
            if path.is_file() and path.suffix != ".yaml"
            and any(key.encode() in path.read_bytes() for key in KEYS)]


def ledger_errors(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "home" / "ledger.sqlite") as db:
        return [row[0] for row in db.execute(
            "SELECT error FROM ragline_calls WHERE error IS NOT NULL ORDER BY id")]


def test_a_rejected_key_is_masked_in_output_logs_ledger_and_files(workdir: Path) -> None:
    seen = len(EchoingUpstream.keys)
    answered = run(["ask", "Where is the index kept?", "--json", "--config", "compatible.yaml"],
                   workdir)
    failed = run(["ask", "Where is the index kept?", "--config", "anthropic.yaml"], workdir,
                 ANTHROPIC_API_KEY=ENV_KEY)
    assert EchoingUpstream.keys[seen:] == [SETTINGS_KEY, ENV_KEY]  # sent, and echoed back

    assert answered.returncode == 0, answered.stderr
    assert "AuthenticationFailed" in json.loads(answered.stdout)["route"]  # fell back
    assert failed.returncode == 2
    message = " ".join(failed.stderr.split())
    assert "error: anthropic answered 401 for claude-haiku-4-5: invalid x-api-key: " \
           "[redacted]; check the API key" in message
    assert_no_key_in(answered.stdout, answered.stderr, failed.stdout, failed.stderr)

    errors = ledger_errors(workdir)
    assert [e.split(":")[0] for e in errors] == ["AuthenticationFailed"] * 2
    assert "Incorrect API key provided: [redacted]." in errors[0]
    assert_no_key_in(*errors)
    assert files_holding_a_key(workdir) == []


def test_a_mistyped_api_key_is_not_echoed_by_the_config_error(workdir: Path) -> None:
    done = run(["ask", "Where is the index kept?", "--config", "typo.yaml"], workdir)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "generation.api_key: Input should be a valid string (got a list; secret values " \
           "are not shown)" in message
    assert "Traceback" not in done.stderr
    assert_no_key_in(done.stdout, done.stderr)
    assert files_holding_a_key(workdir) == []


# -- how a command's errors are printed (in process) ----------------------------------------------

def test_a_user_error_is_printed_redacted_and_as_plain_text(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_SECRETS", set())
    register_secret(SETTINGS_KEY)

    @user_errors
    def command() -> None:
        raise ProviderError(f"gateway answered 401: bad key {SETTINGS_KEY} [bold]", provider="x")

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 2
    printed = " ".join(capsys.readouterr().err.split())
    assert printed == "error: gateway answered 401: bad key [redacted] [bold]"


def test_an_unexpected_error_prints_a_redacted_traceback_and_exits_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    @user_errors
    def command() -> None:
        try:
            raise ValueError(f"upstream body: Incorrect API key provided: {SHAPED_KEY}")
        except ValueError as exc:
            raise RuntimeError("a bug while reading the reply") from exc

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 1
    printed = capsys.readouterr().err
    assert printed.startswith("Traceback (most recent call last):")
    assert "ValueError: upstream body: Incorrect API key provided: sk-proj-...w9Zk" in printed
    assert "RuntimeError: a bug while reading the reply" in printed
    assert SHAPED_KEY not in printed


def test_typer_exits_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    @user_errors
    def command() -> None:
        raise typer.Exit(3)

    with pytest.raises(typer.Exit) as exited:
        command()
    assert exited.value.exit_code == 3 and capsys.readouterr().err == ""
