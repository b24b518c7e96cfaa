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
from decimal import Decimal

__all__ = ["JudgeSpend", "judge_spend", "record_judge_cost"]


@dataclass(slots=True)
class JudgeSpend:
    """Judge calls made and their exact total in USD; None once a price was unknown.

    ``usd`` is the total as a float, for the run's JSON file (``CaseRow.judge_cost_usd``).
    """

    calls: int = 0
    total_usd: Decimal | None = Decimal(0)

    @property
    def usd(self) -> float | None:
        """The total as a float (None: a price was unknown)."""
        return None if self.total_usd is None else float(self.total_usd)


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


def record_judge_cost(cost: Decimal | None) -> None:
    """Add one judge call costing ``cost`` (None: unknown price) to the open tally, if any."""
    spend = _current.get()
    if spend is None:
        return
    spend.calls += 1
    spend.total_usd = None if cost is None or spend.total_usd is None else spend.total_usd + cost
