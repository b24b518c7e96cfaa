"""``ragline costs``: what model calls cost, from the cost ledger, as a table, JSON or CSV.

Registered on the main app in :mod:`ragline.cli`. The table never cuts a figure: when
the terminal (or ``COLUMNS``, when piped) is too narrow for one row per group, each
group is printed as a block of ``label value`` lines instead, and long names fold.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.measure import Measurement
from rich.table import Table

from ragline.cli_common import ConfigOption, err, out, settings_from, user_errors
from ragline.cost.ledger import Ledger
from ragline.cost.prices import PriceCatalogue
from ragline.cost.report import (
    GroupBy,
    ReportRow,
    RoutingSaving,
    cost_report,
    plot_cost_per_day,
    routing_saving,
)
from ragline.errors import InvalidInput

CAPTION = ("in / out / cached: tokens; per 1k q: cost per 1,000 queries; saved: by provider "
           "prompt caching and, on answer-cache rows, by answers served from the cache")
UNPRICED_NOTE = "unpriced: calls of models with no price, left out of cost (not free)"
# (wide header, label of the narrow layout) of each figure, in order
FIGURES = (("calls", "calls"), ("queries", "queries"), ("in", "input tokens"),
           ("out", "output tokens"), ("cached", "cached tokens"), ("cost", "cost"),
           ("per 1k q", "cost per 1k queries"), ("saved", "saved by caching"))
UNPRICED = ("unpriced", "unpriced calls")


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``--since``: an ISO date or time (UTC unless it says), or a span back from now: 24h, 7d."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    units = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
    number, unit = value[:-1], value[-1:].lower()
    if unit in units and number.isdigit():
        return now - int(number) * units[unit]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--since {value!r}: give a date (2026-11-01), a time "
                           "(2026-11-01T09:00) or a span back from now (24h, 7d, 2w)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _usd(value: Decimal | None) -> str:
    """``$0.0001074``, ``$12.5``, ``$0``, ``-$3.2``: six decimals at most, trailing zeros
    dropped."""
    if value is None:
        return "-"
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".")
    if text in ("", "0"):
        return "$0"
    return f"-${text}" if value < 0 else f"${text}"


def _plain_decimal(value: object) -> str:
    """JSON for report money: a plain decimal string, never exponent form (``1.6E-7``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _row_json(row: ReportRow) -> dict[str, Any]:
    """One group as the ``--json`` object (and ``--csv`` row) gives it."""
    return {**dataclasses.asdict(row), "cost_per_1k_queries": row.cost_per_1k_queries}


def _write_csv(rows: list[ReportRow]) -> None:
    """A header row, then one row per group: the ``--json`` fields, plain decimals, ``""``
    for a missing value."""
    fields = [field.name for field in dataclasses.fields(ReportRow)] + ["cost_per_1k_queries"]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        record = _row_json(row)
        writer.writerow([_csv_value(record[name]) for name in fields])


def _csv_value(value: object) -> object:
    """A CSV cell: ``""`` for None, a plain decimal for money, anything else as it is."""
    if value is None:
        return ""
    return format(value, "f") if isinstance(value, Decimal) else value


def _cells(row: ReportRow, unpriced: bool) -> list[str]:
    """The figures of one group, formatted, in :data:`FIGURES` order (and unpriced calls)."""
    unknown = row.unpriced_calls == row.calls  # no call of the group had a price
    cells = [f"{row.calls:,}", f"{row.queries:,}", f"{row.input_tokens:,}",
             f"{row.output_tokens:,}", f"{row.cache_read_tokens:,}",
             "unknown" if unknown else _usd(row.cost_usd),
             "unknown" if unknown else _usd(row.cost_per_1k_queries),
             _usd(row.savings_usd)]
    return [*cells, *([f"{row.unpriced_calls:,}"] if unpriced else [])]


def _cost_table(rows: list[ReportRow], by: str) -> Table:
    """The report as a table, one row per group; the ``unpriced`` column only when some
    call had no price. Figures never wrap: see :func:`_fits`."""
    unpriced = any(row.unpriced_calls for row in rows)
    caption = CAPTION + (f"; {UNPRICED_NOTE}" if unpriced else "")
    table = Table(title=f"cost by {by}", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1),
                  caption=caption)
    table.add_column(by, no_wrap=True, overflow="fold")
    for header, _ in [*FIGURES, *([UNPRICED] if unpriced else [])]:
        table.add_column(header, justify="right", no_wrap=True, overflow="fold",
                         min_width=len(header))
    for row in rows:
        table.add_row(row.key, *_cells(row, unpriced))
    return table


def _fits(table: Table) -> bool:
    """Whether every cell of ``table`` shows whole, on one line, at the console's width."""
    unbounded = out.options.update_width(1_000_000)  # measure the table's natural width
    return Measurement.get(out, unbounded, table).maximum <= out.width


