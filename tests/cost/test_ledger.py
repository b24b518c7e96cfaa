"""The cost ledger on SQLite and PostgreSQL: rows, query costs, atomicity, configuration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from ragline.config import BudgetLimit, Settings
from ragline.cost.budgets import BudgetGuard
from ragline.cost.ledger import (
    CallRecord,
    Ledger,
    calls,
    nanos_to_usd,
    open_engine,
    usd_to_nanos,
)
from ragline.errors import ConfigError, LedgerError
from ragline.types import QueryCost, Usage


def call(**fields: object) -> CallRecord:
    values: dict[str, object] = {"stage": "generate", "provider": "openai",
                                 "model": "gpt-4o-mini", "cost_usd": Decimal("0.0001")}
    values.update(fields)
    return CallRecord(**values)  # type: ignore[arg-type]


def count_rows(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(calls)).scalar_one())


def test_a_recorded_call_reads_back_as_written(ledger: Ledger) -> None:
    when = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    ledger.record(call(query_id="q1", session="s1", tenant="acme", api_key="team-a",
                       route_reason="cheap first", input_tokens=176, output_tokens=7,
                       cache_read_tokens=1024, cache_write_tokens=30, cache_write_1h_tokens=10,
                       estimated=True, cost_usd=Decimal("0.0001074"),
                       savings_usd=Decimal("-0.0000768"), latency_ms=12.5, cache="miss",
                       error="RateLimited: slow down", ts=when))
    with ledger.engine.connect() as connection:
        row = connection.execute(select(calls)).one()
    assert row.ts == when and row.ts.tzinfo == UTC  # stored in UTC, read back aware
    assert (row.query_id, row.session, row.tenant, row.api_key) == ("q1", "s1", "acme",
                                                                    "team-a")
    assert (row.stage, row.provider, row.model, row.route_reason) == (
        "generate", "openai", "gpt-4o-mini", "cheap first")
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens,
            row.cache_write_1h_tokens, row.estimated) == (176, 7, 1024, 30, 10, True)
    assert row.cost_usd == Decimal("0.0001074") and row.savings_usd == Decimal("-0.0000768")
    assert (row.latency_ms, row.cache, row.error) == (12.5, "miss", "RateLimited: slow down")


def test_an_unknown_price_is_stored_as_null_not_zero(ledger: Ledger) -> None:
    ledger.record(call(cost_usd=None, model="my-model"))
    with ledger.engine.connect() as connection:
        assert connection.execute(select(calls.c.cost_usd)).scalar_one() is None


def test_a_float_int_or_text_cost_is_taken_exactly_then_rounded_to_nano_dollars(
        ledger: Ledger) -> None:
    ledger.record(call(cost_usd=0.0001074, savings_usd=0.1 + 0.2))
    ledger.record(call(cost_usd=0, savings_usd="0.0000768"))
    with ledger.engine.connect() as connection:
        first, second = connection.execute(
            select(calls.c.cost_usd, calls.c.savings_usd).order_by(calls.c.id)).all()
    # Decimal(0.0001074) is 0.000107399999999999996...: nano-dollars round it back
    assert first.cost_usd == Decimal("0.0001074")
    assert first.savings_usd == Decimal("0.300000000")
    assert (second.cost_usd, second.savings_usd) == (Decimal(0), Decimal("0.0000768"))
    with pytest.raises(TypeError, match="Decimal"):
        ledger.record(call(cost_usd=[0.1]))
    with pytest.raises(ValueError, match="Decimal"):
        ledger.record(call(cost_usd=float("nan")))
    assert count_rows(ledger) == 2


def test_money_is_kept_to_the_nano_dollar() -> None:
    assert usd_to_nanos(Decimal("0.000000001")) == 1
    assert usd_to_nanos(Decimal("0.0000000005")) == 0  # half-even
    assert usd_to_nanos(Decimal("0.0000000015")) == 2
    assert nanos_to_usd(123_456_789) == Decimal("0.123456789")


def test_query_cost_sums_the_query_calls_by_stage(ledger: Ledger) -> None:
    ledger.record_many([
        call(query_id="q1", stage="embed", model="text-embedding-3-small", input_tokens=12,
             cost_usd=Decimal("0.00000024")),
        call(query_id="q1", stage="generate", input_tokens=176, output_tokens=7,
             cache_read_tokens=1024, cost_usd=Decimal("0.0001074")),
        call(query_id="q1", stage="generate", input_tokens=10, output_tokens=5,
             cache_write_tokens=100, cost_usd=Decimal("0.0000001")),
        call(query_id="q2", stage="generate", input_tokens=999, cost_usd=Decimal("1")),
    ])
    cost = ledger.query_cost("q1")
    assert cost == QueryCost(
        total_usd=0.00010774, by_stage={"embed": 0.00000024, "generate": 0.0001075},
        calls=3, input_tokens=198, output_tokens=12, cache_read_tokens=1024,
        cache_write_tokens=100, unpriced=())


def test_query_cost_is_unknown_when_any_call_had_no_price(ledger: Ledger) -> None:
    ledger.record_many([
        call(query_id="q1", stage="embed", model="all-MiniLM-L6-v2", cost_usd=Decimal(0)),
        call(query_id="q1", stage="rerank", model="my-reranker", cost_usd=None),
        call(query_id="q1", stage="generate", model="house-llm", cost_usd=None),
        call(query_id="q1", stage="generate", cost_usd=Decimal("0.001")),
    ])
    cost = ledger.query_cost("q1")
    assert cost.total_usd is None
    assert cost.by_stage == {"embed": 0.0, "rerank": None, "generate": None}
    assert cost.unpriced == ("house-llm", "my-reranker")
    assert cost.calls == 4


def test_a_query_with_no_calls_cost_nothing(ledger: Ledger) -> None:
    assert ledger.query_cost("never") == QueryCost(total_usd=0.0)


def test_record_many_keeps_nothing_when_one_row_is_rejected(ledger: Ledger) -> None:
    ledger.record(call(query_id="before"))
    bad = call(query_id="batch", cache_write_tokens=1, cache_write_1h_tokens=2)
    with pytest.raises(LedgerError, match="could not record calls"):
        ledger.record_many([call(query_id="batch"), call(query_id="batch"), bad,
                            call(query_id="batch")])
    assert count_rows(ledger) == 1
    assert ledger.query_cost("batch").calls == 0


def test_negative_token_counts_are_rejected_by_the_database(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="could not record a call") as caught:
        ledger.record(call(output_tokens=-1))
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert count_rows(ledger) == 0


def test_an_unreachable_database_is_a_ledger_error() -> None:
    ledger = Ledger("postgresql://postgres:secret@127.0.0.1:1/nowhere")
    with pytest.raises(LedgerError, match="could not create the ledger table") as caught:
        ledger.record(call())
    assert "secret" not in str(caught.value)  # the password is never shown
    assert caught.value.http_status == 503
    ledger.close()


def test_the_ledger_and_the_budgets_create_their_tables_the_same_lazy_way(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'ledger.sqlite'}"
    ledger = Ledger(url)  # no constructor connects
    limits = [BudgetLimit(scope="tenant", key="*", period="day", usd=1)]
    engine = open_engine(url)
    on_engine, on_ledger = BudgetGuard(engine, limits), BudgetGuard(ledger, limits)
    with pytest.raises(LedgerError, match="could not create the ledger table"):
        ledger.record(call())
    with pytest.raises(LedgerError, match="could not create the budget counter table"):
        on_engine.spent("tenant", "acme", "day")
    (tmp_path / "missing-folder").mkdir()  # a failed creation is tried again on next use
    ledger.record(call())
    assert on_engine.spent("tenant", "acme", "day") == (Decimal(0), 0)
    assert on_ledger.spent("tenant", "acme", "day") == (Decimal(0), 0)
    assert count_rows(ledger) == 1
    ledger.close()
    engine.dispose()


def test_a_call_record_is_a_usage_with_who_and_how_much() -> None:
    usage = Usage(input_tokens=176, output_tokens=7, cache_read_tokens=1024,
                  cache_write_tokens=10, cache_write_1h_tokens=4, estimated=True)
    record = CallRecord.of(usage, stage="generate", provider="openai", model="gpt-4o-mini",
                           cost_usd=Decimal("0.0001074"), query_id="q1")
    assert record.usage == usage and isinstance(record, Usage)
    assert (record.prompt_tokens, record.total_tokens) == (1210, 1217)
    assert (record.query_id, record.cost_usd) == ("q1", Decimal("0.0001074"))


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    from decimal import Decimal
    from sqlalchemy import event
    from ragline.cost.ledger import CallRecord, Ledger

    ledger = Ledger(sys.argv[1])
    row = dict(stage="generate", provider="openai", model="gpt-4o", cost_usd=Decimal(1))
    ledger.record(CallRecord(query_id="committed", **row))

    def die(*_args):
        os._exit(9)  # the process dies after the rows are sent, before COMMIT

    event.listen(ledger.engine, "after_cursor_execute", die)
    ledger.record_many([CallRecord(query_id="lost", **row) for _ in range(50)])
""")


