"""The web chat page: ``GET /`` and its script and style under ``/static/``.

Plain HTML, CSS and JavaScript shipped inside the package (``ragline/server/static/``), so
``ragline serve`` needs no build step and no network. The page talks to the JSON and
server-sent-events API of :mod:`ragline.server.routes` only. It is served with a content
security policy that allows nothing but this server: no inline script, no other origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
"""Where the page's files live in the installed package."""

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
"""The page's content security policy."""


def install_ui(app: FastAPI) -> None:
    """Serve the chat page at ``/`` and its files at ``/static/``."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The chat page."""
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={
            "Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
