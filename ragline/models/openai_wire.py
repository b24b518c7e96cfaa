"""Chat Completions over plain HTTP: the ``openai`` provider's async call without the SDK's
typed request and response objects.

The official SDK spends about a millisecond of CPU on each call building its typed request
and parsing the reply into models, and its transport (``httpx2``) as much again; behind the
gateway, with an upstream that answers quickly, that was the largest share of what the
gateway added to a request. An :class:`OpenAIWire` sends the same JSON body over kept-alive
connections of its own (:mod:`ragline.models.http_pool`) and reads the reply as a plain
dict. It sends the headers the API needs (the bearer key, ``OpenAI-Organization`` and
``OpenAI-Project`` from the variables the SDK reads) and turns every failure into the
:class:`~ragline.errors.ProviderError` the SDK's would have become
(:mod:`ragline.models.provider_errors`): a status error is built as the SDK's own
``APIStatusError`` and translated by the same function.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from ragline.models.http_pool import HttpPool, MalformedReply
from ragline.models.provider_errors import (
    connection_failed,
    malformed_response,
    provider_error,
    timed_out,
)
from ragline.types import ChatResponse, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""Where the ``openai`` provider sends requests when no ``base_url`` is configured."""

def openai_usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> Usage:
    """ragline's disjoint counts from OpenAI's: ``prompt_tokens`` include the cached ones."""
    return Usage(input_tokens=prompt_tokens - cached_tokens, output_tokens=completion_tokens,
                 cache_read_tokens=cached_tokens)


def _usage_of(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details")
    cached = (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return openai_usage(int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0), int(cached))


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy",
                   "all_proxy")
"""Set, any of them sends the wire through ``httpx2`` (which honours them) instead of the pool."""


class OpenAIWire:
    """Posts Chat Completions requests to ``base_url`` for ``provider`` (``openai`` or
    ``openai_compatible``) and returns each reply as a :class:`ChatResponse`.

    The requests go over an :class:`~ragline.models.http_pool.HttpPool`, or over an
    ``httpx2.AsyncClient`` when a proxy variable is set or ``http_client`` is given (tests
    pass one over an ``httpx2.MockTransport``). One instance serves any number of
    concurrent calls on one event loop.
    """

    def __init__(self, *, provider: str, api_key: str, base_url: str | None = None,
                 http_client: Any = None) -> None:
        import openai

        self.provider = provider
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.url = self.base_url + "/chat/completions"
        # identity: the pool reads bodies as they come and decompresses nothing
        headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json",
                   "accept": "application/json", "accept-encoding": "identity"}
        for header, variable in (("openai-organization", "OPENAI_ORG_ID"),
                                 ("openai-project", "OPENAI_PROJECT_ID")):
            if value := os.environ.get(variable):
                headers[header] = value
        self._headers = headers
        self._sdk = openai
        self._client = http_client
        self._pool = None
        if http_client is None and not any(os.environ.get(v) for v in PROXY_VARIABLES):
            self._pool = HttpPool(self.base_url)

    async def complete(self, params: dict[str, Any], *, model: str, timeout_s: float,
                       estimate: Callable[[str], Usage]) -> ChatResponse:
        """The reply to the JSON body ``params`` (a non-streamed request for ``model``),
        waiting at most ``timeout_s``; ``estimate(text)`` gives the usage when the server
        reports none. Raises a :class:`~ragline.errors.ProviderError` subclass."""
        started = time.perf_counter()
        body = json.dumps(params, ensure_ascii=False).encode()
        status, headers, content = await self._post(body, model, timeout_s)
        try:
            data = json.loads(content) if content else None
        except ValueError:
            data = None
        if status >= 400:
            raise self._status_error(status, headers, content, data, model)
        return self._reply(data, model, started, estimate)

    async def _post(self, body: bytes, model: str, timeout_s: float
                    ) -> tuple[int, Mapping[str, str], bytes]:
        if self._pool is None:
            return await self._post_httpx(body, model, timeout_s)
        try:
            reply = await self._pool.post("/chat/completions", body, self._headers,
                                          timeout_s=timeout_s)
        except TimeoutError as exc:
            raise timed_out(self.provider, model, self.url) from exc
        except OSError as exc:
            raise connection_failed(self.provider, model, self.url, exc) from exc
        except MalformedReply as exc:
            raise malformed_response(self.provider, model, str(exc)) from exc
        return reply.status, reply.headers, reply.body

    async def _post_httpx(self, body: bytes, model: str, timeout_s: float
                          ) -> tuple[int, Mapping[str, str], bytes]:
        import httpx2

        if self._client is None:
            self._client = httpx2.AsyncClient()
        try:
            response = await self._client.post(self.url, content=body, headers=self._headers,
                                               timeout=timeout_s)
        except httpx2.TransportError as exc:
            raise provider_error(exc, self._sdk, provider=self.provider, model=model) from exc
        return response.status_code, response.headers, response.content

    def _status_error(self, status: int, headers: Mapping[str, str], content: bytes,
                      data: Any, model: str) -> Exception:
        """What the SDK would have raised for this status, translated."""
        import httpx2

        response = httpx2.Response(status, headers=dict(headers), content=content,
                                   request=httpx2.Request("POST", self.url))
        shown = data if data is not None else content.decode("utf-8", "replace")
        error = self._sdk.APIStatusError(f"Error code: {status} - {shown}",
                                         response=response, body=data)
        return provider_error(error, self._sdk, provider=self.provider, model=model)

    def _reply(self, data: Any, model: str, started: float,
               estimate: Callable[[str], Usage]) -> ChatResponse:
        choices = data.get("choices") if isinstance(data, dict) else None
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        if not isinstance(data, dict) or not choices or not isinstance(message, dict):
            raise malformed_response(self.provider, model, "no choices in the completion")
        text = message.get("content") or ""
        usage = _usage_of(data.get("usage")) or estimate(text)
        return ChatResponse(text=text, model=data.get("model") or model, usage=usage,
                            cost=None, latency_ms=(time.perf_counter() - started) * 1000,
                            finish_reason=choices[0].get("finish_reason") or "stop",
                            provider_raw=data)
