"""What the ledger, the budget counters and the API key store share about their database:
tables created lazily, once, on first use, and database failures reported as
:class:`~ragline.errors.StoreUnavailable` (:class:`LedgerError` for the ledger's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, MetaData, exc

from ragline.errors import LedgerError, StoreUnavailable


def create_tables(engine: Engine, tables: MetaData) -> None:
    """Create ``tables`` where missing; tolerates another process creating them at once."""
    try:
        tables.create_all(engine)
    except exc.DatabaseError:
        tables.create_all(engine)  # lost a race with a concurrent creator: now they exist


@contextmanager
def database_errors(engine: Engine, action: str, *, store: str = "cost ledger",
                    error: type[StoreUnavailable] = LedgerError) -> Iterator[None]:
    """Turn a database failure inside the block into ``error`` naming the ``store``, its
    database and the ``action``."""
    try:
        yield
    except exc.SQLAlchemyError as failure:
        where = engine.url.render_as_string(hide_password=True)
        reason = getattr(failure, "orig", None) or failure
        raise error(f"{store} {where}: could not {action}: {reason}") from failure


class LazySchema:
    """``tables``, created in a database the first time :meth:`ready` is asked for it.

    One instance per holder (a :class:`~ragline.cost.ledger.Ledger`, a
    :class:`~ragline.cost.budgets.BudgetGuard`): constructors never connect, and after the
    first successful creation no call takes the lock again. Thread-safe; a failure raises
    ``error`` naming ``store`` and ``what`` and is retried on the next call.
    """

    def __init__(self, tables: MetaData, what: str, *, store: str = "cost ledger",
                 error: type[StoreUnavailable] = LedgerError) -> None:
        self._tables = tables
        self._what = what
        self._store = store
        self._error = error
        self._lock = threading.Lock()
        self._ready = False

    def ready(self, engine: Engine) -> Engine:
        """``engine``, with the tables created in its database."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    with database_errors(engine, f"create {self._what}", store=self._store,
                                         error=self._error):
                        create_tables(engine, self._tables)
                    self._ready = True
        return engine
