"""What the provider SDKs raise, translated into ragline's :class:`ProviderError` tree.

The official ``openai`` and ``anthropic`` SDKs raise the same shapes, so one
translation serves both (and every OpenAI-compatible server):

* ``APIStatusError`` (an HTTP 4xx/5xx, with ``status_code``, ``body`` and the
  response headers): 401/403 become :class:`AuthenticationFailed`, 429
  :class:`RateLimited` (with the ``retry-after`` hint), a 400 about the context
  window :class:`ContextTooLong`, 5xx and Anthropic's 529 :class:`ProviderUnavailable`,
  any other 4xx a plain :class:`ProviderError`;
* an error *inside* a stream that began with 200 (OpenAI's ``{"error": ...}``
  chunk, Anthropic's ``error`` event): classified by its error type, e.g.
  ``overloaded_error`` as 529;
* ``APITimeoutError`` and transport timeouts: :class:`ProviderTimeout`;
* ``APIConnectionError`` and transport errors (a refused connection, a stream
  cut off mid-way): :class:`ProviderUnavailable`;
* a body that is not valid JSON or lacks the fields a reply needs: a
  :class:`ProviderError` saying the response was malformed.

Every error carries the provider, the model and the upstream status.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from ragline.errors import (
    AuthenticationFailed,
    ContextTooLong,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from ragline.types import ChatResponse

# HTTP status each documented error type stands for, for errors sent inside a 200 stream.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
    "api_error": 500, "server_error": 500, "overloaded_error": 529,
}
_CONTEXT_TOO_LONG = re.compile(r"prompt is too long|context length|context window", re.IGNORECASE)
_KEY_SETTING = {"openai": "OPENAI_API_KEY or generation.api_key",
                "anthropic": "ANTHROPIC_API_KEY or generation.api_key"}


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a response asked the client to wait: ``retry-after-ms``, else ``retry-after``
    (seconds or an HTTP date); None when it says nothing usable."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return None


def malformed_response(provider: str, model: str, detail: str, *, status_code: int | None = None,
                       partial: ChatResponse | None = None) -> ProviderError:
    """The error for a reply that is not what the provider's API documents."""
    return ProviderError(
        f"{provider} returned a malformed response for {model} ({detail}); check that "
        "generation.base_url points at the provider's API, or retry later",
        provider=provider, model=model, status_code=status_code, partial=partial)


def timed_out(provider: str, model: str, url: str, *,
              partial: ChatResponse | None = None) -> ProviderTimeout:
    """The error for an upstream that did not answer in time."""
    return ProviderTimeout(
        f"{provider} did not answer {model} at {url} within the time allowed; retry later, "
        "or raise generation.timeout_s (each attempt) or generation.deadline_s (the whole "
        "request)", provider=provider, model=model, partial=partial)


def connection_failed(provider: str, model: str, url: str, exc: BaseException, *,
                      partial: ChatResponse | None = None) -> ProviderUnavailable:
    """The error for a connection to the upstream that failed or broke off."""
    return ProviderUnavailable(
        f"the connection to {provider} ({model}) at {url} failed or broke off ({exc}); "
        "check generation.base_url and the network, or retry later",
        provider=provider, model=model, partial=partial)


def _error_fields(exc: Any) -> tuple[str, str, str]:
    """(type, code, message) of an SDK error, from the OpenAI or the Anthropic body shape."""
    body = exc.body
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", str(exc.message)
    return (str(error.get("type") or ""), str(error.get("code") or ""),
            str(error.get("message") or exc.message))


def _status_error(exc: Any, *, provider: str, model: str,
                  partial: ChatResponse | None) -> ProviderError:
    kind, code, message = _error_fields(exc)
    status: int | None = getattr(exc, "status_code", None)
    if status is None or status < 400:  # an error sent inside a stream that began with 200
        status = _STATUS_OF_ERROR_TYPE.get(kind, 500)
    response = getattr(exc, "response", None)
    common: dict[str, Any] = {
        "provider": provider, "model": model, "status_code": status, "partial": partial,
        "retry_after": retry_after_s(response.headers if response is not None else None)}
    said = f"{provider} answered {status} for {model}: {message}"
    if status in (401, 403):
        setting = _KEY_SETTING.get(provider, "generation.api_key")
        return AuthenticationFailed(f"{said}; check the API key ({setting})", **common)
    if status == 429:
        wait = common["retry_after"]
        when = f"after {wait:g} s" if wait is not None else "later"
        return RateLimited(f"{said}; retry {when}, send fewer requests, or raise the "
                           "account's rate limit", **common)
    if status == 400 and (code == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(message)):
        return ContextTooLong(f"{said}; shorten the prompt (lower context.max_tokens) or use a "
                              "model with a larger context window", **common)
    if status >= 500:
        return ProviderUnavailable(f"{said}; the provider failed on its side: retry later, or "
                                   "raise generation.max_retries", **common)
    return ProviderError(f"{said}; fix the request (model name, parameters) before retrying",
                         **common)


def _url_of(exc: BaseException) -> str:
    """The URL the failed request went to, as far as the error knows it."""
    try:
        request = getattr(exc, "request", None)  # httpx2 raises when the error has none
    except RuntimeError:
        request = None
    url = getattr(request, "url", None)
    return str(url) if url is not None else "(URL unknown)"


def provider_error(exc: BaseException, sdk: Any, *, provider: str, model: str,
                   partial: ChatResponse | None = None) -> ProviderError:
    """Translate ``exc`` into the matching :class:`ProviderError`, keeping ``partial``.

    ``exc`` is an ``APIError`` of ``sdk`` (the ``openai`` or ``anthropic`` module), an
    ``httpx2.TransportError`` of the transport under it, or a ``JSONDecodeError`` of a body.
    """
    import httpx2  # the transport under both SDKs; installed with them

    if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        return timed_out(provider, model, _url_of(exc), partial=partial)
    if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
        return connection_failed(provider, model, _url_of(exc), exc, partial=partial)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return malformed_response(provider, model, str(exc), partial=partial,
                                  status_code=getattr(exc, "status_code", None))
    return _status_error(exc, provider=provider, model=model, partial=partial)


@contextmanager
def translated_errors(sdk: Any, *, provider: str, model: str,
                      partial: Callable[[], ChatResponse | None] = lambda: None,
                      ) -> Iterator[None]:
    """Re-raise what ``sdk`` or its transport raises in the block as a :class:`ProviderError`.

    ``partial`` is called when an error is raised, to attach the reply produced so far.
    """
    import httpx2

    try:
        yield
    except (sdk.APIError, httpx2.TransportError, json.JSONDecodeError) as exc:
        raise provider_error(exc, sdk, provider=provider, model=model,
                             partial=partial()) from exc
