"""Ledger fixtures: a SQLite file per test, and a fresh PostgreSQL schema per test.

PostgreSQL comes from ``RAGLINE_TEST_POSTGRES_URL`` (default: the local trust-auth server
``make test`` starts). When it does not answer, the PostgreSQL tests fail, loudly: they
are part of the suite, not optional extras.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ragline.cost.ledger import Ledger

# Read at import: the suite-wide autouse fixture hides RAGLINE_* variables from each test.
POSTGRES_URL = os.environ.get("RAGLINE_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test server; fails the test when the server does not answer."""
    engine = create_engine(POSTGRES_URL, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL is not answering at {where}: {exc.orig}\n"
                    "Start it with scripts/ensure-postgres.sh (`make test` does), or point "
                    "RAGLINE_TEST_POSTGRES_URL at a server.", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_url(postgres_admin: Engine) -> Iterator[str]:
    """The test server's URL with ``search_path`` set to a new schema, dropped afterwards."""
    schema = f"ragline_test_{uuid.uuid4().hex[:16]}"
    with postgres_admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgres_admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite ledger file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty ledger database, once per backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """An empty ledger, once per backend, closed afterwards."""
    with Ledger(ledger_url) as opened:
        yield opened