def _print_records(rows: list[ReportRow], by: str) -> None:
    """The narrow layout: per group, its key, then one ``label  value`` line per figure."""
    unpriced = any(row.unpriced_calls for row in rows)
    out.print(f"cost by {by}", style="italic", highlight=False)
    labels = [label for _, label in [*FIGURES, *([UNPRICED] if unpriced else [])]]
    cells = [_cells(row, unpriced) for row in rows]
    width = max(len(cell) for group in cells for cell in group)  # values align across groups
    label_width = max(map(len, labels))
    for row, figures in zip(rows, cells, strict=True):
        out.print()
        out.print(row.key, style="bold", overflow="fold", highlight=False, markup=False)
        if label_width + 2 + width > out.width:  # too narrow even for two columns
            for label, cell in zip(labels, figures, strict=True):
                out.print(f"{label}: {cell}", overflow="fold", highlight=False, markup=False)
            continue
        grid = Table.grid(padding=(0, 0, 0, 2))
        grid.add_column(style="dim", min_width=label_width)
        grid.add_column(justify="right", min_width=width + 2)  # + the padding
        for label, cell in zip(labels, figures, strict=True):
            grid.add_row(label, cell)
        out.print(grid)
    if unpriced:
        out.print()
        out.print(UNPRICED_NOTE, style="dim", highlight=False)


def _saving_line(saving: RoutingSaving) -> str:
    """One line: routed queries, their cost, the strongest tier's, and the saving."""
    share = "" if saving.saving_share is None else f" ({saving.saving_share:.0%})"
    skipped = f"; {saving.unpriced} unpriced left out" if saving.unpriced else ""
    queries = "query" if saving.queries == 1 else "queries"
    return (f"routing: {saving.queries} routed {queries} cost {_usd(saving.actual_usd)}; "
            f"always {saving.strongest} would have cost {_usd(saving.strongest_usd)}: "
            f"saved {_usd(saving.saving_usd)}{share}{skipped}")


@user_errors
def costs(since: Annotated[str | None, typer.Option(
              help="Only calls from then on: 2026-11-01, 2026-11-01T09:00, 24h, 7d.")] = None,
          by: Annotated[GroupBy, typer.Option(
              help="Group by model, route, tenant, stage, day or cache (how calls were "
                   "served).")] = "model",
          plot: Annotated[Path | None, typer.Option(
              help="Also draw the cost per day, stacked by --by (by model for --by day), "
                   "into this PNG file (tokens per day when every call was free).")] = None,
          as_json: Annotated[bool, typer.Option(
              "--json", help="Print machine-readable JSON.")] = False,
          as_csv: Annotated[bool, typer.Option(
              "--csv", help="Print CSV: a header row, then one row per group.")] = False,
          config: ConfigOption = None) -> None:
    """Report what model calls cost, from the cost ledger.

    Unpriced calls (models missing from the price catalogue) are counted apart,
    never as free; savings are what provider prompt caching saved and, on the
    ``answer-cache`` rows, what the answers served from ragline's cache would have
    cost (``--by cache`` splits calls by how they were served). When
    queries were routed (routing.tiers), a last line says what they would have
    cost on the strongest (last) tier.
    """
    if as_json and as_csv:
        raise typer.BadParameter("give --json or --csv, not both")
    settings = settings_from(config)
    start = parse_since(since)
    strongest = settings.routing.tiers[-1].model.partition(":")[2]
    with Ledger.from_settings(settings) as ledger:
        rows = cost_report(ledger, since=start, by=by)
        saving = routing_saving(ledger, PriceCatalogue.from_settings(settings.cost),
                                strongest, since=start) if strongest else None
        if plot is not None:
            plot_cost_per_day(ledger, plot, since=start, by="model" if by == "day" else by)
    if as_json:
        sys.stdout.write(json.dumps([_row_json(row) for row in rows],
                                    default=_plain_decimal) + "\n")
    elif as_csv:
        _write_csv(rows)
    elif not rows:
        out.print(f"no model calls recorded{' since ' + str(start) if start else ''}.")
    else:
        table = _cost_table(rows, by)
        if _fits(table):
            out.print(table)
        else:
            _print_records(rows, by)
        if saving is not None and saving.queries:
            out.print(_saving_line(saving), highlight=False)
    if plot is not None:
        err.print(f"{_plot_what(rows)} drawn in {plot}", highlight=False, markup=False)


def _plot_what(rows: list[ReportRow]) -> str:
    """What ``--plot`` drew: the cost per day, or tokens when no call cost anything."""
    if not rows or any(row.cost_usd for row in rows):
        return "cost per day"
    unpriced = sum(row.unpriced_calls for row in rows)
    if unpriced:
        return f"no priced call cost anything ({unpriced:,} unpriced): tokens per day"
    return "all calls were free: tokens per day"
