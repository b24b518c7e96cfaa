"""Errors as JSON: every failure of the API is ``{"error": {"type": ..., "message": ...}}``.

A :class:`~ragline.errors.RagLineError` answers with its ``http_status`` (a 429 with
``retry-after``); a request the API cannot read (bad JSON, a missing or mistyped field) with
400; an unknown route with 404; a body over the size limit with 413 (:class:`BodyLimit`).
Anything else is a bug: it is logged with its traceback and answered 500 with a message
that gives nothing away. The gateway's paths answer in their SDK's shape instead
(:func:`dialect_body`): OpenAI's under ``/v1/``, Anthropic's for ``/v1/messages``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragline.errors import RagLineError
from ragline.redact import redact

log = logging.getLogger("ragline")

INTERNAL = "internal server error; the server log has the details"


class PassageNotFound(RagLineError):
    """No chunk of the collection has this id (404)."""

    http_status = 404

    def __init__(self, chunk_id: str, collection: str) -> None:
        super().__init__(f"no passage {chunk_id!r} in collection {collection!r}; use a "
                         "chunk_id from an answer's sources")
        self.chunk_id = chunk_id


class ModelNotFound(RagLineError):
    """A gateway request names a model the server does not offer (404)."""

    http_status = 404

    def __init__(self, name: str, configured: list[str]) -> None:
        offered = ", ".join(["ragline/auto", *configured, "ragline/rag/<collection>"])
        super().__init__(f"no model {name!r} here; this server offers {offered} "
                         "(GET /v1/models lists them; gateway.models adds provider:model "
                         "names)")
        self.name = name


class PermissionDenied(RagLineError):
    """The request's API key may not use that model or collection (403)."""

    http_status = 403


class PayloadTooLarge(RagLineError):
    """A request body or uploaded file is larger than the server accepts (413)."""

    http_status = 413


def error_body(exc: BaseException, path: str = "") -> dict[str, Any]:
    """The JSON error body of ``exc`` in the dialect of ``path`` (:func:`dialect_body`;
    ragline's own by default): its class name and its (redacted) message; a bug's message
    is not shown."""
    if isinstance(exc, RagLineError):
        return dialect_body(path, exc.http_status, type(exc).__name__, str(exc))
    return dialect_body(path, 500, "InternalError", INTERNAL)


_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                 403: "permission_error", 404: "not_found_error", 413: "invalid_request_error",
                 422: "invalid_request_error", 429: "rate_limit_error"}
_ANTHROPIC_TYPES = {**_OPENAI_TYPES, 413: "request_too_large", 503: "overloaded_error"}


def dialect_body(path: str, status: int, kind: str, message: str) -> dict[str, Any]:
    """The error body the caller of ``path`` parses: Anthropic's for ``/v1/messages``
    (``{"type": "error", "error": {"type", "message"}}``), OpenAI's for the other ``/v1``
    paths (``{"error": {"message", "type", "param", "code"}}``, ``code`` naming ragline's
    error), ragline's own (``{"error": {"type", "message", "status"}}``) elsewhere."""
    if path.startswith("/v1/messages"):
        return {"type": "error", "error": {
            "type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}
    if path.startswith("/v1/"):
        return {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "api_error"),
                          "param": None, "code": kind}}
    return {"error": {"type": kind, "message": message, "status": status}}


def error_response(status: int, kind: str, message: str, *, path: str = "",
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response of ``status``, in the dialect of ``path``."""
    return JSONResponse(dialect_body(path, status, kind, redact(message)), status_code=status,
                        headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    """The validation errors in one line: where, and what is wrong."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


async def _ragline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagLineError)
    if exc.http_status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    wait = getattr(exc, "retry_after_s", None)
    headers = None if wait is None else {"retry-after": str(max(1, math.ceil(wait)))}
    return error_response(exc.http_status, type(exc).__name__, str(exc),
                          path=request.url.path, headers=headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "InvalidRequest", _validation_message(exc),
                          path=request.url.path)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kinds = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
    return error_response(exc.status_code, kinds.get(exc.status_code, "HTTPError"),
                          str(exc.detail), path=request.url.path)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalError", INTERNAL, path=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with a JSON error body (see the module docstring)."""
    app.add_exception_handler(RagLineError, _ragline_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)


DRAIN_LIMIT = 64 * 1024 * 1024
"""The most of a refused body read (and dropped) before answering 413."""


async def _drain(receive: Receive) -> None:
    """Read and drop the request body, up to :data:`DRAIN_LIMIT` bytes."""
    read = 0
    while read <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive``, raising a 413 once the body read passes ``limit`` (an HTTPException:
    FastAPI passes those through when it reads a JSON body, where it turns anything else
    into a 400)."""
    read = 0

    async def capped() -> Message:
        nonlocal read
        message = await receive()
        if message["type"] == "http.request":
            read += len(message.get("body", b""))
            if read > limit:
                raise HTTPException(413, f"the request body passed {limit:,} bytes, the most "
                                         "this endpoint accepts")
        return message

    return capped


class BodyLimit:
    """ASGI middleware: a request whose ``Content-Length`` passes its path's limit is
    answered 413 (JSON) before its body is read. ``limit_of(path)`` gives the limit in bytes.

    The refused body is read and dropped first, up to :data:`DRAIN_LIMIT` bytes, so the
    client gets the answer rather than a reset connection. A body sent without
    ``Content-Length`` (chunked) is counted as the endpoint reads it: past the limit the
    read fails, answered 413 as JSON like any other error.
    """

    def __init__(self, app: ASGIApp, *, limit_of: Callable[[str], int]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an oversized request, or pass it on unchanged."""
        if scope["type"] == "http":
            length = dict(scope.get("headers") or ()).get(b"content-length")
            limit = self.limit_of(scope.get("path", ""))
            if length is not None and length.isdigit() and int(length) > limit:
                await _drain(receive)
                body = json.dumps(dialect_body(
                    scope.get("path", ""), 413, "PayloadTooLarge",
                    f"the request body is {int(length):,} bytes; this endpoint accepts at "
                    f"most {limit:,}")).encode()
                await send({"type": "http.response.start", "status": 413, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
            receive = _capped(receive, limit)
        await self.app(scope, receive, send)
