"""``create_app``: the FastAPI application of ``ragline serve``.

One :class:`~ragline.server.state.ServerState` per application: pipelines are opened
lazily, one per collection, shared by every request, and closed when the application
shuts down (its lifespan), after the answer streams still running are stopped. The chat
API and page (:mod:`~ragline.server.routes`, :mod:`~ragline.server.ui`) and the
OpenAI- and Anthropic-compatible gateway (:mod:`~ragline.server.openai_api`,
:mod:`~ragline.server.anthropic_api`, over one
:class:`~ragline.server.gateway.Gateway`) share it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.concurrency import run_in_threadpool

from ragline.cache.answers import exact_store
from ragline.config import Settings, load_settings
from ragline.models.chat import ChatModel
from ragline.server.anthropic_api import router as anthropic_router
from ragline.server.errors import BodyLimit, install_error_handlers
from ragline.server.gateway import Gateway
from ragline.server.metrics import RequestMetrics, ServerMetrics
from ragline.server.openai_api import router as openai_router
from ragline.server.routes import router
from ragline.server.sse import Pumps
from ragline.server.state import ServerState
from ragline.server.ui import install_ui

JSON_LIMIT = 1024 * 1024
"""The largest JSON request body accepted (bytes)."""

UPLOAD_SLACK = 64 * 1024
"""Room for the multipart framing around an upload of the largest file accepted."""

CONFIG_ENV = "_RAGLINE_SERVE_CONFIG"
"""The config file :func:`app_from_environment` reads (set by ``ragline serve --workers N``;
the default collection travels as ``RAGLINE_COLLECTION``)."""


def create_app(settings: Settings, *, generator: ChatModel | None = None) -> FastAPI:
    """The API over ``settings`` (``settings.collection`` is the default collection).
    ``generator`` replaces the configured answering model of every pipeline."""
    upload_limit = int(settings.ingest.max_file_mb * 1024 * 1024) + UPLOAD_SLACK

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ragline = await run_in_threadpool(ServerState, settings,
                                                    generator=generator)
        app.state.gateway = await run_in_threadpool(open_gateway, app.state.ragline, metrics)
        app.state.pumps = Pumps()
        try:
            yield
        finally:
            await run_in_threadpool(app.state.pumps.stop_all)
            await run_in_threadpool(app.state.gateway.close)
            await run_in_threadpool(app.state.ragline.close)

    metrics = ServerMetrics()
    app = FastAPI(title="ragline", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(openai_router)
    app.include_router(anthropic_router)
    install_ui(app)
    app.add_middleware(BodyLimit, limit_of=lambda path: (
        upload_limit if path == "/api/ingest" else JSON_LIMIT))
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """The process's metrics in Prometheus' text format."""
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    return app


def open_gateway(state: ServerState, metrics: ServerMetrics) -> Gateway:
    """The gateway over ``state``, counting into ``metrics``, with the exact cache when
    ``cache.mode`` is not off."""
    store = None if state.settings.cache.mode == "off" else exact_store(state.settings)
    return Gateway(state, cache_store=store, metrics=metrics)


def app_from_environment() -> FastAPI:
    """The application of one worker of ``ragline serve --workers N``: the config file
    named by :data:`CONFIG_ENV`, the rest from the ``RAGLINE_*`` variables."""
    config = os.environ.get(CONFIG_ENV)
    return create_app(load_settings(Path(config) if config else None))