def test_a_crash_before_commit_leaves_no_partial_rows(ledger_url: str) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, ledger_url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    with Ledger(ledger_url) as ledger:
        assert ledger.query_cost("committed").calls == 1
        assert ledger.query_cost("lost").calls == 0
        assert count_rows(ledger) == 1


def test_concurrent_writers_lose_no_calls(ledger: Ledger) -> None:
    def write(worker: int) -> None:
        for n in range(25):
            ledger.record(call(query_id=f"w{worker}-{n}"))

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count_rows(ledger) == 200


def test_the_default_ledger_is_a_wal_sqlite_file_under_home(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with Ledger.from_settings(settings) as ledger:
        ledger.record(call())
        assert ledger.engine.url.database == str(Path(settings.home).resolve() /
                                                 "ledger.sqlite")
        with ledger.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA busy_timeout").scalar() == 10_000
    assert (Path(settings.home) / "ledger.sqlite").exists()


def test_settings_can_point_the_ledger_at_a_url(make_settings: Callable[..., Settings],
                                                tmp_path: Path) -> None:
    settings = make_settings(cost={"ledger_url": f"sqlite:///{tmp_path / 'elsewhere.db'}"})
    with Ledger.from_settings(settings) as ledger:
        ledger.record(call())
    assert (tmp_path / "elsewhere.db").exists()


def test_an_in_memory_sqlite_ledger_works_across_threads() -> None:
    with Ledger("sqlite://") as ledger:
        worker = threading.Thread(target=ledger.record, args=(call(query_id="t"),))
        worker.start()
        worker.join()
        assert ledger.query_cost("t").calls == 1


def test_a_plain_postgresql_url_uses_psycopg_3() -> None:
    ledger = Ledger("postgresql://user:secret@db.example:5432/ledger")  # does not connect
    assert repr(ledger) == "Ledger('postgresql+psycopg://user:***@db.example:5432/ledger')"


@pytest.mark.parametrize("url, message", [
    ("not a url", "is not a database URL"),
    ("mysql://root@localhost/ledger", "records in sqlite or postgresql"),
    ("postgresql+nodriver://localhost/x", "needs a driver"),
])
def test_a_bad_ledger_url_is_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Ledger(url)


def test_the_table_has_its_indexes(ledger: Ledger) -> None:
    with ledger.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            names = {row[1] for row in connection.execute(text("PRAGMA index_list(ragline_calls)"))}
        else:
            names = set(connection.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'ragline_calls' "
                "AND schemaname = current_schema()")).scalars())
    assert {"ix_ragline_calls_ts", "ix_ragline_calls_query_id",
            "ix_ragline_calls_tenant"} <= names
