"""One gateway request from admission to its outcome, whatever API it came through.

:func:`prepare_turn` authenticates the caller, checks the model against the key, resolves
it and takes the request from the key's limits, in the order that tells a refused caller
why (401, 403, 404, 429). :func:`complete_turn` runs a turn to its end and
:func:`stream_of` streams it; either way the result is an :class:`Outcome` (text, finish
reason, usage, route, cost, cache and, for a RAG answer, the ``ragline`` extension), which
the OpenAI and Anthropic endpoints each write in their own shape.

Both are coroutines for the event loop. A chat model's non-streamed turn runs on the loop
itself, through the models' async calls (no thread hop: that is most of what a busy
gateway saves); anything that may block on I/O it cannot await (a key not remembered, a
model or pipeline built on first use, limits kept in Redis, a RAG answer) goes to a
worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ragline.app.pipeline import RAGPipeline
from ragline.cost.metered import QueryScope
from ragline.errors import InvalidInput, ProviderError
from ragline.models.chat import ChatModel
from ragline.models.streaming import DeltaStream
from ragline.offload import off_loop
from ragline.server.gateway import RAG_PREFIX, Caller, Gateway, estimated_tokens
from ragline.server.views import answer_json
from ragline.types import Answer, ChatRequest, ChatResponse, Usage

CLIENT_CLOSED = 499
"""The status recorded for a request whose client left before its answer (nginx's code);
the client never sees it."""


@dataclass(frozen=True, slots=True)
class Turn:
    """A checked, admitted request about to run: who for, which model (a chat model, or a
    RAG pipeline and its question), and what it may spend."""

    caller: Caller
    scope: QueryScope
    name: str
    request: ChatRequest
    estimate: int
    model: ChatModel | None = None
    pipeline: RAGPipeline | None = None
    question: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a turn produced, in no API's shape yet."""

    request_id: str
    text: str
    reason: str
    usage: Usage
    route: str
    cost_usd: str
    cache: str
    extension: dict[str, Any] | None = None

    def headers(self) -> dict[str, str]:
        """The response headers every gateway reply carries (ASCII only)."""
        values = {"x-request-id": self.request_id, "x-ragline-route": self.route,
                  "x-ragline-cost-usd": self.cost_usd, "x-ragline-cache": self.cache}
        return {k: v.encode("ascii", "replace").decode("ascii") for k, v in values.items()}


def stream_headers(turn: Turn) -> dict[str, str]:
    """The headers of a streamed reply: sent before the model answers, so the route, cost
    and cache say ``stream`` (the stream's last event carries them)."""
    return {"x-request-id": turn.scope.query_id, "x-ragline-route": "stream",
            "x-ragline-cost-usd": "stream", "x-ragline-cache": "stream",
            "cache-control": "no-cache", "x-accel-buffering": "no"}


def text_of(parts: Sequence[Any], what: str) -> str:
    """The text of content ``parts`` (objects with ``type`` and ``text``) joined;
    :class:`~ragline.errors.InvalidInput` for a part that is not text."""
    texts = []
    for part in parts:
        if part.type != "text" or part.text is None:
            raise InvalidInput(f"{what} of type {part.type!r} are not supported; send text")
        texts.append(part.text)
    return "".join(texts)


def usd(cost: Any) -> str:
    """A cost for a header: 8 decimals, or ``unknown`` when a price is missing."""
    return "unknown" if cost is None else f"{float(cost):.8f}"


async def prepare_turn(gateway: Gateway, name: str, request: ChatRequest,
                       question: Callable[[], str], authorization: str | None,
                       x_api_key: str | None) -> Turn:
    """Admit a request for model ``name`` (see the module docstring); ``question`` gives
    what a ``ragline/rag/...`` model answers."""
    caller = await gateway.acaller(authorization, x_api_key)
    gateway.check_model(caller, name)
    estimate = estimated_tokens(request)
    if name.startswith(RAG_PREFIX):
        pipeline = await run_in_threadpool(gateway.state.pipelines.get,
                                           name[len(RAG_PREFIX):])
        turn = Turn(caller, caller.scope(), name, request, estimate, pipeline=pipeline,
                    question=question())
    else:
        model = (gateway.built_model(name)
                 or await run_in_threadpool(gateway.chat_model, name))
        turn = Turn(caller, caller.scope(), name, request, estimate, model=model)
    await gateway.aadmit(caller, estimate)
    return turn


def outcome_of(turn: Turn, final: ChatResponse | Answer) -> Outcome:
    """The outcome of a turn whose model returned ``final``."""
    if isinstance(final, Answer):
        usage = Usage(input_tokens=final.cost.input_tokens,
                      output_tokens=final.cost.output_tokens)
        return Outcome(final.query_id, final.text, "stop", usage, final.route,
                       usd(final.cost.total_usd), final.cache, answer_json(final))
    assert turn.model is not None
    return Outcome(turn.scope.query_id, final.text, final.finish_reason, final.usage,
                   final.route or turn.model.name, usd(final.cost), final.cache or "off")


def finish_turn(gateway: Gateway, turn: Turn, final: ChatResponse | Answer) -> Outcome:
    """The outcome of ``final``, with the key's tokens settled and the turn counted in the
    metrics."""
    outcome = outcome_of(turn, final)
    gateway.settle(turn.caller, turn.estimate, outcome.usage)
    gateway.metrics.turn(turn.name, outcome.route, outcome.cache, outcome.usage.prompt_tokens,
                         outcome.usage.output_tokens, outcome.cost_usd)
    return outcome


def failed_turn(gateway: Gateway, error: BaseException) -> None:
    """Count a turn its upstream model failed (any other error is not the upstream's)."""
    if isinstance(error, ProviderError):
        gateway.metrics.upstream_error(error)


def _answered(gateway: Gateway, pipeline: RAGPipeline, turn: Turn) -> Outcome:
    """A RAG turn run to its end (blocking)."""
    final = pipeline.answer(turn.question, tenant=turn.caller.tenant,
                            api_key=turn.caller.key_id)
    return finish_turn(gateway, turn, final)


async def complete_turn(gateway: Gateway, turn: Turn) -> Outcome:
    """Run ``turn`` to its end; see :func:`finish_turn` and the module docstring."""
    try:
        if turn.pipeline is not None:
            return await run_in_threadpool(_answered, gateway, turn.pipeline, turn)
        assert turn.model is not None
        final = await gateway.agenerate(turn.model, turn.request, turn.scope)
    except ProviderError as error:
        failed_turn(gateway, error)
        raise
    return await off_loop(gateway.limiter.in_process, finish_turn, gateway, turn, final)


async def _disconnected(request: Request) -> None:
    """Return when the client of ``request`` (its body already read) disconnects."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def reply_while_connected(gateway: Gateway, turn: Turn, request: Request,
                                shape: Callable[[Outcome], dict[str, Any]]) -> Response:
    """The JSON reply (``shape`` of the outcome, with the gateway headers) of a turn run by
    :func:`complete_while_connected`; :data:`CLIENT_CLOSED` when its client left."""
    outcome = await complete_while_connected(gateway, turn, request)
    if outcome is None:
        return Response(status_code=CLIENT_CLOSED)
    return JSONResponse(shape(outcome), headers=outcome.headers())


async def complete_while_connected(gateway: Gateway, turn: Turn, request: Request
                                   ) -> Outcome | None:
    """:func:`complete_turn`, cancelled when the client disconnects first (None then): the
    upstream request is abandoned and its connection closed, so the upstream stops.

    The turn runs in the request's own task (a task of its own would add a trip through
    the event loop to every request); a watcher task cancels it when the client goes."""
    task = asyncio.current_task()
    assert task is not None
    gone = asyncio.ensure_future(_disconnected(request))
    gone.add_done_callback(lambda watcher: None if watcher.cancelled() else task.cancel())
    try:
        return await complete_turn(gateway, turn)
    except asyncio.CancelledError:
        if not gone.done() or gone.cancelled():
            raise  # cancelled for another reason (the server is stopping)
        task.uncancel()
        return None
    finally:
        gone.cancel()


def stream_of(gateway: Gateway, turn: Turn) -> DeltaStream[Any]:
    """``turn`` as a stream of text deltas whose ``final`` is a ChatResponse or Answer."""
    if turn.pipeline is not None:
        return turn.pipeline.stream(turn.question, tenant=turn.caller.tenant,
                                    api_key=turn.caller.key_id)
    assert turn.model is not None
    return gateway.stream(turn.model, turn.request, turn.scope)
