"""The OpenAI-compatible endpoints: ``POST /v1/chat/completions``, ``GET /v1/models`` and
``POST /v1/embeddings``, for the official ``openai`` SDK (and anything built on it) pointed
at ``ragline serve``.

A request is authenticated, checked against its key, rate-limited and answered by the
model its name resolves to (:class:`~ragline.server.gateway.Gateway`). A non-streamed
reply carries ``x-request-id``, ``x-ragline-route``, ``x-ragline-cost-usd`` (``unknown``
when a price is missing) and ``x-ragline-cache``. A stream's headers are sent before its
model has answered, so there the last content chunk carries the same three in its
``ragline`` object, and the headers say ``stream``. A non-streamed turn runs on the event
loop (:mod:`ragline.server.turns`); a stream runs in a pump thread
(:mod:`ragline.server.sse`) and stops when the client goes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ragline.cost.metered import query_scope
from ragline.errors import InvalidInput
from ragline.models.streaming import DeltaStream
from ragline.models.tokens import count_tokens
from ragline.server.errors import ModelNotFound, error_body
from ragline.server.gateway import Gateway
from ragline.server.openai_schema import (
    ChatCompletionIn,
    EmbeddingsIn,
    chunk_json,
    completion_json,
)
from ragline.server.sse import Pumps, pumped
from ragline.server.turns import (
    Outcome,
    Turn,
    failed_turn,
    finish_turn,
    outcome_of,
    prepare_turn,
    reply_while_connected,
    stream_headers,
    stream_of,
)
from ragline.types import Answer, ChatResponse

router = APIRouter(prefix="/v1")

EMBED_MODEL = "ragline/embed"
"""The embeddings model name (the configured embedder's own name works too)."""

AuthHeader = Annotated[str | None, Header()]


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _prepare(gateway: Gateway, body: ChatCompletionIn, authorization: str | None,
                   x_api_key: str | None) -> Turn:
    generation = gateway.settings.generation
    request = body.chat_request(default_max_tokens=generation.max_tokens,
                                default_temperature=generation.temperature)
    return await prepare_turn(gateway, body.model, request, body.question, authorization,
                              x_api_key)


def _completion(turn: Turn) -> Callable[[Outcome], dict[str, Any]]:
    return lambda outcome: completion_json(outcome.request_id, turn.name, outcome.text,
                                           outcome.reason, outcome.usage,
                                           extension=outcome.extension)


def _data(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False, default=str)}\n\n"


def _extension(outcome: Outcome) -> dict[str, Any]:
    """The ``ragline`` object of a stream's last chunk: a RAG answer's JSON, else the
    route, cost and cache the headers could not carry."""
    return outcome.extension or {"route": outcome.route, "cost_usd": outcome.cost_usd,
                                 "cache": outcome.cache}


async def _chunks(gateway: Gateway, turn: Turn, stream: DeltaStream[Any], pumps: Pumps,
                  include_usage: bool) -> AsyncIterator[str]:
    """The SSE chunks of a stream, as the ``openai`` SDK parses them, then ``[DONE]``."""
    rid, created = turn.scope.query_id, int(time.time())

    def chunk(**fields: Any) -> dict[str, Any]:
        return chunk_json(rid, turn.name, created, with_usage_field=include_usage, **fields)

    def settle(final: ChatResponse | Answer) -> None:
        finish_turn(gateway, turn, final)

    yield _data(chunk(delta={"role": "assistant", "content": ""}))
    async for kind, item in pumped(stream, pumps, on_final=settle):
        if kind == "delta":
            yield _data(chunk(delta={"content": item}))
        elif kind == "final":
            outcome = outcome_of(turn, item)
            yield _data({**chunk(delta={}, reason=outcome.reason),
                         "ragline": _extension(outcome)})
            if include_usage:
                yield _data(chunk_json(rid, turn.name, created, delta={}, usage=outcome.usage))
        else:
            failed_turn(gateway, item)
            yield _data(error_body(item, "/v1/chat/completions"))
            return
    yield "data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
async def chat_completions(request: Request, body: ChatCompletionIn,
                           authorization: AuthHeader = None,
                           x_api_key: AuthHeader = None) -> Response:
    """A chat completion from ``ragline/auto``, a configured ``provider:model`` or
    ``ragline/rag/<collection>``, streamed (SSE) when ``stream`` is true."""
    gateway = _gateway(request)
    turn = await _prepare(gateway, body, authorization, x_api_key)
    if not body.stream:
        return await reply_while_connected(gateway, turn, request, _completion(turn))
    pumps: Pumps = request.app.state.pumps
    stream = await run_in_threadpool(stream_of, gateway, turn)
    return StreamingResponse(
        _chunks(gateway, turn, stream, pumps, body.include_usage),
        media_type="text/event-stream",
        headers=stream_headers(turn))


@router.get("/models")
def list_models(request: Request, authorization: AuthHeader = None,
                x_api_key: AuthHeader = None) -> dict[str, Any]:
    """The models the caller's key may call."""
    gateway = _gateway(request)
    caller = gateway.caller(authorization, x_api_key)
    names = [*gateway.model_names(caller), EMBED_MODEL]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0,
         "owned_by": name.partition(":")[0] if ":" in name else "ragline"} for name in names]}


@router.post("/embeddings")
def embeddings(request: Request, body: EmbeddingsIn, authorization: AuthHeader = None,
               x_api_key: AuthHeader = None) -> JSONResponse:
    """Vectors of the configured embedder (model ``ragline/embed`` or its own name), as
    floats or base64 float32; the call is metered under the caller."""
    gateway = _gateway(request)
    caller = gateway.caller(authorization, x_api_key)
    gateway.check_model(caller, body.model)
    own = gateway.settings.embedder.model
    if body.model not in (EMBED_MODEL, own):
        raise ModelNotFound(body.model, [EMBED_MODEL, own])
    texts = body.texts()
    tokens = sum(count_tokens(text, own) for text in texts)
    gateway.admit(caller, tokens)
    scope = caller.scope()
    with query_scope(scope):
        vectors = gateway.state.pipelines.get(must_exist=False).index.embedder.embed_documents(
            texts)
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] != len(texts):
        raise InvalidInput("the embedder returned no vector for some input")
    data = [{"object": "embedding", "index": i,
             "embedding": (base64.b64encode(row.astype("<f4").tobytes()).decode()
                           if body.encoding_format == "base64" else row.tolist())}
            for i, row in enumerate(rows)]
    return JSONResponse({"object": "list", "data": data, "model": body.model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                        headers={"x-request-id": scope.query_id, "x-ragline-route": own,
                                 "x-ragline-cost-usd": "0.00000000", "x-ragline-cache": "off"})
