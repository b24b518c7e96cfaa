"""Fallback chains: the next model answers when one fails or its answer fails the check.

:class:`FallbackChatModel` tries its models in order. A model that raises a
:class:`~ragline.errors.ProviderError` (timeout, 429, 5xx, an open circuit
breaker...) hands the request to the next; after
:class:`~ragline.errors.ContextTooLong` only models with a larger known context
window are tried. Given an answer check (:class:`~ragline.verify.guard.AnswerCheck`)
and a RAG request (one that carries ``passages``), an answer that fails the check
hands over too, except the last model's, which stands whatever the check says.
Every step is in the response's ``route`` (``"extractive (fallback:
openai:gpt-4o-mini answer had no valid citation)"``) and, through
:func:`~ragline.cost.metered.route_reason`, in the ledger rows of the later calls.
When every model fails, the last error is raised with the earlier ones as notes.

Streams fall back on errors raised before their first text; the answer check
applies to complete answers (``generate``/``agenerate``) only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace

from ragline.cost.metered import route_reason
from ragline.errors import ContextTooLong, InvalidInput, ProviderError
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.wrapper import decided, route_of
from ragline.types import ChatRequest, ChatResponse
from ragline.verify.guard import AnswerCheck


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class FallbackChatModel:
    """The first of ``models`` whose answer stands; see the module docstring.

    ``context_windows`` gives each model's window in tokens (None: unknown, always
    eligible after a context-too-long error).
    """

    def __init__(self, models: Sequence[ChatModel], *, check: AnswerCheck | None = None,
                 context_windows: Sequence[int | None] | None = None) -> None:
        if not models:
            raise InvalidInput("a fallback chain needs at least one model")
        self.models = tuple(models)
        self.check = check
        windows = tuple(context_windows) if context_windows is not None else ()
        self.windows: tuple[int | None, ...] = windows or (None,) * len(self.models)
        if len(self.windows) != len(self.models):
            raise InvalidInput("give one context window (or None) per model of the chain")

    @property
    def name(self) -> str:
        """The first model's name: the one that answers when all goes well."""
        return self.models[0].name

    @property
    def provider(self) -> str:
        """The first model's provider."""
        return self.models[0].provider

    @property
    def model(self) -> str:
        """The first model's default model name."""
        return self.models[0].model

    def warm_up(self) -> None:
        """Load the first model now; the others load when first needed."""
        warm_up = getattr(self.models[0], "warm_up", None)
        if warm_up is not None:
            warm_up()

    def _eligible(self, index: int, too_long_at: int | None) -> bool:
        """Whether model ``index`` may take over after a context-too-long error at another."""
        if too_long_at is None:
            return True
        failed, window = self.windows[too_long_at], self.windows[index]
        return failed is None or window is None or window > failed

    def _judged(self, request: ChatRequest, response: ChatResponse,
                attempt: _Attempts) -> tuple[ChatResponse, str]:
        """``response`` with its check's verdict attached, and why it may not stand ('' if
        it may; the last model's answer always may)."""
        if self.check is None or not request.passages:
            return response, ""
        started = time.perf_counter()
        verdict = self.check(response.text, request.passages)
        attempt.timings["check"] = attempt.timings.get("check", 0.0) + _ms(started)
        if verdict.support is not None:
            response = replace(response, support=verdict.support)
        return response, "" if verdict.passed or attempt.last else verdict.reason

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The first answer that stands; raises the last error when every model fails."""
        attempts = _Attempts(self)
        for model in attempts:
            started = time.perf_counter()
            try:
                with route_reason(attempts.reason()):
                    response = model.generate(request)
            except ProviderError as exc:
                attempts.failed(model, exc)
                continue
            attempts.answered(started)
            response, failed = self._judged(request, response, attempts)
            if not failed:
                return attempts.result(response, model)
            attempts.rejected(response, model, failed)
        raise attempts.error()

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`."""
        attempts = _Attempts(self)
        for model in attempts:
            started = time.perf_counter()
            try:
                with route_reason(attempts.reason()):
                    response = await model.agenerate(request)
            except ProviderError as exc:
                attempts.failed(model, exc)
                continue
            attempts.answered(started)
            response, failed = self._judged(request, response, attempts)
            if not failed:
                return attempts.result(response, model)
            attempts.rejected(response, model, failed)
        raise attempts.error()

    def stream(self, request: ChatRequest) -> ChatStream:
        """The first model's stream that starts; a model failing before its first text
        hands over to the next."""

        def deltas() -> Iterator[Delta]:
            attempts = _Attempts(self)
            for model in attempts:
                inner = model.stream(request)
                started = False
                try:
                    with route_reason(attempts.reason()):
                        for delta in inner:
                            started = True
                            yield delta
                except ProviderError as exc:
                    if started:
                        raise
                    attempts.failed(model, exc)
                    continue
                if inner.response is not None:
                    yield attempts.result(inner.response, model)
                return
            raise attempts.error()

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            attempts = _Attempts(self)
            for model in attempts:
                inner = model.astream(request)
                started = False
                try:
                    with route_reason(attempts.reason()):
                        async for delta in inner:
                            started = True
                            yield delta
                except ProviderError as exc:
                    if started:
                        raise
                    attempts.failed(model, exc)
                    continue
                if inner.response is not None:
                    yield attempts.result(inner.response, model)
                return
            raise attempts.error()

        return AsyncChatStream(deltas())


class _Attempts:
    """One request's walk down a fallback chain: which model is next, and what happened."""

    def __init__(self, chain: FallbackChatModel) -> None:
        self.chain = chain
        self.index = -1
        self.notes: list[str] = []
        self.errors: list[ProviderError] = []
        self.timings: dict[str, float] = {}
        self.too_long_at: int | None = None

    def __iter__(self) -> Iterator[ChatModel]:
        for index, model in enumerate(self.chain.models):
            if self.chain._eligible(index, self.too_long_at):
                self.index = index
                yield model

    @property
    def last(self) -> bool:
        """Whether the current model is the chain's last."""
        return self.index == len(self.chain.models) - 1

    def reason(self) -> str:
        """The route reason of the current model's ledger rows."""
        return f"fallback: {'; '.join(self.notes)}" if self.notes else ""

    def failed(self, model: ChatModel, exc: ProviderError) -> None:
        """The current model raised ``exc``."""
        self.errors.append(exc)
        self.notes.append(f"{model.name} failed: {type(exc).__name__}")
        if isinstance(exc, ContextTooLong):
            self.too_long_at = self.index

    def answered(self, started: float) -> None:
        """The current model answered; its time is ``generate`` (first) or ``fallback``."""
        self.timings["generate" if self.index == 0 else "fallback"] = _ms(started)

    def rejected(self, response: ChatResponse, model: ChatModel, reason: str) -> None:
        """The current model's answer failed the check for ``reason``."""
        self.notes.append(f"{route_of(response, model)} answer had {reason}")

    def result(self, response: ChatResponse, model: ChatModel) -> ChatResponse:
        """The answer that stands, with the route and timings of the whole walk."""
        route = route_of(response, model)
        if self.notes:
            route = f"{route} (fallback: {'; '.join(self.notes)})"
        return decided(response, route, **self.timings)

    def error(self) -> ProviderError:
        """The last error, with the earlier ones attached as notes."""
        if not self.errors:
            raise InvalidInput("no model of the fallback chain could take the request "
                               "(after a context-too-long error, none has a larger window)")
        last = self.errors[-1]
        for earlier in self.errors[:-1]:
            last.add_note(f"earlier in the fallback chain: {type(earlier).__name__}: {earlier}")
        return last
