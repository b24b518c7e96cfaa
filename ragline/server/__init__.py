"""``ragline serve``: the HTTP API over :class:`~ragline.app.pipeline.RAGPipeline` and chat
sessions (FastAPI, run by uvicorn).

:func:`ragline.server.app.create_app` builds the application; :mod:`ragline.server.routes`
holds the endpoints, :mod:`ragline.server.state` what they share (one pipeline per
collection, the session store), :mod:`ragline.server.sse` the answer stream as server-sent
events, and :mod:`ragline.server.errors` the JSON error bodies. This package sits above
``app/``; nothing below imports it.
"""
