"""``ragline chat``: a conversation with your documents in the terminal.

Each message is answered by a :class:`~ragline.app.chat.ChatSession` (follow-ups are
condensed with the history) and streamed as it is written; then come the numbered
sources, the route, the cost and the cache status. Sessions are saved under ``home``
(``sessions.sqlite``) and reopened with ``--session ID``. Commands: ``/sources`` (the
last answer's passages in full), ``/new``, ``/sessions``, ``/quit``. Ctrl-C stops the
answer being written, not the chat. With stdin not a terminal, each line is one message
and the output is plain text, so a conversation can be scripted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing
from typing import Annotated

import typer

from ragline.app.chat import ChatSession
from ragline.app.chat_store import SessionRecord, SessionStore, open_session_store
from ragline.app.pipeline import RAGPipeline
from ragline.cli_common import (
    ConfigOption,
    cost_line,
    err,
    out,
    settings_from,
    source_line,
    user_errors,
)
from ragline.errors import RagLineError
from ragline.types import Answer

COMMANDS = "/sources  /new  /sessions  /quit"


def _messages(interactive: bool) -> Iterator[str]:
    """The user's lines: prompted for on a terminal, else read from stdin; stops at EOF."""
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and not line:
            return
        if line.strip():
            yield line.strip()


def _show_after(answer: Answer) -> None:
    """The numbered sources, then route, cost and cache status, of ``answer``."""
    for number, item in enumerate(answer.sources, start=1):
        out.print(source_line(number, item), style="dim", highlight=False, markup=False)
    out.print(f"route: {answer.route} | {cost_line(answer.cost)} | cache: {answer.cache}",
              style="dim", highlight=False, markup=False)


def _answer(chat: ChatSession, message: str, *, interactive: bool) -> Answer | None:
    """Stream the answer to ``message`` (plain final text when not on a terminal); None
    when Ctrl-C stopped it."""
    stream = chat.stream(message)
    try:
        for delta in stream:
            if interactive:
                sys.stdout.write(delta)
                sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()
        out.print("\n(stopped)", style="yellow", highlight=False)
        return None
    answer = stream.answer
    assert answer is not None  # set when the stream is exhausted
    if interactive:
        sys.stdout.write("\n")
    else:
        out.print(answer.text, highlight=False, markup=False, soft_wrap=True)
    _show_after(answer)
    return answer


def _sessions(store: SessionStore, tenant: str, current: str) -> None:
    """The tenant's saved sessions, newest first; the current one marked."""
    for info in store.sessions(tenant):
        mark = "*" if info.id == current else " "
        out.print(f"{mark} {info.id}  {info.updated_at:%Y-%m-%d %H:%M}  {info.messages:>3} "
                  f"messages  [{info.collection or '?'}]  {info.title}", highlight=False,
                  markup=False)


def _converse(pipeline: RAGPipeline, store: SessionStore,
              session: SessionRecord | None) -> None:
    """Run the chat loop until ``/quit``, EOF or Ctrl-C at the prompt, continuing the saved
    ``session`` (None: a new one)."""
    interactive = sys.stdin.isatty()
    chat = (ChatSession.open(pipeline, store) if session is None
            else ChatSession.resume(pipeline, store, session))
    out.print(f"session {chat.id}" + (f" ({chat.title})" if chat.title else "")
              + (f"; {COMMANDS}" if interactive else ""), style="dim", highlight=False)
    last: Answer | None = None
    for message in _messages(interactive):
        if message == "/quit":
            break
        if message == "/new":
            chat = ChatSession.open(pipeline, store)
            out.print(f"session {chat.id}", style="dim", highlight=False)
        elif message == "/sessions":
            _sessions(store, chat.tenant, chat.id)
        elif message == "/sources":
            for number, item in enumerate(last.sources if last else (), start=1):
                out.print(f"{source_line(number, item)}\n{item.chunk.text}\n",
                          highlight=False, markup=False)
        else:
            try:
                last = _answer(chat, message, interactive=interactive) or last
            except RagLineError as exc:  # one bad turn does not end the chat
                err.print(f"error: {exc}", style="red", highlight=False, markup=False)


@user_errors
def chat(collection: Annotated[str | None, typer.Option(
             "--collection", "-c", help="Collection to chat with (default: config collection).")
         ] = None,
         session: Annotated[str | None, typer.Option(
             "--session", help="Reopen a saved session by id (see /sessions); it asks the "
                               "collection it was started on unless --collection says "
                               "otherwise.")] = None,
         config: ConfigOption = None) -> None:
    """Chat with your documents: follow-up questions, streamed answers, saved sessions."""
    settings = settings_from(config)
    with closing(open_session_store(settings)) as store:
        record = None if session is None else store.load(session,
                                                          tenant=settings.cost.tenant)
        if record is not None and collection is None:  # a reopened session asks its own
            collection = record.collection or None
        with RAGPipeline.from_settings(settings, collection=collection) as pipeline:
            try:
                _converse(pipeline, store, record)
            except KeyboardInterrupt:
                out.print()
