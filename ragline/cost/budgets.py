"""Spending limits per tenant and per API key, enforced atomically across processes.

A :class:`BudgetGuard` keeps one counter row per (scope, key, period, period start) in
``ragline_budget_spend``, beside the ledger. Before a model call, :meth:`BudgetGuard.reserve`
books the call's estimated dollars and tokens on every counter a limit applies to, in one
transaction of conditional updates (``SET spent = spent + x WHERE spent + x <= limit``): the
booking either fits every limit and is kept, or raises
:class:`~ragline.errors.BudgetExceeded` and books nothing. Concurrent requests, threads or
processes, on SQLite or PostgreSQL, can therefore never admit more than a limit. After the
call, :meth:`~BudgetGuard.settle` replaces the estimate with the real spend, or
:meth:`~BudgetGuard.release` returns it when the call failed.

Periods are calendar days and months in UTC. Counters start when a limit first applies:
spending from before a limit existed is not counted against it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ragline.config import BudgetLimit, Settings
from ragline.cost.ledger import Ledger, nanos_to_usd, usd_to_nanos
from ragline.cost.schema import LazySchema, database_errors
from ragline.errors import BudgetExceeded

_metadata = MetaData()

spend = Table(
    "ragline_budget_spend",
    _metadata,
    Column("scope", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("period", String, primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("spent_nanousd", BigInteger, nullable=False),
    Column("spent_tokens", BigInteger, nullable=False),
)
"""Booked spend per counter, in nano-dollars and tokens."""

Counter = tuple[str, str, str, date]  # scope, key, period, period_start
_NO_LIMIT = 2**62  # stands in for an absent dollar or token limit in the booking statement

_THIS_COUNTER = and_(spend.c.scope == bindparam("c_scope"), spend.c.key == bindparam("c_key"),
                     spend.c.period == bindparam("c_period"),
                     spend.c.period_start == bindparam("c_period_start"))
_ADD = {"spent_nanousd": spend.c.spent_nanousd + bindparam("nanos", type_=BigInteger),
        "spent_tokens": spend.c.spent_tokens + bindparam("tokens", type_=BigInteger)}
_ADJUST = update(spend).where(_THIS_COUNTER).values(_ADD)
_BOOK = update(spend).where(
    _THIS_COUNTER,
    spend.c.spent_nanousd + bindparam("nanos", type_=BigInteger) <= bindparam("max_nanos"),
    spend.c.spent_tokens + bindparam("tokens", type_=BigInteger) <= bindparam("max_tokens"),
).values(_ADD)
_READ = select(spend.c.spent_nanousd, spend.c.spent_tokens).where(_THIS_COUNTER)
_NEW_COUNTER = {"scope": bindparam("c_scope"), "key": bindparam("c_key"),
                "period": bindparam("c_period"), "period_start": bindparam("c_period_start"),
                "spent_nanousd": 0, "spent_tokens": 0}
_INSERT_MISSING = {
    "postgresql": postgresql.insert(spend).values(_NEW_COUNTER).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(spend).values(_NEW_COUNTER).on_conflict_do_nothing(),
}


@dataclass(frozen=True, slots=True)
class Reservation:
    """Spend booked by :meth:`BudgetGuard.reserve`, to be settled or released exactly once."""

    id: int
    counters: tuple[Counter, ...]
    usd: Decimal
    tokens: int


def _usd(value: Decimal | float) -> Decimal:
    """An amount as Decimal; a float (a caller's estimate) at its exact binary value, which
    the nano-dollar counters then round half-even, never through its text."""
    return value if isinstance(value, Decimal) else Decimal(value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _period_start(period: str, now: datetime) -> date:
    today = now.astimezone(UTC).date()
    return today if period == "day" else today.replace(day=1)


def _period_end(period: str, start: date) -> date:
    if period == "day":
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _subject(limit: BudgetLimit, tenant: str, api_key: str | None) -> str | None:
    subject = tenant if limit.scope == "tenant" else api_key
    if subject is None or limit.key not in ("*", subject):
        return None
    return subject


class BudgetGuard:
    """Checks and books spending against ``limits`` in the ledger's database.

    ``store`` is a :class:`~ragline.cost.ledger.Ledger` or an engine from
    :func:`~ragline.cost.ledger.open_engine` (on SQLite its busy timeout lets concurrent
    bookings wait for each other instead of failing). ``clock`` returns the current time
    (aware, any zone); tests inject one to cross day and month boundaries. The
    constructor does not connect; the counter table is created on first use. Thread-safe.
    """

    def __init__(self, store: Ledger | Engine, limits: Sequence[BudgetLimit], *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._limits = tuple(limits)
        self._clock = clock
        self._ids = itertools.count(1)
        self._open: set[int] = set()
        self._lock = threading.Lock()
        self._schema = LazySchema(_metadata, "the budget counter table")

    @classmethod
    def from_settings(cls, settings: Settings, ledger: Ledger) -> BudgetGuard:
        """A guard over ``settings.budgets.limits``, keeping its counters in ``ledger``."""
        return cls(ledger, settings.budgets.limits)

    @property
    def in_process(self) -> bool:
        """True when the counters are in a SQLite file (an event loop may book them); False
        on a database server, where async callers book from a worker thread."""
        if isinstance(self._store, Ledger):
            return self._store.in_process
        return self._store.dialect.name == "sqlite"

    @property
    def _engine(self) -> Engine:
        engine = self._store.engine if isinstance(self._store, Ledger) else self._store
        return self._schema.ready(engine)

    def reserve(self, tenant: str, api_key: str | None, usd: Decimal | float,
                tokens: int) -> Reservation:
        """Book an estimated ``usd`` and ``tokens`` against every limit that applies.

        ``usd`` is best a :class:`~decimal.Decimal`; a float is taken at its exact value.
        A limit applies when its scope's subject (``tenant``, or ``api_key`` when given)
        equals its key or its key is ``"*"``. Raises :class:`BudgetExceeded` naming the
        first limit the booking would exceed, and then books nothing.
        """
        amount = _usd(usd)
        if amount < 0 or tokens < 0:
            raise ValueError(f"a reservation needs usd >= 0 and tokens >= 0, got {usd}, {tokens}")
        applicable = self._applicable(tenant, api_key)
        with self._lock:
            reservation = Reservation(next(self._ids), tuple(sorted(applicable)), amount, tokens)
        if applicable:
            nanos = usd_to_nanos(amount)
            with _write_transaction(self._engine) as connection:
                for counter in reservation.counters:
                    self._book(connection, counter, applicable[counter], nanos, tokens)
        with self._lock:
            self._open.add(reservation.id)
        return reservation

    def settle(self, reservation: Reservation, usd: Decimal | float | None,
               tokens: int) -> None:
        """Replace the reservation's estimate with what the call really spent.

        ``usd`` None (unknown price) keeps the estimated dollars; tokens are always
        replaced. The real spend is booked even past a limit: it was spent.
        """
        actual = None if usd is None else _usd(usd)
        usd_delta = 0 if actual is None else usd_to_nanos(actual) - usd_to_nanos(reservation.usd)
        self._adjust(reservation, usd_delta, tokens - reservation.tokens)

    def release(self, reservation: Reservation) -> None:
        """Return the whole reservation, for a call that failed before spending anything."""
        self._adjust(reservation, -usd_to_nanos(reservation.usd), -reservation.tokens)

    def spent(self, scope: str, key: str, period: str,
              at: datetime | None = None) -> tuple[Decimal, int]:
        """Return the (USD, tokens) booked on one counter for the period holding ``at``
        (default: now); zero when nothing was booked."""
        counter = (scope, key, period, _period_start(period, at or self._clock()))
        with self._engine.connect() as connection:
            row = connection.execute(_READ, _names(counter)).first()
        return (Decimal(0), 0) if row is None else (nanos_to_usd(row[0]), int(row[1]))

    def _applicable(self, tenant: str, api_key: str | None) -> dict[Counter, list[BudgetLimit]]:
        now = self._clock()
        found: dict[Counter, list[BudgetLimit]] = {}
        for limit in self._limits:
            subject = _subject(limit, tenant, api_key)
            if subject is not None:
                counter = (limit.scope, subject, limit.period, _period_start(limit.period, now))
                found.setdefault(counter, []).append(limit)
        return found

    def _book(self, connection: Connection, counter: Counter, limits: Sequence[BudgetLimit],
              nanos: int, tokens: int) -> None:
        names = _names(counter)
        connection.execute(_INSERT_MISSING[connection.dialect.name], names)
        max_nanos = min((usd_to_nanos(lim.usd) for lim in limits if lim.usd),
                        default=_NO_LIMIT)
        max_tokens = min((lim.tokens for lim in limits if lim.tokens), default=_NO_LIMIT)
        booked = connection.execute(_BOOK, {**names, "nanos": nanos, "tokens": tokens,
                                            "max_nanos": max_nanos, "max_tokens": max_tokens})
        if booked.rowcount != 1:
            row = connection.execute(_READ, names).one()
            raise _exceeded(counter, limits, int(row[0]), int(row[1]), nanos, tokens)

    def _adjust(self, reservation: Reservation, nanos: int, tokens: int) -> None:
        with self._lock:
            if reservation.id not in self._open:
                raise ValueError(f"reservation {reservation.id} was already settled or "
                                 "released, or comes from another BudgetGuard")
            self._open.discard(reservation.id)
        if not reservation.counters or (nanos == 0 and tokens == 0):
            return
        with _write_transaction(self._engine) as connection:
            connection.execute(_ADJUST, [{**_names(counter), "nanos": nanos, "tokens": tokens}
                                         for counter in reservation.counters])


@contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that takes SQLite's write lock up front (``BEGIN IMMEDIATE``);
    a database failure rolls it back and raises :class:`~ragline.errors.LedgerError`."""
    with database_errors(engine, "update the budget counters"), engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


def _names(counter: Counter) -> dict[str, object]:
    scope, key, period, start = counter
    return {"c_scope": scope, "c_key": key, "c_period": period, "c_period_start": start}


def _exceeded(counter: Counter, limits: Sequence[BudgetLimit], spent_nanos: int,
              spent_tokens: int, nanos: int, tokens: int) -> BudgetExceeded:
    scope, key, period, start = counter
    every = "day" if period == "day" else "month"
    limit, used = limits[0], "has reached its limit"
    for candidate in limits:
        if candidate.usd and spent_nanos + nanos > usd_to_nanos(candidate.usd):
            limit, used = candidate, (
                f"has spent ${nanos_to_usd(spent_nanos):.4f} of its ${candidate.usd:.4f} per "
                f"{every} and this call needs up to ${nanos_to_usd(nanos):.4f}")
            break
        if candidate.tokens and spent_tokens + tokens > candidate.tokens:
            limit, used = candidate, (
                f"has used {spent_tokens:,} of its {candidate.tokens:,} tokens per {every} "
                f"and this call needs up to {tokens:,}")
            break
    resets = f"{_period_end(period, start).isoformat()} 00:00 UTC"
    return BudgetExceeded(
        f"budget exceeded: {scope} {key!r} {used} (budgets.limits: scope {scope}, "
        f"key {limit.key!r}, period {period}); it resets at {resets}, or raise the limit",
        scope=scope, key=key, period=period)
