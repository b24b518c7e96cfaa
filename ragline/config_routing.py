"""The ``routing`` section of the settings: tiers, rules, cascades, fallback, breakers.

Kept apart from :mod:`ragline.config` (which holds :class:`RoutingSettings` as
``Settings.routing``); what the values mean is in ``docs/routing.md``, the defaults are in
``configs/default.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ragline.config_base import Section


class RouteTier(Section):
    """One model a router or cascade may send a request to: a name and ``provider:model``
    (or ``extractive``), with its context window in tokens when known."""

    name: str = Field(min_length=1)
    model: str = Field(min_length=1)
    context_window: int | None = Field(default=None, gt=0)

    @field_validator("model")
    @classmethod
    def _provider_and_model(cls, model: str) -> str:
        if model != "extractive" and not all(model.partition(":")[::2]):
            raise ValueError("must be 'extractive' or 'provider:model'")
        return model


class RouteRule(Section):
    """A rule of the rules router: when every condition given holds, ``tier`` answers.

    Conditions: the question's word count (``min_words``, ``max_words``), a regular
    expression it matches (``pattern``, case-insensitive), and the retrieval signals
    of a RAG request (``max_top_score``: the best fused score is at most this;
    ``max_agreement``: at most this share of the chunks was found by both retrievers).
    """

    tier: str = Field(min_length=1)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    max_top_score: float | None = None
    max_agreement: float | None = Field(default=None, ge=0, le=1)


class BreakerSettings(Section):
    """Per-provider circuit breaker: open after ``failures`` failed calls within
    ``window_s`` seconds, refuse calls for ``cooldown_s``, then let one probe through."""

    failures: int = Field(ge=1)
    window_s: float = Field(gt=0)
    cooldown_s: float = Field(gt=0)


class RoutingSettings(Section):
    """How ``generation.provider: routed`` picks a model, and the resilience of every call.

    ``strategy: route`` asks the router for one tier per request; ``cascade`` answers
    on ``cascade_tiers`` in order, escalating while the answer's score (``cascade_scorer``)
    is below ``cascade_threshold``. ``fallback`` tiers answer, in order, when the chosen
    model fails (timeout, 429, 5xx, context too long). ``breaker`` guards each provider;
    ``hedge_after_s`` sends the request to the first fallback tier too when the
    answer is that late.
    """

    strategy: Literal["route", "cascade"]
    tiers: tuple[RouteTier, ...] = Field(min_length=1)
    router: Literal["rules", "trained"]
    router_file: Path | None
    weak_tier: str | None
    strong_tier: str | None
    rules: tuple[RouteRule, ...]
    default_tier: str | None
    cascade_tiers: tuple[str, ...]
    cascade_scorer: Literal["answer_check", "self_consistency", "arithmetic"]
    cascade_threshold: float = Field(ge=0, le=1)
    fallback: tuple[str, ...]
    breaker: BreakerSettings | None
    hedge_after_s: float | None = Field(gt=0)

    @model_validator(mode="after")
    def _known_tiers(self) -> RoutingSettings:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        used = [*(r.tier for r in self.rules), *self.cascade_tiers, *self.fallback,
                *(t for t in (self.default_tier, self.weak_tier, self.strong_tier) if t)]
        unknown = sorted(set(used) - set(names))
        if unknown:
            raise ValueError(f"unknown tier(s) {unknown}; the tiers are {names}")
        return self

    def model_of(self, tier: str) -> str:
        """The ``provider:model`` (or ``extractive``) of the tier named ``tier``."""
        return next(t.model for t in self.tiers if t.name == tier)
