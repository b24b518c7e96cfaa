"""The ``gateway`` section of the settings: where API keys are kept, and whether they are
required.

Kept apart from :mod:`ragline.config` (which holds :class:`GatewaySettings` as
``Settings.gateway``) so that each settings module stays one screenful of sections.
The defaults here are also written out in ``configs/default.yaml``;
:class:`ragline.server.keys.KeyStore` opens the store ``keys_url`` names.
"""

from __future__ import annotations

from pydantic import Field

from ragline.config_base import Section


class GatewaySettings(Section):
    """API keys of the OpenAI/Anthropic-compatible gateway of ``ragline serve``.

    ``keys_url`` None keeps the keys in the SQLite file ``home/keys.sqlite``; otherwise it
    is a SQLAlchemy URL, SQLite or PostgreSQL, as for ``cost.ledger_url``. With
    ``require_keys`` true the gateway refuses every request that carries no valid key
    (made with ``ragline keys create``); false lets keyless requests through.
    """

    keys_url: str | None = Field(default=None, min_length=1)
    require_keys: bool = False
