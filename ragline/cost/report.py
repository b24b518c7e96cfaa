"""Cost reports over the ledger: grouped in SQL, so they stay fast over millions of calls.

:func:`cost_report` groups calls by ``model``, ``route``, ``tenant``, ``stage`` or ``day``
(UTC). A route is what the router chose and why: ``provider:model:route_reason`` (``-``
when the call recorded no reason), so the same model reached for different reasons shows
as separate rows. :func:`routing_saving` compares what routed queries cost with what
the strongest model would have cost them. :func:`plot_cost_per_day` draws the daily cost
as stacked bars (the daily tokens when no call cost anything: "all calls were free").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, Select, case, distinct, func, select

from ragline.cost.ledger import INGEST_ID_PREFIX, Ledger, calls
from ragline.cost.prices import PriceCatalogue
from ragline.errors import ConfigError, InvalidInput
from ragline.types import Usage

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GroupBy = Literal["model", "route", "tenant", "stage", "day", "cache"]
GROUPINGS: tuple[GroupBy, ...] = ("model", "route", "tenant", "stage", "day", "cache")
PLOT_MAX_SERIES = 8  # the most expensive keys get their own colour; the rest is "other"


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Totals of one group of calls.

    ``cost_usd`` and ``savings_usd`` add up the calls with a known price;
    ``unpriced_calls`` counts the others. ``queries`` counts distinct query ids, not
    counting ingest runs (ids ``ingest-...``), whose calls are not questions.
    """

    key: str
    calls: int
    queries: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal
    unpriced_calls: int
    savings_usd: Decimal

    @property
    def cost_per_1k_queries(self) -> Decimal | None:
        """Priced cost per thousand queries; None when the group has no query id."""
        return None if not self.queries else self.cost_usd * 1000 / self.queries


