"""Cost-ledger benchmark: what recording a call costs, and how fast reports run over 1M rows.

1. Recording overhead: ``Ledger.record`` (one transaction per call) timed call by call on a
   SQLite file and on PostgreSQL, beside the floor of the same INSERT + COMMIT through the
   plain driver (``sqlite3`` with the same pragmas, ``psycopg``), and a budget check
   (``BudgetGuard.reserve`` + ``settle``) on each backend.
2. Reports: ``cost_report`` over 1,000,000 synthetic ledger rows spread over 90 days,
   bulk-loaded into SQLite (and PostgreSQL), for every grouping.

The last line is ``record_p50_us_sqlite=<a> record_p50_us_pg=<b> report_1m_s=<c>``, where
``c`` is the ``--by day`` report on SQLite. Run ``benchmarks/ledger.py --help`` for options.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy.engine import make_url

from ragline.config import BudgetLimit
from ragline.cost.budgets import BudgetGuard
from ragline.cost.ledger import CallRecord, Ledger, calls
from ragline.cost.report import GROUPINGS, cost_report

DEFAULT_PG = os.environ.get("RAGLINE_TEST_POSTGRES_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLUMNS = [column.name for column in calls.columns if column.name != "id"]
START = datetime(2026, 8, 28, tzinfo=UTC)
GENERATORS = [("openai", "gpt-4o-mini", 40), ("openai", "gpt-4.1-mini", 15),
              ("anthropic", "claude-haiku-4-5", 20), ("anthropic", "claude-sonnet-4-5", 10),
              ("openai", "gpt-5", 5), ("local", "SmolLM2-135M-Instruct", 7),
              ("openai_compatible", "house-llm", 3)]  # house-llm has no price
REASONS = ["cheap first", "escalated: unsupported", "long context", "budget downgrade"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="timed calls per backend")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls first")
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows for reports")
    parser.add_argument("--days", type=int, default=90, help="days the rows spread over")
    parser.add_argument("--repeats", type=int, default=3, help="report runs (median kept)")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--skip-pg", action="store_true", help="SQLite only")
    parser.add_argument("--skip-pg-report", action="store_true",
                        help="time recording on PostgreSQL, but no 1M-row load there")
    return parser.parse_args()


# --- 1. recording overhead --------------------------------------------------------------------

def sample_call(n: int) -> CallRecord:
    return CallRecord(stage="generate", provider="openai", model="gpt-4o-mini",
                      cost_usd=Decimal("0.0001074"), savings_usd=Decimal("0.0000768"),
                      input_tokens=176, output_tokens=7, cache_read_tokens=1024,
                      latency_ms=412.5, query_id=f"q{n}", tenant="acme", api_key="team-a",
                      route_reason="cheap first", cache="miss")


def timed(step: Callable[[int], None], records: int, warmup: int) -> list[float]:
    """Microseconds of each of ``records`` calls of ``step``, after ``warmup`` untimed ones."""
    for n in range(warmup):
        step(n)
    spans = []
    for n in range(records):
        started = time.perf_counter_ns()
        step(n)
        spans.append((time.perf_counter_ns() - started) / 1000)
    return spans


def summary(spans: list[float]) -> tuple[float, float, float]:
    ordered = sorted(spans)
    return (statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            statistics.fmean(ordered))


def floor_row(n: int, sqlite_text: bool) -> tuple[Any, ...]:
    ts: Any = datetime.now(UTC)
    ts = ts.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite_text else ts
    values = {"ts": ts, "query_id": f"q{n}", "session": None, "tenant": "acme",
              "api_key": "team-a", "stage": "generate", "provider": "openai",
              "model": "gpt-4o-mini", "route_reason": "cheap first", "input_tokens": 176,
              "output_tokens": 7, "cache_read_tokens": 1024, "cache_write_tokens": 0,
              "cache_write_1h_tokens": 0, "estimated": False, "cost_usd": 107400,
              "savings_usd": 76800, "latency_ms": 412.5, "cache": "miss", "error": None}
    return tuple(values[name] for name in COLUMNS)


def sqlite_floor(path: Path, records: int, warmup: int) -> list[float]:
    """Plain sqlite3: the same INSERT + COMMIT into the same table, same pragmas."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO ragline_calls ({', '.join(COLUMNS)}) " \
          f"VALUES ({', '.join('?' * len(COLUMNS))})"

    def step(n: int) -> None:
        connection.execute("BEGIN")
        connection.execute(sql, floor_row(n, sqlite_text=True))
        connection.execute("COMMIT")

    try:
        return timed(step, records, warmup)
    finally:
        connection.close()


