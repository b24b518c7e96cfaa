"""``ragline chat`` scripted through stdin: follow-ups answered with sources, sessions kept
and reopened, commands, and a clean error for an unknown session (the extractive answerer:
no language model to wait for)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.harness import run_ragline

EXTRACTIVE = {"RAGLINE_GENERATION__PROVIDER": "extractive", "RAGLINE_GENERATION__VERIFY": "none"}


def test_a_scripted_conversation_is_answered_saved_and_reopened(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text("# Qdrant\n\nQdrant is a vector database written in Rust."
                                    "\n\n## Licence\n\nQdrant is released under the Apache 2.0 "
                                    "licence.\n")
    run_ragline(["ingest", str(docs)], tmp_path, check=True, **EXTRACTIVE)

    first = run_ragline(["chat"], tmp_path, check=True, stdin=(
        "What is Qdrant?\nWhich licence is it under?\n/sources\n/sessions\n/quit\n"
        "never asked\n"), **EXTRACTIVE)
    session = re.search(r"^session ([0-9a-f]{32})", first.stdout, re.M)
    assert session is not None, first.stdout
    assert "Qdrant is a vector database written in Rust [1]." in first.stdout
    assert "Qdrant is released under the Apache 2.0 licence [1]." in first.stdout
    assert "[1] docs/qdrant.md § Qdrant > Licence" in first.stdout  # the follow-up's source
    assert "route: extractive | cost: $0" in first.stdout and "cache: off" in first.stdout
    assert "## Licence\n\nQdrant is released under the Apache 2.0 licence." in first.stdout
    assert f"* {session.group(1)}" in first.stdout and "4 messages  [default]  What is Qdrant?" in (
        first.stdout)
    assert "never asked" not in first.stdout  # /quit ended the chat

    again = run_ragline(["chat", "--session", session.group(1)], tmp_path, check=True,
                        stdin="/sessions\n", **EXTRACTIVE)
    assert f"session {session.group(1)} (What is Qdrant?)" in again.stdout

    pets = tmp_path / "pets"
    pets.mkdir()
    (pets / "cats.md").write_text("# Cats\n\nCats sleep for sixteen hours a day.\n")
    run_ragline(["ingest", str(pets), "--collection", "pets"], tmp_path, check=True,
                **EXTRACTIVE)
    started = run_ragline(["chat", "-c", "pets"], tmp_path, check=True,
                          stdin="How long do cats sleep?\n", **EXTRACTIVE)
    on_pets = re.search(r"^session ([0-9a-f]{32})", started.stdout, re.M)
    assert on_pets is not None, started.stdout
    reopened = run_ragline(["chat", "--session", on_pets.group(1)], tmp_path, check=True,
                           stdin="And how long do they sleep?\n", **EXTRACTIVE)
    assert "sixteen hours" in reopened.stdout  # the session asks its own collection

    unknown = run_ragline(["chat", "--session", "0" * 32], tmp_path, stdin="", **EXTRACTIVE)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "0" * 32 in unknown.stderr
