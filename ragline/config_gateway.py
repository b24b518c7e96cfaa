"""The ``gateway`` section of the settings: where API keys are kept, whether they are
required, where their rate limits are counted, and which models the gateway offers.

Kept apart from :mod:`ragline.config` (which holds :class:`GatewaySettings` as
``Settings.gateway``) so that each settings module stays one screenful of sections.
The defaults here are also written out in ``configs/default.yaml``;
:class:`ragline.server.keys.KeyStore` opens the store ``keys_url`` names, and
:func:`ragline.server.ratelimit.open_rate_limiter` the limiter ``rate_limits`` names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ragline.config_base import Section


class GatewaySettings(Section):
    """API keys of the OpenAI/Anthropic-compatible gateway of ``ragline serve``.

    ``keys_url`` None keeps the keys in the SQLite file ``home/keys.sqlite``; otherwise it
    is a SQLAlchemy URL, SQLite or PostgreSQL, as for ``cost.ledger_url``. With
    ``require_keys`` true the gateway refuses every request that carries no valid key
    (made with ``ragline keys create``); false lets keyless requests through.

    A key's ``rpm`` and ``tpm`` (requests and tokens per minute) are counted in token
    buckets: with ``rate_limits`` ``memory`` in each process on its own (N replicas let a
    key through N times its limits), with ``redis`` on the Redis server at ``redis_url``,
    under keys starting with ``redis_prefix``, shared by every process and replica that
    uses them. A Redis failure refuses limited keys' requests (503), never lets them through.

    ``models`` are more ``provider:model`` names the gateway offers, besides
    ``ragline/auto``, the answering model and the routing tiers. ``key_cache_s`` is how
    long a server process trusts a key it authenticated before reading it again (0: read
    it on every request); a key revoked meanwhile works that much longer there.
    """

    keys_url: str | None = Field(default=None, min_length=1)
    require_keys: bool = False
    rate_limits: Literal["memory", "redis"] = "memory"
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", min_length=1)
    redis_prefix: str = Field(default="ragline:ratelimit:", min_length=1)
    models: list[str] = Field(default_factory=list)
    key_cache_s: float = Field(default=10.0, ge=0)

    @field_validator("models")
    @classmethod
    def _provider_models(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if n != "extractive" and not all(n.partition(":")[::2])]
        if bad:
            raise ValueError(f"each model is 'provider:model' (e.g. openai:gpt-4o-mini), "
                             f"not {bad[0]!r}")
        return names