def psycopg_floor(url: str, records: int, warmup: int) -> list[float]:
    """Plain psycopg: the same INSERT + COMMIT into the same table."""
    parsed = make_url(url)
    options = parsed.query.get("options")
    connection = psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
        dbname=parsed.database, options=options if isinstance(options, str) else None)
    sql = f"INSERT INTO ragline_calls ({', '.join(COLUMNS)}) " \
          f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"

    def step(n: int) -> None:
        connection.execute(sql, floor_row(n, sqlite_text=False))
        connection.commit()

    try:
        return timed(step, records, warmup)
    finally:
        connection.close()


def budget_step(ledger: Ledger) -> Callable[[int], None]:
    guard = BudgetGuard(ledger, [
        BudgetLimit(scope="tenant", key="*", period="day", usd=10**9),
        BudgetLimit(scope="api_key", key="*", period="month", tokens=10**15)])

    def step(n: int) -> None:
        reservation = guard.reserve(f"tenant-{n % 20}", f"key-{n % 50}", Decimal("0.002"), 1200)
        guard.settle(reservation, Decimal("0.0011074"), 1207)

    return step


def recording(url: str, name: str, args: argparse.Namespace,
              results: list[tuple[str, tuple[float, float, float]]]) -> float:
    """Time Ledger.record, the driver floor and a budget check on one backend; return p50."""
    with Ledger(url) as ledger:
        ledger.engine  # noqa: B018 - create the table outside the timing
        mine = summary(timed(lambda n: ledger.record(sample_call(n)), args.records, args.warmup))
        results.append((f"ragline Ledger.record, {name}", mine))
        if name == "SQLite":
            database = ledger.engine.url.database
            assert database is not None
            floor = summary(sqlite_floor(Path(database), args.records, args.warmup))
            results.append(("  floor: sqlite3 INSERT + COMMIT, same table and pragmas", floor))
        else:
            floor = summary(psycopg_floor(url, args.records, args.warmup))
            results.append(("  floor: psycopg INSERT + COMMIT, same table", floor))
        budget = summary(timed(budget_step(ledger), args.records // 5, args.warmup))
        results.append((f"ragline BudgetGuard.reserve + settle, {name}, 2 limits", budget))
    return mine[0]


# --- 2. reports over 1M rows ------------------------------------------------------------------

def synthetic_rows(count: int, days: int, sqlite_text: bool) -> Iterator[tuple[Any, ...]]:
    """Ledger rows in COLUMNS order: queries of 3 calls (embed, rerank, generate), 90 days."""
    rng = random.Random(7)
    models = [(p, m) for p, m, weight in GENERATORS for _ in range(weight)]
    span = days * 86400
    for n in range(count):
        query = n // 3
        if n % 3 == 0:
            ts = START + timedelta(seconds=rng.random() * span)
            tenant, key = f"tenant-{rng.randrange(20)}", f"key-{rng.randrange(50)}"
            provider, model = rng.choice(models)
            reason = rng.choice(REASONS)
        stage = ("embed", "rerank", "generate")[n % 3]
        row: tuple[Any, ...]
        if stage == "embed":
            row = ("local", "all-MiniLM-L6-v2", None, rng.randrange(5, 40), 0, 0, 0, 0)
        elif stage == "rerank":
            row = ("local", "cross-encoder/ms-marco-MiniLM-L-6-v2", None,
                   rng.randrange(500, 3000), 0, 0, 0, 0)
        else:
            read = rng.choice([0, 0, 1024, 2048])
            cost = None if model == "house-llm" else rng.randrange(1000, 2_000_000)
            savings = None if cost is None else read * 75
            row = (provider, model, reason, rng.randrange(200, 1500), rng.randrange(10, 300),
                   read, cost, savings)
        provider_, model_, reason_, fresh, output, read_, cost_, savings_ = row
        when = ts.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite_text else ts
        values = {"ts": when, "query_id": f"q{query}", "session": None, "tenant": tenant,
                  "api_key": key, "stage": stage, "provider": provider_, "model": model_,
                  "route_reason": reason_, "input_tokens": fresh, "output_tokens": output,
                  "cache_read_tokens": read_, "cache_write_tokens": 0,
                  "cache_write_1h_tokens": 0, "estimated": stage != "generate",
                  "cost_usd": 0 if stage != "generate" else cost_, "savings_usd": savings_,
                  "latency_ms": 20.0, "cache": "off", "error": None}
        yield tuple(values[name] for name in COLUMNS)


def load_sqlite(path: Path, count: int, days: int) -> float:
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    sql = f"INSERT INTO ragline_calls ({', '.join(COLUMNS)}) " \
          f"VALUES ({', '.join('?' * len(COLUMNS))})"
    rows = synthetic_rows(count, days, sqlite_text=True)
    while batch := [row for _, row in zip(range(100_000), rows, strict=False)]:
        connection.execute("BEGIN")
        connection.executemany(sql, batch)
        connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def load_postgres(url: str, count: int, days: int) -> float:
    started = time.perf_counter()
    parsed = make_url(url)
    options = parsed.query.get("options")
    with psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                         password=parsed.password, dbname=parsed.database,
                         options=options if isinstance(options, str) else None) as connection:
        with connection.cursor() as cursor, cursor.copy(
                f"COPY ragline_calls ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in synthetic_rows(count, days, sqlite_text=False):
                copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE ragline_calls")
    return time.perf_counter() - started


def time_reports(ledger: Ledger, repeats: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for by in GROUPINGS:
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = cost_report(ledger, by=by)
            runs.append(time.perf_counter() - started)
        assert rows, f"the {by} report came back empty"
        seconds[by] = statistics.median(runs)
    return seconds


# --- running it -------------------------------------------------------------------------------

def postgres_schema(admin_url: str) -> tuple[str, str, sqlalchemy.Engine]:
    """A fresh schema on the server and the ledger URL that uses it."""
    admin = sqlalchemy.create_engine(admin_url)
    schema = f"ragline_bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False), admin


def drop_schema(admin: sqlalchemy.Engine, schema: str) -> None:
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                         strict=True)]
    line = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}"
                     for i, w in enumerate(widths))
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def main() -> None:
    args = parse_args()
    load = os.getloadavg()
    print(f"ragline ledger benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"SQLAlchemy {sqlalchemy.__version__}, psycopg {psycopg.__version__}, "
          f"SQLite {sqlite3.sqlite_version}; load average {load[0]:.2f}/{load[1]:.2f}/"
          f"{load[2]:.2f}\n")
    results: list[tuple[str, tuple[float, float, float]]] = []
    reports: dict[str, dict[str, float]] = {}
    loads: dict[str, float] = {}
    pg_p50 = float("nan")
    with tempfile.TemporaryDirectory(prefix="ragline-ledger-bench-") as folder:
        sqlite_p50 = recording(f"sqlite:///{Path(folder) / 'record.sqlite'}", "SQLite", args,
                               results)
        report_file = Path(folder) / "report.sqlite"
        with Ledger(f"sqlite:///{report_file}") as ledger:
            ledger.engine  # noqa: B018 - create the table and its indexes
            loads["SQLite"] = load_sqlite(report_file, args.rows, args.days)
            reports["SQLite"] = time_reports(ledger, args.repeats)
    if not args.skip_pg:
        schema, url, admin = postgres_schema(args.postgres_url)
        try:
            pg_p50 = recording(url, "PostgreSQL", args, results)
            if not args.skip_pg_report:
                with Ledger(url) as ledger:
                    ledger.engine.dispose()
                    with ledger.engine.begin() as connection:
                        connection.exec_driver_sql("TRUNCATE ragline_calls")
                    loads["PostgreSQL"] = load_postgres(url, args.rows, args.days)
                    reports["PostgreSQL"] = time_reports(ledger, args.repeats)
        finally:
            drop_schema(admin, schema)

    print(f"Recording one call: {args.records:,} calls timed one by one after "
          f"{args.warmup} untimed, one transaction each (budget: a fifth as many)")
    print_table(["path", "p50 us", "p99 us", "mean us"],
                [[name, f"{p50:.1f}", f"{p99:.1f}", f"{mean:.1f}"]
                 for name, (p50, p99, mean) in results])
    print()
    backends = list(reports)
    print(f"cost_report over {args.rows:,} ledger rows spread over {args.days} days, seconds "
          f"(median of {args.repeats}); bulk load "
          + ", ".join(f"{b} {s:.1f} s" for b, s in loads.items()))
    print_table(["--by", *backends],
                [[by, *(f"{reports[b][by]:.3f}" for b in backends)] for by in GROUPINGS])
    print()
    print(f"record_p50_us_sqlite={sqlite_p50:.1f} record_p50_us_pg={pg_p50:.1f} "
          f"report_1m_s={reports['SQLite']['day']:.3f}")


if __name__ == "__main__":
    main()
