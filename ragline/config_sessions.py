"""The ``sessions`` section of the settings: where chat sessions are kept.

Kept apart from :mod:`ragline.config` (which holds :class:`SessionsSettings` as
``Settings.sessions``) so that each settings module stays one screenful of sections.
The defaults here are also written out in ``configs/default.yaml``;
:func:`ragline.app.chat_store.open_session_store` opens the store they describe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ragline.config_base import Section

SessionsBackend = Literal["sqlite", "redis"]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""The Redis server sessions use unless told otherwise: the cache section's default too."""


class SessionsSettings(Section):
    """Where chat sessions are saved between turns and between processes.

    ``backend`` ``sqlite`` keeps them in ``home/sessions.sqlite`` (one machine); ``redis``
    keeps them on the Redis server at ``redis_url`` (shared by every process and replica),
    every key starting with ``redis_prefix``. ``ttl_s`` (Redis only) forgets a session
    not saved for that many seconds; None keeps sessions until they are deleted.
    """

    backend: SessionsBackend = "sqlite"
    redis_url: str = Field(default=DEFAULT_REDIS_URL, min_length=1)
    redis_prefix: str = Field(default="ragline:sessions:", min_length=1)
    ttl_s: float | None = Field(default=None, gt=0)
