"""Cost reports: grouping in SQL by model, route, tenant, stage and UTC day; the daily chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from ragline.cost.ledger import CallRecord, Ledger
from ragline.cost.report import ReportRow, cost_figure, cost_report, plot_cost_per_day
from ragline.errors import ConfigError, InvalidInput

NEW_YORK = timezone(timedelta(hours=-5))


def at(day: int, hour: int, tz: timezone = UTC) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=tz)


def row(ts: datetime, tenant: str, query_id: str | None, stage: str, provider: str,
        model: str, reason: str | None, tokens: tuple[int, int, int, int],
        cost: str | None, savings: str | None = "0") -> CallRecord:
    fresh, output, read, write = tokens
    return CallRecord(ts=ts, tenant=tenant, query_id=query_id, stage=stage, provider=provider,
                      model=model, route_reason=reason, input_tokens=fresh,
                      output_tokens=output, cache_read_tokens=read, cache_write_tokens=write,
                      cost_usd=None if cost is None else Decimal(cost),
                      savings_usd=None if savings is None else Decimal(savings))


CALLS = [
    row(at(24, 10), "acme", "q1", "embed", "local", "all-MiniLM-L6-v2", None, (12, 0, 0, 0), "0"),
    row(at(24, 10), "acme", "q1", "generate", "openai", "gpt-4o-mini", "cheap",
        (176, 7, 1024, 0), "0.0001074", "0.0000768"),
    # 23:30 in New York on the 25th is 04:30 UTC on the 26th
    row(datetime(2026, 11, 25, 23, 30, tzinfo=NEW_YORK), "globex", "q2", "generate",
        "anthropic", "claude-haiku-4-5", "escalated", (100, 200, 4000, 1500), "0.004125",
        "0.002475"),
    row(at(25, 8), "acme", "q3", "generate", "openai", "gpt-4o-mini", "cheap", (1000, 200, 0, 0),
        "0.00027"),
    row(at(25, 8), "acme", "q3", "judge", "local", "house-judge", None, (50, 5, 0, 0), None, None),
    row(at(26, 12), "globex", "q4", "generate", "anthropic", "claude-haiku-4-5", "escalated",
        (10, 10, 0, 0), "0.00006"),
    row(at(26, 12), "globex", "q4", "generate", "openai", "gpt-4o-mini", "cheap", (10, 10, 0, 0),
        "0.0000075"),
    row(at(26, 13), "acme", None, "embed", "local", "all-MiniLM-L6-v2", None, (30, 0, 0, 0), "0"),
]


@pytest.fixture
def filled(ledger: Ledger) -> Ledger:
    ledger.record_many(CALLS)
    return ledger


def test_the_report_by_model_totals_each_model(filled: Ledger) -> None:
    assert cost_report(filled, by="model") == [
        ReportRow("claude-haiku-4-5", calls=2, queries=2, input_tokens=110, output_tokens=210,
                  cache_read_tokens=4000, cache_write_tokens=1500, cost_usd=Decimal("0.004185"),
                  unpriced_calls=0, savings_usd=Decimal("0.002475")),
        ReportRow("gpt-4o-mini", calls=3, queries=3, input_tokens=1186, output_tokens=217,
                  cache_read_tokens=1024, cache_write_tokens=0, cost_usd=Decimal("0.0003849"),
                  unpriced_calls=0, savings_usd=Decimal("0.0000768")),
        ReportRow("all-MiniLM-L6-v2", calls=2, queries=1, input_tokens=42, output_tokens=0,
                  cache_read_tokens=0, cache_write_tokens=0, cost_usd=Decimal(0),
                  unpriced_calls=0, savings_usd=Decimal(0)),
        ReportRow("house-judge", calls=1, queries=1, input_tokens=50, output_tokens=5,
                  cache_read_tokens=0, cache_write_tokens=0, cost_usd=Decimal(0),
                  unpriced_calls=1, savings_usd=Decimal(0)),
    ]


def test_cost_per_thousand_queries(filled: Ledger) -> None:
    haiku = cost_report(filled, by="model")[0]
    assert haiku.cost_per_1k_queries == Decimal("2.0925")  # 0.004185 x 1000 / 2
    no_query = ReportRow("x", 1, 0, 0, 0, 0, 0, Decimal(1), 0, Decimal(0))
    assert no_query.cost_per_1k_queries is None


def test_the_report_by_day_uses_utc_days_in_order(filled: Ledger) -> None:
    days = cost_report(filled, by="day")
    assert [(r.key, r.calls, r.cost_usd, r.unpriced_calls) for r in days] == [
        ("2026-11-24", 2, Decimal("0.0001074"), 0),
        ("2026-11-25", 2, Decimal("0.00027"), 1),
        ("2026-11-26", 4, Decimal("0.0041925"), 0),
    ]


def test_the_report_by_tenant(filled: Ledger) -> None:
    tenants = cost_report(filled, by="tenant")
    assert [(r.key, r.calls, r.queries, r.cost_usd) for r in tenants] == [
        ("globex", 3, 2, Decimal("0.0041925")), ("acme", 5, 2, Decimal("0.0003774"))]


def test_the_report_by_stage(filled: Ledger) -> None:
    stages = {r.key: (r.calls, r.cost_usd) for r in cost_report(filled, by="stage")}
    assert stages == {"generate": (5, Decimal("0.0045699")), "embed": (2, Decimal(0)),
                      "judge": (1, Decimal(0))}


def test_the_report_by_route_names_provider_model_and_reason(filled: Ledger) -> None:
    routes = {r.key: r.calls for r in cost_report(filled, by="route")}
    assert routes == {"anthropic:claude-haiku-4-5:escalated": 2, "openai:gpt-4o-mini:cheap": 3,
                      "local:all-MiniLM-L6-v2:-": 2, "local:house-judge:-": 1}


def test_since_keeps_later_calls_only(filled: Ledger) -> None:
    assert sum(r.calls for r in cost_report(filled, since=date(2026, 11, 26))) == 4
    since = datetime(2026, 11, 26, 0, 0, tzinfo=NEW_YORK)  # 05:00 UTC
    assert sum(r.calls for r in cost_report(filled, since=since)) == 3
    assert cost_report(filled, since=date(2026, 12, 1)) == []


def test_an_empty_ledger_reports_nothing(ledger: Ledger) -> None:
    assert cost_report(ledger, by="day") == []


def test_an_unknown_grouping_is_a_config_error(filled: Ledger) -> None:
    with pytest.raises(ConfigError, match="choose one of model, route, tenant, stage, day"):
        cost_report(filled, by="colour")  # type: ignore[arg-type]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_daily_chart_is_written_as_a_png(filled: Ledger, tmp_path: Path) -> None:
    written = plot_cost_per_day(filled, tmp_path / "cost.png", by="model")
    assert written == tmp_path / "cost.png"
    assert written.read_bytes().startswith(PNG_SIGNATURE)


def test_the_chart_stacks_many_keys_and_handles_an_empty_ledger(ledger: Ledger,
                                                                tmp_path: Path) -> None:
    empty = plot_cost_per_day(ledger, tmp_path / "empty.png")
    assert empty.read_bytes().startswith(PNG_SIGNATURE)
    ledger.record_many(
        row(at(day, 9), "acme", f"q{day}-{n}", "generate", "openai", f"model-{n}", None,
            (1, 1, 0, 0), f"0.{n + 1:02d}")
        for day in (20, 21, 22) for n in range(12))
    chart = plot_cost_per_day(ledger, tmp_path / "many.png", since=date(2026, 11, 21),
                              by="route")
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_an_all_free_ledger_charts_tokens_on_an_axis_from_zero(ledger: Ledger) -> None:
    ledger.record_many([
        row(at(24, 10), "acme", "q1", "embed", "local", "all-MiniLM-L6-v2", None, (12, 0, 0, 0),
            "0"),
        row(at(25, 10), "acme", "q2", "generate", "local", "SmolLM2-135M-Instruct", None,
            (300, 40, 0, 0), "0"),
    ])
    axes = cost_figure(ledger).axes[0]
    assert "all calls were free" in axes.get_title() and axes.get_ylabel() == "tokens"
    assert axes.get_ylim()[0] == 0 and axes.get_ylim()[1] >= 340
    assert sorted(bar.get_height() for bar in axes.patches) == [0, 0, 12, 340]

    ledger.record(row(at(25, 11), "acme", "q3", "judge", "local", "house-judge", None,
                      (50, 5, 0, 0), None, None))
    title = cost_figure(ledger).axes[0].get_title()
    assert "no priced call cost anything (1 unpriced)" in title  # unpriced is not free


def test_the_dollar_axis_starts_at_zero(filled: Ledger) -> None:
    axes = cost_figure(filled, by="tenant").axes[0]
    assert axes.get_ylabel() == "USD" and axes.get_title().startswith("Cost per day")
    assert axes.get_ylim()[0] == 0


def test_the_chart_goes_into_a_new_folder_or_fails_in_one_line(filled: Ledger,
                                                               tmp_path: Path) -> None:
    written = plot_cost_per_day(filled, tmp_path / "new" / "folder" / "cost.png")
    assert written.read_bytes().startswith(PNG_SIGNATURE)
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(InvalidInput, match=r"cannot write the cost plot to .*taken"):
        plot_cost_per_day(filled, tmp_path / "taken" / "cost.png")
