"""``ragline keys``: a token is printed once, listed keys never show a secret or a hash,
revoked keys are listed with --all, and mistakes are one clear error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ragline.server.keys import KeyStore
from tests.e2e.harness import run_ragline

pytestmark = pytest.mark.e2e


def test_create_list_and_revoke_a_key(tmp_path: Path) -> None:
    created = run_ragline(["keys", "create", "--tenant", "acme", "--name", "ci",
                           "--model", "openai:gpt-4o-mini", "--model", "ragline/rag/*",
                           "--collection", "docs", "--rpm", "60", "--tpm", "100000", "--json"],
                          tmp_path, check=True)
    key = json.loads(created.stdout)
    token = key.pop("token")
    secret = token.split("-", 2)[2]
    assert token == f"rl-{key['id']}-{secret}"
    assert (key["name"], key["tenant"], key["models"], key["collections"], key["rpm"],
            key["tpm"], key["revoked_at"]) == ("ci", "acme", ["openai:gpt-4o-mini",
                                                               "ragline/rag/*"], ["docs"],
                                                 60, 100_000, None)
    with KeyStore(f"sqlite:///{tmp_path / 'home' / 'keys.sqlite'}") as store:
        assert store.authenticate(token).id == key["id"]

    listed = run_ragline(["keys", "list", "--json"], tmp_path, check=True)
    assert json.loads(listed.stdout) == [key]
    table = run_ragline(["keys", "list"], tmp_path, check=True, columns=200)
    hashed = hashlib.sha256(secret.encode()).hexdigest()
    for shown in (listed, table):
        assert secret not in shown.stdout + shown.stderr
        assert hashed not in shown.stdout + shown.stderr
    assert key["id"] in table.stdout and "ragline/rag/*" in table.stdout

    revoked = run_ragline(["keys", "revoke", key["id"]], tmp_path, check=True)
    assert f"revoked API key {key['id']}" in revoked.stdout
    assert json.loads(run_ragline(["keys", "list", "--json"], tmp_path, check=True).stdout) == []
    every = json.loads(run_ragline(["keys", "list", "--all", "--json"], tmp_path,
                                   check=True).stdout)
    assert [k["id"] for k in every] == [key["id"]] and every[0]["revoked_at"] is not None
    narrow = run_ragline(["keys", "list", "--all"], tmp_path, check=True, columns=60)
    assert key["id"] in narrow.stdout and "revoked: 20" in narrow.stdout


def test_create_prints_the_token_once_with_a_warning(tmp_path: Path) -> None:
    created = run_ragline(["keys", "create", "--tenant", "acme"], tmp_path, check=True)
    lines = created.stdout.splitlines()
    tokens = [line for line in lines if line.startswith("rl-")]
    assert len(tokens) == 1
    assert "Store it now: it cannot be shown again" in created.stdout
    listed = run_ragline(["keys", "list"], tmp_path, check=True, columns=200)
    assert tokens[0].split("-", 2)[2] not in listed.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["keys", "revoke", "0123456789ab"], "no API key '0123456789ab'"),
    (["keys", "create", "--tenant", " "], "an API key's tenant must be non-empty"),
    (["keys", "create", "--tenant", "acme", "--rpm", "0"], "an API key's rpm must be"),
])
def test_mistakes_are_one_error_without_a_traceback(tmp_path: Path, args: list[str],
                                                    message: str) -> None:
    done = run_ragline(args, tmp_path, columns=200)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and message in done.stderr
