"""Chat sessions: a conversation over a :class:`~ragline.app.pipeline.RAGPipeline`.

:class:`ChatSession` keeps the conversation: every message, a window of the last
``window`` messages, and a running summary of the messages that left the window.
Each turn (:meth:`ChatSession.ask`):

1. condenses the follow-up into a standalone question for retrieval with
   :func:`~ragline.app.query.condense_question`, from the summary and the window (no
   model call on the first turn: the question is used as it is);
2. answers the standalone question with ``pipeline.answer(..., session=id, tenant=...)``;
3. records the user's message and the answer's text, folds the messages that left the
   window into the summary (one model call), and saves the session to its store.

The condensing and summarising model is the pipeline's ``model`` (its whole stack:
budgets, breakers and fallbacks apply, ledger rows are stage ``generate`` with route
reason ``chat: condense`` / ``chat: summarise``) unless another is given, which is
metered as stage ``condense`` / ``summarise``. When that model is the extractive one
(no LLM), or a call fails, a cheap rule stands in: the follow-up is prefixed with the
previous user question, and the summary lists the earlier questions. Every model call
runs in a :func:`~ragline.cost.metered.query_scope` of its own query id with the
session's tenant and id, so the ledger files it under the session.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ragline.app.chat_store import SessionRecord, SessionStore, now, title_of
from ragline.app.pipeline import RAGPipeline
from ragline.app.query import condense_question, transcript
from ragline.app.streaming import AnswerStream
from ragline.cost.metered import QueryScope, new_query_id, query_scope, route_reason
from ragline.errors import InvalidInput, ProviderError
from ragline.models.chat import ChatModel
from ragline.models.retry import request_deadline
from ragline.protocols import Filters
from ragline.types import Answer, ChatRequest, Message, SearchMode

log = logging.getLogger("ragline")

DEFAULT_WINDOW = 6
"""Messages kept verbatim for condensing (three question/answer turns)."""

SUMMARY_CHARS = 2000
"""The rule-based summary (no LLM) keeps at most this many trailing characters."""

SUMMARY_LABEL = "Summary of the earlier conversation:"

SUMMARISE_PROMPT = (
    "You keep a running summary of a conversation between a user and an assistant that "
    "answers from documents. Given the summary so far and the turns that follow it, write "
    "the updated summary: keep every fact, name, number and topic the user asked about or "
    "was told, drop greetings and repetition. Write plain sentences, at most 120 words. "
    "Reply with the summary only."
)


def _uses_llm(model: ChatModel) -> bool:
    """Whether ``model`` generates text; the extractive provider only quotes passages."""
    return model.provider != "extractive"


class ChatSession:
    """One conversation over ``pipeline``; see the module docstring.

    ``window`` is how many of the latest messages are sent verbatim to the condenser
    (at least 2); older ones live on in the summary. ``model`` condenses and
    summarises (default: the pipeline's model). With a ``store`` every turn is saved
    there. A session serialises its turns: ask from one thread at a time or accept
    that turns queue. Use :meth:`open` to start or restore a saved session.
    """

    def __init__(self, pipeline: RAGPipeline, *, session_id: str | None = None,
                 tenant: str | None = None, store: SessionStore | None = None,
                 model: ChatModel | None = None, window: int = DEFAULT_WINDOW) -> None:
        if window < 2:
            raise InvalidInput(f"window must be at least 2 messages, but got {window}")
        self.pipeline = pipeline
        self.store = store
        self.window = window
        self._lock = threading.Lock()
        self._condenser = self._metered(model, "condense")
        self._summariser = self._metered(model, "summarise")
        created = now()
        self._record = SessionRecord(
            id=session_id or uuid.uuid4().hex, tenant=tenant or pipeline.settings.cost.tenant,
            title="", created_at=created, updated_at=created, collection=pipeline.index.name)

    def _metered(self, model: ChatModel | None, stage: str) -> ChatModel:
        """The pipeline's model as it is (already metered), or ``model`` metered as ``stage``."""
        if model is None or model is self.pipeline.model:
            return self.pipeline.model
        return self.pipeline.meter.chat(model, stage=stage)

    @classmethod
    def open(cls, pipeline: RAGPipeline, store: SessionStore, session_id: str | None = None,
             tenant: str | None = None, *, model: ChatModel | None = None,
             window: int = DEFAULT_WINDOW) -> ChatSession:
        """A new session saved in ``store`` (id: a fresh uuid4 hex), or, given
        ``session_id``, the saved one restored with its messages and summary.

        ``tenant`` defaults to the config's ``cost.tenant``; a saved session of another
        tenant, or an unknown id, raises :class:`~ragline.errors.SessionNotFound`.
        """
        if session_id is None:
            return cls(pipeline, tenant=tenant, store=store, model=model, window=window)
        record = store.load(session_id, tenant=tenant or pipeline.settings.cost.tenant)
        return cls.resume(pipeline, store, record, model=model, window=window)

    @classmethod
    def resume(cls, pipeline: RAGPipeline, store: SessionStore, record: SessionRecord, *,
               model: ChatModel | None = None, window: int = DEFAULT_WINDOW) -> ChatSession:
        """The session ``record`` (as ``store`` loaded it) restored with its messages and
        summary; it asks its recorded collection's ``pipeline`` and saves to ``store``."""
        session = cls(pipeline, session_id=record.id, tenant=record.tenant, store=store,
                      model=model, window=window)
        session._record = replace(record, collection=record.collection or pipeline.index.name)
        return session

    @property
    def id(self) -> str:
        """The session id, as recorded in the ledger's ``session`` column."""
        return self._record.id

    @property
    def tenant(self) -> str:
        """The tenant every call of the session is made for."""
        return self._record.tenant

    @property
    def title(self) -> str:
        """The first question, truncated; empty before the first turn."""
        return self._record.title

    @property
    def collection(self) -> str:
        """The collection the session asks (recorded with it when it is saved)."""
        return self._record.collection

    @property
    def summary(self) -> str:
        """The running summary of the messages that left the window ('' until some have)."""
        return self._record.summary

    @property
    def messages(self) -> tuple[Message, ...]:
        """Every message of the conversation, oldest first."""
        return self._record.messages

    @property
    def history(self) -> tuple[Message, ...]:
        """What the condenser sees: the summary (as a first message) and the window."""
        window = self._record.messages[-self.window:]
        if not self._record.summary:
            return window
        return (Message("assistant", f"{SUMMARY_LABEL} {self._record.summary}"), *window)

    def ask(self, message: str, *, k: int | None = None, mode: SearchMode | None = None,
            filters: Filters | None = None, api_key: str | None = None) -> Answer:
        """Answer ``message`` in the context of the conversation and record the turn.

        The answer is the pipeline's, for the standalone question (retrieval and the
        answering prompt see that question). Raises
        :class:`~ragline.errors.InvalidInput` for an empty or overlong message, and
        whatever :meth:`RAGPipeline.answer` raises (then nothing is recorded).
        """
        text = self.pipeline.checked(message, what="message")
        with self._lock:
            standalone = self.condense(text, api_key=api_key)
            answer = self.pipeline.answer(standalone, k=k, mode=mode, filters=filters,
                                          tenant=self.tenant, session=self.id,
                                          api_key=api_key)
            self._remember(text, answer, api_key)
        return answer

    def stream(self, message: str, *, k: int | None = None, mode: SearchMode | None = None,
               filters: Filters | None = None, api_key: str | None = None) -> AnswerStream:
        """:meth:`ask`, streamed: the answer's text deltas, then the final :class:`Answer`
        as the stream's ``answer`` (see :meth:`RAGPipeline.stream`).

        The turn is recorded when the stream completes; a stream closed early records
        nothing. The session is held by the stream until it ends or is closed.
        """
        text = self.pipeline.checked(message, what="message")
        return AnswerStream(self._streamed(text, k=k, mode=mode, filters=filters,
                                           api_key=api_key))

    def _streamed(self, text: str, *, k: int | None, mode: SearchMode | None,
                  filters: Filters | None, api_key: str | None) -> Iterator[str | Answer]:
        with self._lock:
            standalone = self.condense(text, api_key=api_key)
            inner = self.pipeline.stream(standalone, k=k, mode=mode, filters=filters,
                                         tenant=self.tenant, session=self.id, api_key=api_key)
            yield from inner
            assert inner.answer is not None  # set when the stream is exhausted
            self._remember(text, inner.answer, api_key)
        yield inner.answer  # after the lock is released: the next turn may start

    def _remember(self, text: str, answer: Answer, api_key: str | None) -> None:
        """Record the turn, fold what left the window into the summary, and save."""
        record = self._record
        self._record = replace(
            record, title=record.title or title_of(text), updated_at=now(),
            messages=(*record.messages, Message("user", text),
                      Message("assistant", answer.text)))
        self._fold(api_key)
        if self.store is not None:
            self.store.save(self._record)

    def _scope(self, api_key: str | None) -> QueryScope:
        return QueryScope(new_query_id(), self.tenant, self.id, api_key)

    def condense(self, message: str, *, api_key: str | None = None) -> str:
        """The standalone question for ``message``: as it is with no history, else
        rewritten from the summary and the window (one model call, or the cheap rule
        when the model is extractive or the call fails)."""
        history = self.history
        if not history:
            return message
        if _uses_llm(self._condenser):
            try:
                with (query_scope(self._scope(api_key)), route_reason("chat: condense"),
                      request_deadline(self.pipeline.settings.generation.deadline_s)):
                    return condense_question(self._condenser, history, message,
                                             max_turns=len(history))
            except (ProviderError, InvalidInput) as exc:
                log.warning("condensing the follow-up failed (%s); prefixing the previous "
                            "question instead", exc)
        return self._prefixed(message)

    def _prefixed(self, message: str) -> str:
        """The cheap condenser: the previous user question, then ``message`` (just
        ``message`` when that would pass ``generation.max_question_chars``)."""
        previous = next((m.content for m in reversed(self._record.messages)
                         if m.role == "user"), "")
        joined = f"{previous} {message}".strip()
        limit = self.pipeline.settings.generation.max_question_chars
        return joined if len(joined) <= limit else message

    def _fold(self, api_key: str | None) -> None:
        """Fold the messages that left the window into the summary."""
        record = self._record
        end = len(record.messages) - self.window
        if end <= record.summarised:
            return
        leaving = record.messages[record.summarised:end]
        summary = self.summarise(record.summary, leaving, api_key=api_key)
        self._record = replace(record, summary=summary, summarised=end)

    def summarise(self, summary: str, messages: Sequence[Message], *,
                  api_key: str | None = None) -> str:
        """``summary`` updated with ``messages`` (one model call); with an extractive
        model, or when the call fails, the rule: the earlier summary plus the user's
        questions among ``messages``, keeping the last :data:`SUMMARY_CHARS` characters."""
        if _uses_llm(self._summariser):
            request = ChatRequest(
                messages=(Message("system", SUMMARISE_PROMPT),
                          Message("user", f"Summary so far:\n{summary or '(none)'}\n\n"
                                          f"Turns that follow:\n{transcript(messages)}\n\n"
                                          "Updated summary:")),
                max_tokens=256, temperature=0.0)
            try:
                with (query_scope(self._scope(api_key)), route_reason("chat: summarise"),
                      request_deadline(self.pipeline.settings.generation.deadline_s)):
                    text = self._summariser.generate(request).text.strip()
                if text:
                    return text
            except (ProviderError, InvalidInput) as exc:
                log.warning("summarising the conversation failed (%s); keeping the earlier "
                            "questions instead", exc)
        asked = " ".join(m.content.strip() for m in messages if m.role == "user")
        joined = f"{summary} {asked}" if summary else f"The user asked: {asked}"
        return joined[-SUMMARY_CHARS:] if asked else summary
