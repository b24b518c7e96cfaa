"""The rules router: the first rule whose conditions all hold names the tier.

Rules come from ``routing.rules`` (:class:`~ragline.config_routing.RouteRule`): word
counts of the question, a regular expression, and for RAG requests the
retrieval signals (a weak best score or little agreement between the dense and
BM25 retrievers suggests a harder question). No rule matching means
``default_tier``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ragline.config_routing import RouteRule
from ragline.errors import ConfigError
from ragline.routing.types import RouteDecision, routed_text
from ragline.types import ChatRequest, RouteSignals


class RulesRouter:
    """Routes by ``rules`` in order; ``models`` maps each tier name to its ``provider:model``."""

    name = "rules"

    def __init__(self, rules: Sequence[RouteRule], *, default_tier: str,
                 models: Mapping[str, str]) -> None:
        self.rules = tuple(rules)
        self.default_tier = default_tier
        self.models = dict(models)
        try:
            self._patterns = [re.compile(r.pattern, re.IGNORECASE) if r.pattern else None
                              for r in self.rules]
        except re.error as exc:
            raise ConfigError(f"routing.rules: bad pattern: {exc}") from exc

    def route(self, request: ChatRequest, signals: RouteSignals) -> RouteDecision:
        """The tier of the first matching rule, else the default tier."""
        question = routed_text(request) or ""
        for number, (rule, pattern) in enumerate(zip(self.rules, self._patterns,
                                                     strict=True), start=1):
            why = _matches(rule, pattern, question, signals)
            if why:
                return RouteDecision(rule.tier, self.models[rule.tier], 1.0,
                                     f"rules: rule {number} ({why})")
        return RouteDecision(self.default_tier, self.models[self.default_tier], 0.0,
                             "rules: no rule matched, default tier")


def _matches(rule: RouteRule, pattern: re.Pattern[str] | None, question: str,
             signals: RouteSignals) -> str:
    """Why ``rule`` matches (its conditions, joined), or ``''`` when one fails."""
    count = len(question.split())
    checks: list[tuple[bool, str]] = []
    if rule.min_words is not None:
        checks.append((count >= rule.min_words, f"{count} words >= {rule.min_words}"))
    if rule.max_words is not None:
        checks.append((count <= rule.max_words, f"{count} words <= {rule.max_words}"))
    if pattern is not None:
        checks.append((bool(pattern.search(question)), f"matches {rule.pattern!r}"))
    if rule.max_top_score is not None:
        top = signals.top_score
        checks.append((top is not None and top <= rule.max_top_score,
                       f"top score {top if top is None else round(top, 3)} "
                       f"<= {rule.max_top_score}"))
    if rule.max_agreement is not None:
        agreement = signals.agreement
        checks.append((agreement is not None and agreement <= rule.max_agreement,
                       f"agreement {agreement} <= {rule.max_agreement}"))
    if not checks or not all(ok for ok, _ in checks):
        return ""
    return ", ".join(why for _, why in checks)
