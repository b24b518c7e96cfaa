"""What a judge spends on the case being evaluated, tallied per thread.

The runner opens :func:`judge_spend` around the metrics of one case; every LLM
judge call made inside it (in the same thread or context) adds its cost with
:func:`record_judge_cost`. Cases evaluated concurrently each keep their own tally.
A cached verdict makes no call and costs nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["JudgeSpend", "judge_spend", "record_judge_cost"]


@dataclass(slots=True)
class JudgeSpend:
    """Judge calls made and their total in USD; ``usd`` is None once a price was unknown."""

    calls: int = 0
    usd: float | None = 0.0


_current: contextvars.ContextVar[JudgeSpend | None] = contextvars.ContextVar(
    "ragline_judge_spend", default=None)


@contextmanager
def judge_spend() -> Iterator[JudgeSpend]:
    """A fresh tally that judge calls inside the block add to."""
    spend = JudgeSpend()
    token = _current.set(spend)
    try:
        yield spend
    finally:
        _current.reset(token)


def record_judge_cost(cost: float | None) -> None:
    """Add one judge call costing ``cost`` (None: unknown price) to the open tally, if any."""
    spend = _current.get()
    if spend is None:
        return
    spend.calls += 1
    spend.usd = None if cost is None or spend.usd is None else spend.usd + cost
