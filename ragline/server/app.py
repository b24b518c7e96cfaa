"""``create_app``: the FastAPI application of ``ragline serve``.

One :class:`~ragline.server.state.ServerState` per application: pipelines are opened
lazily, one per collection, shared by every request, and closed when the application
shuts down (its lifespan), after the answer streams still running are stopped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from ragline.config import Settings, load_settings
from ragline.models.chat import ChatModel
from ragline.server.errors import BodyLimit, install_error_handlers
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
        app.state.pumps = Pumps()
        try:
            yield
        finally:
            await run_in_threadpool(app.state.pumps.stop_all)
            await run_in_threadpool(app.state.ragline.close)

    app = FastAPI(title="ragline", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install_error_handlers(app)
    app.include_router(router)
    install_ui(app)
    app.add_middleware(BodyLimit, limit_of=lambda path: (
        upload_limit if path == "/api/ingest" else JSON_LIMIT))
    return app


def app_from_environment() -> FastAPI:
    """The application of one worker of ``ragline serve --workers N``: the config file
    named by :data:`CONFIG_ENV`, the rest from the ``RAGLINE_*`` variables."""
    config = os.environ.get(CONFIG_ENV)
    return create_app(load_settings(Path(config) if config else None))
