"""Chat sessions: condensing follow-ups from the history, the running summary, persistence
across a restart, isolation between sessions and tenants, and the ledger's session column."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ragline.app.chat import SUMMARISE_PROMPT, ChatSession
from ragline.app.chat_store import SQLiteSessionStore, title_of
from ragline.app.pipeline import RAGPipeline
from ragline.app.query import CONDENSE_PROMPT
from ragline.config import Settings
from ragline.cost.ledger import calls
from ragline.errors import InvalidInput, SessionNotFound
from ragline.testing import scripted_openai_model

pytestmark = pytest.mark.model  # RAGPipeline.from_settings loads the real embedder

QDRANT = "Qdrant is a vector database written in Rust and maintained by Qdrant Solutions."
LICENCE = "Qdrant is released under the Apache 2.0 licence."
CATS = "Cats sleep for most of the day, often sixteen hours."
SUMMARY = "The user asked what Qdrant is: a vector database written in Rust."


class Upstream:
    """What the scripted OpenAI upstream says: the condensed question ``condensed`` maps the
    follow-up to (else the follow-up), the summary, or an answer; every body is kept in order."""

    def __init__(self, condensed: dict[str, str] | None = None) -> None:
        self.condensed = condensed or {}
        self.model, self.seen = scripted_openai_model(self.reply)

    def reply(self, body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system == CONDENSE_PROMPT:
            follow_up = user.split("Follow-up question: ")[1].split("\n")[0]
            return f"Standalone question: {self.condensed.get(follow_up, follow_up)}"
        if system == SUMMARISE_PROMPT:
            return SUMMARY
        return "An answer [1]."

    def of(self, prompt: str) -> list[str]:
        """The user content of the requests made under the system ``prompt``, in order."""
        return [b["messages"][-1]["content"] for b in self.seen
                if b["messages"][0]["content"] == prompt]

    def answered(self) -> list[str]:
        """The user content of the answering (RAG) requests, in order."""
        return [b["messages"][-1]["content"] for b in self.seen
                if b["messages"][0]["content"] not in (CONDENSE_PROMPT, SUMMARISE_PROMPT)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "qdrant.md").write_text(f"# Qdrant\n\n{QDRANT}\n\n## Licence\n\n{LICENCE}\n")
    (folder / "cats.md").write_text(f"# Cats\n\n{CATS}\n")
    return folder


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(generation={"verify": "none", "fallback": "none"},
                         retrieval={"k": 1})


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteSessionStore]:
    with SQLiteSessionStore.under_home(settings.home) as opened:
        yield opened


def pipeline_of(settings: Settings, upstream: Upstream, corpus: Path | None) -> RAGPipeline:
    pipeline = RAGPipeline.from_settings(settings, generator=upstream.model, rerank=False)
    if corpus is not None:
        pipeline.ingest([corpus])
    return pipeline


def ledger(pipeline: RAGPipeline) -> list[dict[str, Any]]:
    with pipeline.meter.ledger.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(calls).order_by(calls.c.id))]


def test_a_follow_up_is_condensed_from_the_history_before_retrieval(
        settings: Settings, store: SQLiteSessionStore, corpus: Path) -> None:
    upstream = Upstream({"Which licence is it under?": "Which licence is Qdrant under?"})
    with pipeline_of(settings, upstream, corpus) as pipeline:
        chat = ChatSession.open(pipeline, store)
        first = chat.ask("What is Qdrant?")
        assert upstream.of(CONDENSE_PROMPT) == []  # no history: the question as it is
        answer = chat.ask("Which licence is it under?")
    (condense,) = upstream.of(CONDENSE_PROMPT)
    assert "User: What is Qdrant?" in condense and f"Assistant: {first.text}" in condense
    assert "Follow-up question: Which licence is it under?" in condense
    assert upstream.answered()[-1].endswith("Question: Which licence is Qdrant under?")
    assert answer.sources[0].chunk.text.endswith(LICENCE)  # retrieved for the standalone one
    assert [m.content for m in chat.messages] == [
        "What is Qdrant?", first.text, "Which licence is it under?", answer.text]
    assert chat.title == "What is Qdrant?"


def test_the_summary_keeps_what_left_the_window(settings: Settings, store: SQLiteSessionStore,
                                                corpus: Path) -> None:
    upstream = Upstream({"And its licence?": "What is Qdrant's licence?",
                         "Do cats sleep?": "Do cats sleep?"})
    condenser = Upstream({"And its licence?": "What is Qdrant's licence?",
                          "Do cats sleep?": "Do cats sleep?"})
    with pipeline_of(settings, upstream, corpus) as pipeline:
        chat = ChatSession.open(pipeline, store, model=condenser.model, window=2)
        chat.ask("What is Qdrant?")
        assert condenser.of(SUMMARISE_PROMPT) == [] and chat.summary == ""
        chat.ask("And its licence?")
        (summarise,) = condenser.of(SUMMARISE_PROMPT)  # turn one left the window
        assert "User: What is Qdrant?" in summarise and "Summary so far:\n(none)" in summarise
        assert chat.summary == SUMMARY
        chat.ask("Do cats sleep?")
        rows = ledger(pipeline)
    last_condense = condenser.of(CONDENSE_PROMPT)[-1]
    assert SUMMARY in last_condense  # the summary stands in for the turn that left
    assert "User: What is Qdrant?" not in last_condense
    assert "User: And its licence?" in last_condense
    assert len(condenser.of(SUMMARISE_PROMPT)) == 2
    assert all(b["messages"][0]["content"] not in (CONDENSE_PROMPT, SUMMARISE_PROMPT)
               for b in upstream.seen)  # the model given condenses and summarises
    staged = {(r["stage"], r["session"]) for r in rows if r["stage"] in ("condense", "summarise")}
    assert staged == {("condense", chat.id), ("summarise", chat.id)}


def test_a_session_survives_a_restart(settings: Settings, corpus: Path) -> None:
    upstream = Upstream({"Which licence is it under?": "Which licence is Qdrant under?"})
    with pipeline_of(settings, upstream, corpus) as pipeline, \
            SQLiteSessionStore.under_home(settings.home) as store:
        chat = ChatSession.open(pipeline, store, window=2)
        chat.ask("What is Qdrant?")
        chat.ask("Which licence is it under?")
        saved_id, saved_messages = chat.id, chat.messages
    assert (settings.home / "sessions.sqlite").exists()
    again = Upstream({"Who maintains it?": "Who maintains Qdrant?"})
    with pipeline_of(settings, again, None) as pipeline, \
            SQLiteSessionStore.under_home(settings.home) as store:
        restored = ChatSession.open(pipeline, store, session_id=saved_id, window=2)
        assert restored.messages == saved_messages and restored.summary == SUMMARY
        assert restored.title == "What is Qdrant?"
        restored.ask("Who maintains it?")
        (listed,) = store.sessions(settings.cost.tenant)
        assert (listed.id, listed.messages) == (saved_id, 6)
    (condense,) = again.of(CONDENSE_PROMPT)
    assert SUMMARY in condense and "User: Which licence is it under?" in condense


def test_sessions_never_see_each_others_history(settings: Settings, store: SQLiteSessionStore,
                                               corpus: Path) -> None:
    upstream = Upstream()
    with pipeline_of(settings, upstream, corpus) as pipeline:
        qdrant = ChatSession.open(pipeline, store, tenant="acme")
        cats = ChatSession.open(pipeline, store, tenant="acme")
        other = ChatSession.open(pipeline, store, tenant="globex")
        qdrant.ask("What is Qdrant?")
        cats.ask("How long do cats sleep?")
        other.ask("Who wrote Qdrant?")
        qdrant.ask("Tell me more.")
        cats.ask("Tell me more.")
        with pytest.raises(SessionNotFound):
            ChatSession.open(pipeline, store, session_id=qdrant.id, tenant="globex")
        listed = [s.id for s in store.sessions("acme")]
        assert [s.id for s in store.sessions("globex")] == [other.id]
    for_qdrant, for_cats = upstream.of(CONDENSE_PROMPT)
    assert "Qdrant" in for_qdrant and "cats" not in for_qdrant
    assert "cats" in for_cats and "Qdrant" not in for_cats
    assert qdrant.id != cats.id
    assert listed == [cats.id, qdrant.id]  # newest first
    assert store.load(qdrant.id).messages[0].content == "What is Qdrant?"
    assert store.load(qdrant.id).collection == qdrant.collection == pipeline.index.name
    assert store.delete(cats.id) and not store.delete(cats.id)
    with pytest.raises(SessionNotFound):
        store.load(cats.id)


def test_condense_and_answer_calls_are_in_the_ledger_under_the_session(
        settings: Settings, store: SQLiteSessionStore, corpus: Path) -> None:
    upstream = Upstream({"Which licence is it under?": "Which licence is Qdrant under?"})
    with pipeline_of(settings, upstream, corpus) as pipeline:
        chat = ChatSession.open(pipeline, store, tenant="acme")
        first = chat.ask("What is Qdrant?")
        second = chat.ask("Which licence is it under?")
        rows = ledger(pipeline)
    generated = [r for r in rows if r["stage"] == "generate"]
    assert [(r["route_reason"], r["session"], r["tenant"]) for r in generated] == [
        ("", chat.id, "acme"), ("chat: condense", chat.id, "acme"), ("", chat.id, "acme")]
    condense = generated[1]
    assert condense["query_id"] not in (first.query_id, second.query_id)
    answered = {r["query_id"] for r in rows if r["session"] == chat.id}
    assert {first.query_id, second.query_id, condense["query_id"]} == answered


def test_bad_input_and_unknown_sessions_are_typed_errors(
        settings: Settings, store: SQLiteSessionStore, corpus: Path) -> None:
    upstream = Upstream()
    with pipeline_of(settings, upstream, None) as pipeline:
        chat = ChatSession.open(pipeline, store)
        for empty in ("", "   \n"):
            with pytest.raises(InvalidInput, match="empty"):
                chat.ask(empty)
        with pytest.raises(SessionNotFound, match="no-such-session"):
            ChatSession.open(pipeline, store, session_id="no-such-session")
        with pytest.raises(InvalidInput, match="window"):
            ChatSession(pipeline, window=1)
    assert upstream.seen == [] and chat.messages == ()


def test_without_an_llm_the_follow_up_is_prefixed_with_the_last_question(
        make_settings: Callable[..., Settings], corpus: Path) -> None:
    settings = make_settings(generation={"provider": "extractive", "verify": "none",
                                         "fallback": "none"}, retrieval={"k": 1})
    with RAGPipeline.from_settings(settings, rerank=False) as pipeline:
        pipeline.ingest([corpus])
        chat = ChatSession(pipeline, window=2)
        chat.ask("What is Qdrant written in?")
        assert chat.condense("And the licence?") == "What is Qdrant written in? And the licence?"
        chat.ask("And the licence?")
        chat.ask("How long do cats sleep?")
        rows = ledger(pipeline)
    assert chat.summary == "The user asked: What is Qdrant written in? And the licence?"
    assert {r["model"] for r in rows if r["stage"] == "generate"} == {"extractive"}
    assert sum(r["stage"] == "generate" for r in rows) == 3  # the answers only


def test_titles_are_one_short_line() -> None:
    assert title_of("What  is\nQdrant?") == "What is Qdrant?"
    long = title_of("How does hybrid search fuse BM25 and dense results " * 3)
    assert len(long) <= 60 and long.endswith("\u2026")


def test_a_streamed_turn_is_condensed_and_recorded_once_complete(
        settings: Settings, store: SQLiteSessionStore, corpus: Path) -> None:
    upstream = Upstream({"Which licence is it under?": "Which licence is Qdrant under?"})
    with pipeline_of(settings, upstream, corpus) as pipeline:
        chat = ChatSession.open(pipeline, store)
        chat.ask("What is Qdrant?")
        abandoned = chat.stream("Which licence is it under?")
        next(abandoned)
        abandoned.close()
        assert len(chat.messages) == 2  # nothing recorded for the abandoned turn
        stream = chat.stream("Which licence is it under?")
        deltas = list(stream)
        chat.ask("What is Qdrant?")  # the exhausted stream (still referenced) holds nothing
        restored = ChatSession.open(pipeline, store, session_id=chat.id)
    assert "".join(deltas) == "An answer [1]." and stream.answer is not None
    assert stream.answer.sources[0].chunk.text.endswith(LICENCE)
    assert upstream.answered()[-2].endswith("Question: Which licence is Qdrant under?")
    assert [m.content for m in restored.messages][2:4] == [
        "Which licence is it under?", stream.answer.text]