def _since(since: date | datetime | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    return datetime.combine(since, time(0), tzinfo=UTC)


def _day(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", calls.c.ts), "YYYY-MM-DD")
    return func.date(calls.c.ts)  # SQLite keeps ts as UTC ISO text


def _keys(by: str, dialect: str) -> list[ColumnElement[Any]]:
    if by == "route":
        return [calls.c.provider, calls.c.model, calls.c.route_reason]
    if by == "day":
        return [_day(dialect)]
    if by in GROUPINGS:
        return [calls.c[by]]
    raise ConfigError(f"cannot group costs by {by!r}; choose one of {', '.join(GROUPINGS)}")


def _key_text(by: str, values: Sequence[Any]) -> str:
    if by == "route":
        provider, model, reason = values
        return f"{provider}:{model}:{reason or '-'}"
    return str(values[0])


def _totals(keys: list[ColumnElement[Any]], since: datetime | None) -> Select[Any]:
    statement = select(
        *keys,
        func.count().label("calls"),
        func.count(distinct(case((calls.c.query_id.startswith(INGEST_ID_PREFIX), None),
                                 else_=calls.c.query_id))).label("queries"),
        func.coalesce(func.sum(calls.c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(calls.c.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(calls.c.cache_read_tokens), 0).label("cache_read_tokens"),
        func.coalesce(func.sum(calls.c.cache_write_tokens), 0).label("cache_write_tokens"),
        func.sum(calls.c.cost_usd).label("cost_usd"),
        func.sum(case((calls.c.cost_usd.is_(None), 1), else_=0)).label("unpriced_calls"),
        func.sum(calls.c.savings_usd).label("savings_usd"),
    ).group_by(*keys)
    return statement if since is None else statement.where(calls.c.ts >= since)


def cost_report(ledger: Ledger, since: date | datetime | None = None,
                by: GroupBy = "model") -> list[ReportRow]:
    """Return one row per ``by`` key of the calls at or after ``since`` (a date is 00:00 UTC).

    Rows by day come in date order; the others most expensive first. Raises
    :class:`ConfigError` for an unknown grouping.
    """
    engine = ledger.engine
    keys = _keys(by, engine.dialect.name)
    with engine.connect() as connection:
        result = connection.execute(_totals(keys, _since(since))).all()
    rows = [
        ReportRow(
            key=_key_text(by, row[:len(keys)]), calls=int(row.calls),
            queries=int(row.queries), input_tokens=int(row.input_tokens),
            output_tokens=int(row.output_tokens), cache_read_tokens=int(row.cache_read_tokens),
            cache_write_tokens=int(row.cache_write_tokens),
            cost_usd=row.cost_usd or Decimal(0), unpriced_calls=int(row.unpriced_calls),
            savings_usd=row.savings_usd or Decimal(0),
        )
        for row in result
    ]
    if by == "day":
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (-r.cost_usd, r.key))


ROUTED_PREFIXES = ("routed:", "cascade:")
"""Route reasons of the calls a router or cascade made (``ragline.routing`` writes them)."""


@dataclass(frozen=True, slots=True)
class RoutingSaving:
    """What routed queries cost against always asking the strongest model.

    ``actual_usd`` is every answering call of those queries (cheap cascade attempts,
    failed and fallback calls included); ``strongest_usd`` prices, for each query, the
    tokens of its last successful answering call at ``strongest``'s rates. ``unpriced``
    counts queries left out because a price is unknown.
    """

    strongest: str
    queries: int
    actual_usd: Decimal
    strongest_usd: Decimal
    unpriced: int

    @property
    def saving_usd(self) -> Decimal:
        """What routing saved (negative when it cost more)."""
        return self.strongest_usd - self.actual_usd

    @property
    def saving_share(self) -> float | None:
        """The saving as a share of the strongest model's cost; None when that is 0."""
        return float(self.saving_usd / self.strongest_usd) if self.strongest_usd else None


def routing_saving(ledger: Ledger, catalogue: PriceCatalogue, strongest: str,
                   since: date | datetime | None = None) -> RoutingSaving:
    """Compare the routed queries at or after ``since`` with ``strongest`` (a model name
    of the catalogue, e.g. ``gpt-4o``) answering all of them."""
    answering = calls.c.stage.in_(("generate", "fallback"))
    routed = select(calls.c.query_id).where(
        answering, *(() if since is None else (calls.c.ts >= _since(since),)),
        calls.c.route_reason.startswith(ROUTED_PREFIXES[0])
        | calls.c.route_reason.startswith(ROUTED_PREFIXES[1])).distinct()
    statement = select(calls.c.query_id, calls.c.cost_usd, calls.c.error, calls.c.input_tokens,
                       calls.c.output_tokens, calls.c.cache_read_tokens,
                       calls.c.cache_write_tokens).where(
        answering, calls.c.query_id.in_(routed)).order_by(calls.c.id)
    spent: dict[str, Decimal | None] = {}
    last: dict[str, Usage] = {}
    with ledger.engine.connect() as connection:
        for row in connection.execute(statement):
            before = spent.get(row.query_id, Decimal(0))
            spent[row.query_id] = (None if before is None or row.cost_usd is None
                                   else before + row.cost_usd)
            if row.error is None:
                last[row.query_id] = Usage(row.input_tokens, row.output_tokens,
                                           row.cache_read_tokens, row.cache_write_tokens)
    actual = strongest_usd = Decimal(0)
    queries = unpriced = 0
    for query_id, cost in spent.items():
        counterfactual = catalogue.cost(strongest, last[query_id]) if query_id in last else None
        if cost is None or counterfactual is None:
            unpriced += 1
            continue
        queries += 1
        actual += cost
        strongest_usd += counterfactual
    return RoutingSaving(strongest, queries, actual, strongest_usd, unpriced)


@dataclass(slots=True)
class _Day:
    """What the calls of one day and key add up to: priced cost, tokens, unpriced calls."""

    usd: Decimal = Decimal(0)
    tokens: int = 0
    unpriced: int = 0


def _daily(ledger: Ledger, since: datetime | None, by: GroupBy) -> dict[str, dict[str, _Day]]:
    """Totals per day and ``by`` key: {day: {key: _Day}}."""
    engine = ledger.engine
    day = _day(engine.dialect.name).label("day")
    keys = _keys(by, engine.dialect.name)
    tokens = (calls.c.input_tokens + calls.c.output_tokens + calls.c.cache_read_tokens
              + calls.c.cache_write_tokens)  # disjoint counts: their sum is every token
    statement = select(
        day, *keys, func.sum(calls.c.cost_usd).label("cost"),
        func.coalesce(func.sum(tokens), 0).label("tokens"),
        func.sum(case((calls.c.cost_usd.is_(None), 1), else_=0)).label("unpriced"),
    ).group_by(day, *keys)
    if since is not None:
        statement = statement.where(calls.c.ts >= since)
    totals: dict[str, dict[str, _Day]] = {}
    with engine.connect() as connection:
        for row in connection.execute(statement):
            key = _key_text(by, row[1:1 + len(keys)])
            total = totals.setdefault(str(row.day), {}).setdefault(key, _Day())
            total.usd += row.cost or Decimal(0)
            total.tokens += int(row.tokens)
            total.unpriced += int(row.unpriced or 0)
    return totals


def _every_day(days: Sequence[str]) -> list[str]:
    """The ISO days from the first to the last of ``days``, gaps included."""
    if not days:
        return []
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


def _free_title(by: str, unpriced: int) -> str:
    """The title of the tokens chart drawn when no call cost anything."""
    why = (f"no priced call cost anything ({unpriced:,} unpriced)" if unpriced
           else "all calls were free")
    return f"Tokens per day (UTC), by {by}: {why}"


def _stacks(costs: dict[str, dict[str, float]]) -> tuple[list[str], dict[str, list[float]]]:
    """Every day from the first to the last in ``costs`` (day -> key -> value), and each
    stack's bar heights on those days: the :data:`PLOT_MAX_SERIES` keys with the largest
    totals, the rest summed as ``other``."""
    days = _every_day(sorted(costs))
    totals: dict[str, float] = {}
    for series in costs.values():
        for key, value in series.items():
            totals[key] = totals.get(key, 0.0) + value
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown, rest = ranked[:PLOT_MAX_SERIES], ranked[PLOT_MAX_SERIES:]
    stacks = {key: [costs.get(day, {}).get(key, 0.0) for day in days] for key in shown}
    if rest:
        stacks["other"] = [sum(costs.get(day, {}).get(key, 0.0) for key in rest)
                           for day in days]
    return days, stacks


def cost_figure(ledger: Ledger, since: date | datetime | None = None,
                by: GroupBy = "model") -> Figure:
    """The chart :func:`plot_cost_per_day` draws, as a matplotlib ``Figure`` (Agg canvas).

    The :data:`PLOT_MAX_SERIES` most expensive keys get their own colour, the rest are
    stacked as ``other``. When there are calls but none cost anything (local models are
    $0), it shows their tokens per day instead, and its title says why. The value axis
    starts at 0. Needs matplotlib (``pip install 'ragline[reports]'``); leaves pyplot's
    global state alone.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ConfigError("plotting costs needs matplotlib: pip install 'ragline[reports]'"
                          ) from error
    daily = _daily(ledger, _since(since), by)
    free = bool(daily) and not any(t.usd for series in daily.values() for t in series.values())
    # bar heights: floats for matplotlib, each day's exact sum converted once
    costs = {day: {key: float(t.tokens if free else t.usd) for key, t in series.items()}
             for day, series in daily.items()}
    days, stacks = _stacks(costs)

    figure = Figure(figsize=(max(6.0, 0.35 * len(days) + 3), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bottom = [0.0] * len(days)
    for key, values in stacks.items():
        axes.bar(days, values, bottom=bottom, label=key)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if free:
        unpriced = sum(t.unpriced for series in daily.values() for t in series.values())
        axes.set_title(_free_title(by, unpriced))
        axes.set_ylabel("tokens")
    else:
        axes.set_title(f"Cost per day (UTC), by {by}")
        axes.set_ylabel("USD")
    axes.set_ylim(bottom=0)  # nothing here is ever negative
    axes.tick_params(axis="x", labelrotation=90)
    if stacks:
        handles, labels = axes.get_legend_handles_labels()  # top of the stack first
        axes.legend(handles[::-1], labels[::-1], fontsize="small", loc="upper left",
                    bbox_to_anchor=(1.0, 1.0))
    else:
        axes.set_ylim(0, 1)
        axes.text(0.5, 0.5, "no calls recorded", ha="center", va="center",
                  transform=axes.transAxes)
    return figure


def plot_cost_per_day(ledger: Ledger, path: str | Path, since: date | datetime | None = None,
                      by: GroupBy = "model") -> Path:
    """Draw the priced cost per UTC day as bars stacked by ``by`` key; write a PNG to ``path``.

    The chart is :func:`cost_figure`'s: tokens per day when no call cost anything.
    Parent folders of ``path`` are created; a path that cannot be written raises
    :class:`InvalidInput`. Returns the path written.
    """
    figure = cost_figure(ledger, since, by)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png")
    except OSError as error:
        raise InvalidInput(f"cannot write the cost plot to {target}: "
                           f"{error.strerror or error}") from error
    return target
