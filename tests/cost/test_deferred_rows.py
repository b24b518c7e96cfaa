"""Deferred ledger rows: written after the event loop's current step, in one transaction,
kept for another try when the write fails, and written at once off a loop."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from ragline.cost.deferred import DeferredRows
from ragline.cost.ledger import CallRecord, Ledger
from ragline.cost.metered import CostMeter, QueryScope, query_scope
from ragline.cost.prices import PriceCatalogue
from ragline.types import Usage


def row(n: int) -> CallRecord:
    return CallRecord.of(Usage(input_tokens=10, output_tokens=n), query_id=f"q{n}",
                         tenant="acme", stage="generate", provider="openai",
                         model="gpt-4o-mini", cost_usd=Decimal("0.001"), latency_ms=1.0)


def count(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM ragline_calls")).scalar_one())


class CountingLedger(Ledger):
    """A real ledger that counts its transactions of several rows."""

    writes = 0

    def record_many(self, records: object) -> int:  # type: ignore[override]
        self.writes += 1
        return super().record_many(records)  # type: ignore[arg-type]


def test_rows_wait_for_the_end_of_the_step_then_go_in_one_write(tmp_path: Path) -> None:
    ledger = CountingLedger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    rows = DeferredRows(ledger)

    async def step() -> tuple[int, int]:
        for n in range(3):
            rows.add(row(n))
        during = count(ledger)
        await asyncio.sleep(0)  # the step ends: the loop writes
        return during, count(ledger)

    assert asyncio.run(step()) == (0, 3)
    assert ledger.writes == 1 and rows.pending == 0


def test_off_a_loop_a_row_is_written_at_once(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    DeferredRows(ledger).add(row(1))
    assert count(ledger) == 1


def test_a_failed_write_keeps_its_rows_for_the_next(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    rows = DeferredRows(ledger)
    count(ledger)  # the table exists
    with ledger.engine.begin() as connection:
        connection.execute(text("ALTER TABLE ragline_calls RENAME TO hidden"))

    async def first() -> None:
        rows.add(row(1))
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="ragline.cost.deferred"):
        asyncio.run(first())
    assert rows.pending == 1 and "1 ledger rows could not be written" in caplog.text
    with ledger.engine.begin() as connection:
        connection.execute(text("ALTER TABLE hidden RENAME TO ragline_calls"))

    async def second() -> None:
        rows.add(row(2))
        await asyncio.sleep(0)

    asyncio.run(second())
    assert rows.pending == 0 and count(ledger) == 2


def test_a_ledger_on_a_server_is_written_from_a_worker_thread(postgresql_url: str) -> None:
    ledger = Ledger(postgresql_url)
    assert not ledger.in_process
    meter = CostMeter(PriceCatalogue.load(), ledger)

    async def calls() -> int:
        with query_scope(QueryScope("q-deferred", "acme")):
            for n in range(4):
                meter.record(stage="generate", provider="openai", model="gpt-4o-mini",
                             usage=Usage(input_tokens=5, output_tokens=n), latency_ms=1.0,
                             deferred=True)
        return count(ledger)

    assert asyncio.run(calls()) == 0  # asyncio.run waits for the worker threads at its end
    assert count(ledger) == 4
    assert ledger.query_cost("q-deferred").calls == 4
    ledger.close()
