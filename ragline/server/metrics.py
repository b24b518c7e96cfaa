"""Prometheus metrics of one ``ragline serve`` process, served at ``GET /metrics``.

Every HTTP request is counted and timed by :class:`RequestMetrics` (an ASGI middleware),
labelled by method, route template (``/api/sessions/{session_id}``, never a raw path, so
ids do not multiply series) and status; the time is until the response starts, so a
stream counts its time to first byte. The gateway adds what its turns did
(:meth:`ServerMetrics.turn`): tokens, cost, cache outcomes and routes per model name, and
upstream errors by type. Each process has its own registry: with several workers, each
one's ``/metrics`` shows its own requests.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
"""Request latency buckets (seconds): sub-millisecond up to a slow generation."""


class ServerMetrics:
    """The counters and histograms of one server process, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("ragline_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=reg)
        self.latency = Histogram("ragline_http_request_seconds",
                                 "Seconds until the response started",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=reg)
        self.tokens = Counter("ragline_gateway_tokens", "Tokens of gateway turns",
                              ["model", "kind"], registry=reg)
        self.cost = Counter("ragline_gateway_cost_usd", "USD spent by gateway turns",
                            ["model"], registry=reg)
        self.cache = Counter("ragline_gateway_cache", "Gateway turns by cache outcome",
                             ["outcome"], registry=reg)
        self.routes = Counter("ragline_gateway_routes", "Gateway turns by model and route",
                              ["model", "route"], registry=reg)
        self.upstream_errors = Counter("ragline_gateway_upstream_errors",
                                       "Gateway turns failed by an upstream model",
                                       ["type"], registry=reg)

    def turn(self, model: str, route: str, cache: str, input_tokens: int, output_tokens: int,
             cost_usd: str) -> None:
        """Count one finished gateway turn of ``model`` (the name the client asked for)."""
        self.tokens.labels(model, "input").inc(input_tokens)
        self.tokens.labels(model, "output").inc(output_tokens)
        if cost_usd not in ("unknown", ""):
            self.cost.labels(model).inc(float(cost_usd))
        self.cache.labels(cache or "off").inc()
        self.routes.labels(model, route.split(" (")[0][:80]).inc()

    def upstream_error(self, error: BaseException) -> None:
        """Count one turn failed by its upstream, by error type."""
        self.upstream_errors.labels(type(error).__name__).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request into ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count it when its response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope.get("method", "")

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = _route_of(scope)
                self.metrics.latency.labels(method, route).observe(
                    time.perf_counter() - started)
                self.metrics.requests.labels(method, route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, timed)
