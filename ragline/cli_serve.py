"""``ragline serve``: the HTTP API (:mod:`ragline.server`) under uvicorn.

Registered on the main app in :mod:`ragline.cli`. An embedded index (``index.transport:
edge``) is held by one process, so it is served by one worker; more workers need a Qdrant
server (``index.transport: client``).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ragline.cli_common import ConfigOption, err, settings_from, user_errors
from ragline.config import Settings
from ragline.errors import ConfigError


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse more than one worker over an index held by one process (Edge, or a
    ``:memory:`` client), saying what to change."""
    if workers > 1 and settings.index.transport == "edge":
        raise ConfigError(
            f"--workers {workers}: an embedded index (index.transport: edge) is held by one "
            "process, so it is served by one worker; use --workers 1, or serve the "
            "collections from a Qdrant server (index.transport: client, index.url) to run "
            "more")
    if workers > 1 and settings.index.url == ":memory:":
        raise ConfigError(
            f"--workers {workers}: index.url ':memory:' is an index of each process's own, so "
            "every worker would answer from a different one; use --workers 1, or point "
            "index.url at a Qdrant server")


@user_errors
def serve(config: ConfigOption = None,
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
          collection: Annotated[str | None, typer.Option(
              "--collection", "-c", help="Default collection (default: config).")] = None,
          workers: Annotated[int, typer.Option(
              min=1, help="Worker processes (more than 1 needs index.transport: client).")
          ] = 1,
          access_log: Annotated[bool, typer.Option(
              help="Log a line per request (the metrics and the cost ledger count them "
                   "too; off saves a tenth of a millisecond a request).")] = True) -> None:
    """Serve the HTTP API: chat sessions with streamed, cited answers; passages; ingest."""
    import uvicorn

    from ragline.rag.connect import check_name

    settings = settings_from(config)
    if collection is not None:
        settings = settings.model_copy(update={"collection": check_name(collection)})
    check_workers(settings, workers)
    err.print(f"ragline serving collection {settings.collection!r} on http://{host}:{port} "
              "(Ctrl-C stops)", highlight=False, markup=False)
    if workers > 1:
        from ragline.server.app import CONFIG_ENV

        if config is not None:
            os.environ[CONFIG_ENV] = str(config.resolve())
        os.environ["RAGLINE_COLLECTION"] = settings.collection
        uvicorn.run("ragline.server.app:app_from_environment", factory=True, host=host,
                    port=port, workers=workers, log_level="info", access_log=access_log,
                    timeout_graceful_shutdown=10)
        return
    from ragline.server.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                access_log=access_log, timeout_graceful_shutdown=10)
