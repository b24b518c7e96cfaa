"""Routing test fixtures: a cost meter over a fresh SQLite ledger, and its rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ragline.cost.ledger import Ledger, calls
from ragline.cost.metered import CostMeter
from ragline.cost.prices import PriceCatalogue


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[CostMeter]:
    """A meter with the shipped prices, recording into a ledger of its own."""
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        yield CostMeter(PriceCatalogue.load(), ledger)


@pytest.fixture
def ledger_rows(meter: CostMeter) -> Callable[[], list[dict[str, object]]]:
    """Read every call the meter recorded so far, in order."""

    def read() -> list[dict[str, object]]:
        with meter.ledger.engine.connect() as connection:
            return [dict(r._mapping)
                    for r in connection.execute(select(calls).order_by(calls.c.id))]

    return read
