"""The chat-model stack the configuration describes, built once and used by every caller.

:func:`chat_stack` composes, from the inside out:

1. the answering model: ``generation.provider`` (or the ``generator`` given), or for
   ``routed`` a :class:`~ragline.routing.routed.RoutedChatModel` over the
   ``routing.tiers`` (``strategy: route``) or a
   :class:`~ragline.routing.cascade.CascadeChatModel` (``strategy: cascade``);
   every provider call metered into the ledger and, for cloud providers, behind a
   per-provider :class:`~ragline.routing.breaker.CircuitBreaker`;
2. :class:`~ragline.routing.budgeted.BudgetedChatModel` when ``budgets.limits`` are set;
3. optionally :class:`~ragline.routing.hedged.HedgedChatModel` (``routing.hedge_after_s``);
4. :class:`~ragline.routing.fallback.FallbackChatModel` over that, the
   ``routing.fallback`` tiers and the extractive fallback (``generation.fallback``),
   deciding with the one answer check (:class:`~ragline.verify.guard.AnswerCheck`);
5. :class:`~ragline.routing.abstaining.AbstainingChatModel` outermost when
   ``generation.abstain`` is ``calibrated``: yes/no questions answered by the judge
   for the in-process generators, and questions the passages do not answer declined.

An answering model that writes free text (a cloud model, or ``local`` with
``generation.answer_style: free``) sits inside an
:class:`~ragline.routing.attributed.AttributingChatModel`, so a sentence it left
uncited is cited with the passage that supports it before the check reads it.

``RAGPipeline`` (and any other caller) holds only the outermost model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragline.config import GenerationSettings, Settings
from ragline.config_routing import RoutingSettings
from ragline.cost.budgets import BudgetGuard
from ragline.cost.metered import CostMeter
from ragline.errors import ConfigError
from ragline.models.chat import ChatModel, chat_model_from_settings, create_chat_model
from ragline.models.extractive import ExtractiveModel
from ragline.protocols import Embedder
from ragline.routing.abstaining import AbstainingChatModel
from ragline.routing.attributed import AttributingChatModel
from ragline.routing.breaker import BreakerChatModel, CircuitBreaker
from ragline.routing.budgeted import BudgetedChatModel
from ragline.routing.cascade import CascadeChatModel
from ragline.routing.fallback import FallbackChatModel
from ragline.routing.hedged import HedgedChatModel
from ragline.routing.routed import RoutedChatModel
from ragline.routing.rules import RulesRouter
from ragline.routing.scorers import (
    AnswerCheckScorer,
    AnswerScorer,
    ArithmeticScorer,
    SelfConsistencyScorer,
)
from ragline.routing.types import Router
from ragline.verify.abstention import Abstainer
from ragline.verify.guard import AnswerCheck

IN_PROCESS = ("extractive", "local")
"""Providers that run in this process: no breaker, they cannot be unreachable."""


def model_for_route(route: str, generation: GenerationSettings, *,
                    setting: str = "budgets.downgrade_to",
                    prompt_caching: bool = True) -> ChatModel:
    """The model of a route string: ``extractive`` or ``provider:model``; a bad one is a
    :class:`ConfigError` naming ``setting``, the key it came from.

    It takes the timeout, retries and deadline of ``generation``, and its key and base URL
    when it is the same provider (another provider's key comes from the environment);
    ``prompt_caching`` is ``cache.provider_prompt``.
    """
    if route == "extractive":
        return ExtractiveModel()
    provider, _, model = route.partition(":")
    if not model:
        raise ConfigError(f"{setting} must be 'extractive' or 'provider:model', not {route!r}")
    same = provider == generation.provider
    key = generation.api_key.get_secret_value() if same and generation.api_key else None
    return create_chat_model(provider, model=model, api_key=key,
                             base_url=generation.base_url if same else None,
                             timeout_s=generation.timeout_s,
                             max_retries=generation.max_retries,
                             deadline_s=generation.deadline_s, prompt_caching=prompt_caching)


def router_from_settings(routing: RoutingSettings, *, embedder: Embedder | None,
                         embedder_name: str) -> Router:
    """The router ``routing`` configures: rules, or a trained router loaded from its file."""
    models = {t.name: t.model for t in routing.tiers}
    if routing.router == "rules":
        return RulesRouter(routing.rules, default_tier=routing.default_tier
                           or routing.tiers[0].name, models=models)
    if routing.router_file is None or embedder is None:
        raise ConfigError("routing.router_file: a trained router needs the file written by "
                          "`ragline route train` (and the pipeline's embedder)")
    from ragline.routing.learned import TrainedRouter

    trained = TrainedRouter.load(routing.router_file, embedder=embedder,
                                 embedder_name=embedder_name)
    return trained.with_tiers(routing.weak_tier or routing.tiers[0].name,
                              routing.strong_tier or routing.tiers[-1].name)


def _scorer(routing: RoutingSettings, check: AnswerCheck | None) -> AnswerScorer:
    if routing.cascade_scorer == "arithmetic":
        return ArithmeticScorer()
    if routing.cascade_scorer == "self_consistency":
        return SelfConsistencyScorer()
    if check is None:
        raise ConfigError("routing.cascade_scorer: answer_check needs the offline judge "
                          "(generation.verify: offline)")
    return AnswerCheckScorer(check)


@dataclass(frozen=True, slots=True)
class ChatStack:
    """The outermost model of the stack, and the parts a caller may want to inspect."""

    model: ChatModel
    budgets: BudgetGuard | None
    check: AnswerCheck | None


class _Builder:
    """Wraps provider models the same way everywhere: metered, then behind their
    provider's breaker."""

    def __init__(self, settings: Settings, meter: CostMeter) -> None:
        self.settings = settings
        self.meter = meter
        self.breakers: dict[str, CircuitBreaker] = {}

    def guarded(self, model: ChatModel, *, stage: str = "generate",
                route_reason: str = "") -> ChatModel:
        metered = self.meter.chat(model, stage=stage, route_reason=route_reason)
        breaker = self.settings.routing.breaker
        if breaker is None or model.provider in IN_PROCESS:
            return metered
        shared = self.breakers.setdefault(model.provider, CircuitBreaker(
            model.provider, failures=breaker.failures, window_s=breaker.window_s,
            cooldown_s=breaker.cooldown_s))
        return BreakerChatModel(metered, shared)

    def tier(self, name: str, *, stage: str = "generate") -> ChatModel:
        routing = self.settings.routing
        return self.guarded(model_for_route(
            routing.model_of(name), self.settings.generation, setting=f"routing.tiers ({name})",
            prompt_caching=self.settings.cache.provider_prompt), stage=stage)


def chat_stack(settings: Settings, meter: CostMeter, *, generator: ChatModel | None = None,
               check: AnswerCheck | None = None, embedder: Embedder | None = None) -> ChatStack:
    """Build the stack of the module docstring; ``generator`` replaces the configured
    answering model (tests, or a caller's own model)."""
    generation, routing, budgets = settings.generation, settings.routing, settings.budgets
    build = _Builder(settings, meter)
    primary: ChatModel
    if generator is not None:
        primary = build.guarded(generator)
    elif generation.provider != "routed":
        primary = build.guarded(chat_model_from_settings(
            generation, prompt_caching=settings.cache.provider_prompt))
    elif routing.strategy == "route":
        primary = RoutedChatModel(
            router_from_settings(routing, embedder=embedder,
                                 embedder_name=settings.embedder.model),
            {t.name: build.tier(t.name) for t in routing.tiers})
    else:
        names = routing.cascade_tiers or tuple(t.name for t in routing.tiers)
        primary = CascadeChatModel([build.tier(n) for n in names], _scorer(routing, check),
                                   threshold=routing.cascade_threshold)
    if check is not None and _writes_free_text(generation, generator):
        primary = AttributingChatModel(primary, check.judge)
    guard = BudgetGuard(meter.ledger, budgets.limits) if budgets.limits else None
    if guard is not None:
        downgrade = (meter.chat(model_for_route(budgets.downgrade_to, generation,
                                                prompt_caching=settings.cache.provider_prompt),
                                route_reason="budget downgrade")
                     if budgets.on_exceed == "downgrade" else None)
        primary = BudgetedChatModel(primary, guard, meter.catalogue, downgrade=downgrade,
                                    default_tenant=settings.cost.tenant)
    chain = [primary, *(build.tier(n, stage="fallback") for n in routing.fallback)]
    windows: list[int | None] = [None, *(_window(routing, n) for n in routing.fallback)]
    if generation.fallback == "extractive":
        chain.append(meter.chat(ExtractiveModel(), stage="fallback"))
        windows.append(None)
    if routing.hedge_after_s is not None and len(chain) > 1:
        chain[0] = HedgedChatModel(chain[0], chain[1], after_s=routing.hedge_after_s)
    model: ChatModel = FallbackChatModel(chain, check=check, context_windows=windows)
    if generation.abstain == "calibrated":
        model = AbstainingChatModel(
            model, Abstainer(threshold=generation.abstain_threshold),
            judge=None if check is None else check.judge,
            yes_no=generator is None and generation.provider in IN_PROCESS)
    return ChatStack(model, guard, check)


def _writes_free_text(generation: GenerationSettings, generator: ChatModel | None) -> bool:
    """Whether the answering model may leave sentences uncited: every model but the
    extractive one and the local one copying its answers."""
    provider = generator.provider if generator is not None else generation.provider
    return not (provider == "extractive"
                or (provider == "local" and generation.answer_style != "free"))


def _window(routing: RoutingSettings, tier: str) -> int | None:
    return next(t.context_window for t in routing.tiers if t.name == tier)
