"""The ``cache`` section of the settings: the answer cache and provider prompt caching.

Kept apart from :mod:`ragline.config` (which holds :class:`CacheSettings` as
``Settings.cache``) so that each settings module stays one screenful of sections.
What the values mean is in ``docs/caching.md``; the defaults are in
``configs/default.yaml``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ragline.config_base import Section

CacheMode = Literal["off", "exact", "semantic"]
CacheBackend = Literal["sqlite", "redis"]


class SemanticCacheSettings(Section):
    """When a paraphrase may be answered from the cache.

    ``max_error_rate`` is the share of semantic hits allowed to be wrong; the threshold
    is the one calibrated for that rate (``ragline.cache.thresholds``) unless
    ``threshold`` sets the cosine outright; ``candidates`` is how many neighbours a
    lookup reads.
    """

    max_error_rate: float = Field(gt=0, lt=1)
    threshold: float | None = Field(ge=0, le=1)
    candidates: int = Field(ge=1, le=100)


class CacheSettings(Section):
    """The answer cache (``mode``: off, exact, or exact then semantic), where it keeps its
    entries (``backend``: SQLite under ``home``, or Redis at ``redis_url``, every key starting
    with ``redis_prefix``), how long
    (``ttl_s``, None: until evicted or invalidated) and how many per tenant
    (``max_entries``), and whether prompts sent to Anthropic and OpenAI carry their
    prompt-caching hints (``provider_prompt``)."""

    mode: CacheMode
    backend: CacheBackend
    redis_url: str = Field(min_length=1)
    redis_prefix: str = Field(min_length=1)
    ttl_s: float | None = Field(gt=0)
    max_entries: int = Field(ge=1)
    provider_prompt: bool
    semantic: SemanticCacheSettings

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` as false: take it as the word it was."""
        return "off" if value is False else value
