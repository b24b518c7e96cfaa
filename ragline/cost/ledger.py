"""The cost ledger: one row per model call, in a SQLite file or in PostgreSQL.

Every call a query makes (generation, embedding, reranking, judging, routing...) is
recorded with its token counts, its price, its latency and who asked for it, so a query's
cost can be shown next to its answer and spending can be reported by model, route, tenant,
stage or day. Each :meth:`Ledger.record` is one transaction: a crash leaves the call
recorded or absent, never half-written.

Money is stored as whole nano-dollars (``BIGINT``): exact and summable in SQL on both
backends; a cost with more than nine decimal places is rounded half-even. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    exc,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from ragline.config import Settings
from ragline.cost.schema import LazySchema, database_errors
from ragline.errors import ConfigError
from ragline.redact import redact
from ragline.types import QueryCost, Usage

SQLITE_BUSY_TIMEOUT_MS = 10_000


def usd_to_nanos(usd: Decimal) -> int:
    """Return ``usd`` as a whole number of nano-dollars, rounded half-even."""
    return int(usd.scaleb(9).to_integral_value(ROUND_HALF_EVEN))


def nanos_to_usd(nanos: int | Decimal) -> Decimal:
    """Return a whole number of nano-dollars as exact USD."""
    return Decimal(nanos).scaleb(-9)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend; naive values are taken as UTC.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as ISO text, so
    text comparison and ``date(ts)`` stay correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (dropping the zone on SQLite, whose column has none)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class NanoUSD(TypeDecorator[Decimal]):
    """USD as exact :class:`~decimal.Decimal` in Python, whole nano-dollars in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        """Store nano-dollars."""
        return None if value is None else usd_to_nanos(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Read nano-dollars (or a SQL sum of them) back as USD."""
        return None if value is None else nanos_to_usd(value)


metadata = MetaData()

_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cache_write_1h_tokens")

calls = Table(
    "ragline_calls",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("ts", UtcDateTime(), nullable=False),
    Column("query_id", String),
    Column("session", String),
    Column("tenant", String, nullable=False),
    Column("api_key", String),
    Column("stage", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("model", String, nullable=False),
    Column("route_reason", String),
    *(Column(name, BigInteger, nullable=False) for name in _TOKENS),
    Column("estimated", Boolean, nullable=False),
    Column("cost_usd", NanoUSD()),
    Column("savings_usd", NanoUSD()),
    Column("latency_ms", Float, nullable=False),
    Column("cache", String, nullable=False),
    Column("error", Text),
    CheckConstraint(" AND ".join(f"{name} >= 0" for name in _TOKENS),
                    name="ragline_calls_tokens_not_negative"),
    CheckConstraint("cache_write_1h_tokens <= cache_write_tokens",
                    name="ragline_calls_1h_writes_within_writes"),
    Index("ix_ragline_calls_ts", "ts"),
    Index("ix_ragline_calls_query_id", "query_id"),
    Index("ix_ragline_calls_tenant", "tenant"),
)
"""The ledger table: one row per model call; ``cost_usd`` NULL means the price was unknown."""


INGEST_ID_PREFIX = "ingest-"
"""Query ids of ingest runs start with this: their calls are recorded, but they are not queries."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord(Usage):
    """One model call as the ledger stores it: its :class:`~ragline.types.Usage` (the token
    counts and ``estimated``, same fields, same meaning) and who, what and how much.

    ``cost_usd`` None means the model's price is unknown (never recorded as free);
    ``savings_usd`` is what prompt caching saved (negative when writes cost more than
    reads saved). Both are :class:`~decimal.Decimal`, stored as whole nano-dollars
    (rounded half-even); an ``int`` or a decimal string is exact too, and a ``float`` is
    taken at its exact binary value, never through its text. ``api_key`` is a
    caller-given key id or label, never a secret. ``error`` and ``route_reason`` are stored
    redacted (:func:`ragline.redact.redact`): an upstream error that echoes a key is stored
    masked. ``cache`` says how a response cache answered: ``off``, ``hit``, ``miss``,
    ``semantic``... ``ts`` defaults to now, UTC. Build one from a call's usage with
    :meth:`of`.
    """

    stage: str
    provider: str
    model: str
    cost_usd: Decimal | None
    savings_usd: Decimal | None = None
    latency_ms: float = 0.0
    query_id: str | None = None
    session: str | None = None
    tenant: str = "default"
    api_key: str | None = None
    route_reason: str | None = None
    cache: str = "off"
    error: str | None = None
    ts: datetime = field(default_factory=_now)

    @classmethod
    def of(cls, usage: Usage, **call: Any) -> CallRecord:
        """The record of a call that used ``usage``; ``call`` gives the other fields."""
        return cls(**{name: getattr(usage, name) for name in _USAGE_FIELDS}, **call)

    @property
    def usage(self) -> Usage:
        """The call's token counts, as a plain :class:`~ragline.types.Usage`."""
        return Usage(**{name: getattr(self, name) for name in _USAGE_FIELDS})


_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


def _usd(value: Decimal | int | float | str | None) -> Decimal | None:
    """Money as Decimal: an int or a decimal string exactly, a float (from a caller, never
    from ragline) at its exact binary value."""
    if value is None or isinstance(value, Decimal):
        return value
    problem = f"a ledger amount is a Decimal number of USD, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(problem)
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise ValueError(problem) from error
    if not amount.is_finite():
        raise ValueError(problem)
    return amount


def _row(call: CallRecord) -> dict[str, Any]:
    return {
        "ts": call.ts, "query_id": call.query_id, "session": call.session,
        "tenant": call.tenant, "api_key": call.api_key, "stage": call.stage,
        "provider": call.provider, "model": call.model,
        "route_reason": None if call.route_reason is None else redact(call.route_reason),
        **{name: getattr(call, name) for name in _TOKENS},
        "estimated": call.estimated, "cost_usd": _usd(call.cost_usd),
        "savings_usd": _usd(call.savings_usd), "latency_ms": call.latency_ms,
        "cache": call.cache, "error": None if call.error is None else redact(call.error),
    }


_COLUMNS = tuple(column.name for column in calls.columns if column.name != "id")


class _PreparedInsert:
    """The ledger's INSERT, compiled once for a dialect, with each column's bind conversion.

    Recording runs the driver-level statement directly: no per-call compilation, no
    reflection; the conversions are the column types' own (UTC, nano-dollars...).
    """

    def __init__(self, dialect: Dialect) -> None:
        compiled = calls.insert().compile(dialect=dialect, column_keys=list(_COLUMNS))
        self.sql = str(compiled)
        self._order = compiled.positiontup  # None when the driver takes named parameters
        self._convert = [(name, calls.c[name].type.bind_processor(dialect))
                         for name in _COLUMNS]

    def params(self, call: CallRecord) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for one call."""
        row = _row(call)
        converted = {name: row[name] if convert is None else convert(row[name])
                     for name, convert in self._convert}
        return converted if self._order is None else tuple(converted[k] for k in self._order)


def _parse_url(url: str, setting: str) -> URL:
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ConfigError(
            f"{setting} {url!r} is not a database URL; use sqlite:///path/file.sqlite "
            "or postgresql+psycopg://user@host:5432/db") from error
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{setting}: ragline keeps its records in sqlite or postgresql, not "
                          f"{backend!r} ({parsed.render_as_string(hide_password=True)})")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def sqlite_under_home(home: Path | str, file_name: str) -> str:
    """The URL of the SQLite file ``file_name`` under ``home``, the folder created;
    :class:`ConfigError` naming ``home`` when it cannot be."""
    folder = Path(home).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"home: cannot create {folder} ({exc.strerror or exc}); set RAGLINE_HOME or "
            "`home:` to a folder you may write to") from exc
    return f"sqlite:///{folder / file_name}"


def open_engine(url: str, *, setting: str = "cost.ledger_url") -> Engine:
    """Return an engine for a database URL: a SQLite file (WAL, synchronous=NORMAL, busy
    timeout) or PostgreSQL through psycopg 3 (``postgresql://`` means psycopg 3 too).

    ``sqlite://`` (in memory) shares one connection: for tests, not concurrent writers.
    Connects lazily; raises :class:`ConfigError`, naming ``setting`` (the key the URL came
    from), for a URL that is malformed, of another database, or whose driver is missing.
    """
    parsed = _parse_url(url, setting)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    try:
        engine = create_engine(parsed, **options)
    except (ImportError, exc.NoSuchModuleError) as error:
        raise ConfigError(
            f"{setting} {parsed.render_as_string(hide_password=True)!r} needs a driver "
            f"that is not installed ({error}); for PostgreSQL: pip install 'ragline[server]'"
        ) from error
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Ledger:
    """Records model calls and answers what a query cost.

    Thread-safe; the constructor does not connect, the table is created on first use.
    A database failure raises :class:`~ragline.errors.LedgerError`; the failed
    transaction is rolled back, so no row is half-written.
    """

    def __init__(self, url: str) -> None:
        self._engine = open_engine(url)
        self._insert = _PreparedInsert(self._engine.dialect)
        self._schema = LazySchema(metadata, "the ledger table")

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        """Open ``settings.cost.ledger_url``, or ``<settings.home>/ledger.sqlite`` (created).

        Raises :class:`ConfigError` naming ``home`` when that folder cannot be created.
        """
        if settings.cost.ledger_url:
            return cls(settings.cost.ledger_url)
        return cls(sqlite_under_home(settings.home, "ledger.sqlite"))

    @property
    def in_process(self) -> bool:
        """True for a SQLite file (a write touches only this machine: an event loop may make
        it); False for a database server, whose writes async callers make from a thread."""
        return self._engine.dialect.name == "sqlite"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, with the ledger table created."""
        return self._schema.ready(self._engine)

    def record(self, call: CallRecord) -> None:
        """Store one call in its own transaction."""
        params = self._insert.params(call)
        with database_errors(self._engine, "record a call"), \
                self.engine.begin() as connection:
            connection.exec_driver_sql(self._insert.sql, params)

    def record_many(self, records: Iterable[CallRecord]) -> int:
        """Store several calls in one transaction (all or none); return how many."""
        rows = [self._insert.params(call) for call in records]
        if rows:
            with database_errors(self._engine, "record calls"), \
                    self.engine.begin() as connection:
                connection.exec_driver_sql(self._insert.sql, rows)
        return len(rows)

    def query_cost(self, query_id: str) -> QueryCost:
        """Return what the calls recorded under ``query_id`` cost, in total and per stage.

        The total (and a stage's sum) is None when any of its calls had an unknown price;
        ``unpriced`` names those models. A query with no calls costs 0. The sums are exact
        (Decimal); :class:`~ragline.types.QueryCost` shows them as floats, for display and
        JSON (see docs/costs.md).
        """
        columns = [calls.c.stage, calls.c.model, calls.c.cost_usd,
                   *(calls.c[name] for name in _TOKENS[:4])]
        with database_errors(self._engine, "read a query's calls"), \
                self.engine.connect() as connection:
            rows = connection.execute(
                select(*columns).where(calls.c.query_id == query_id).order_by(calls.c.id)
            ).all()
        by_stage: dict[str, Decimal | None] = {}
        unpriced: set[str] = set()
        for row in rows:
            if row.cost_usd is None:
                unpriced.add(row.model)
            seen = by_stage.get(row.stage, Decimal(0))
            by_stage[row.stage] = (None if seen is None or row.cost_usd is None
                                   else seen + row.cost_usd)
        total = None if unpriced else sum((row.cost_usd for row in rows), Decimal(0))
        return QueryCost(
            total_usd=None if total is None else float(total),
            by_stage={stage: None if usd is None else float(usd)
                      for stage, usd in by_stage.items()},
            calls=len(rows),
            input_tokens=sum(row.input_tokens for row in rows),
            output_tokens=sum(row.output_tokens for row in rows),
            cache_read_tokens=sum(row.cache_read_tokens for row in rows),
            cache_write_tokens=sum(row.cache_write_tokens for row in rows),
            unpriced=tuple(sorted(unpriced)),
        )

    def close(self) -> None:
        """Close every pooled connection; the ledger reconnects if used again."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self._engine.url.render_as_string(hide_password=True)!r})"
