"""Shared fixtures: a migrated database per backend per session, a rolled-back transaction per test.

Every database test runs on SQLite and on PostgreSQL. PostgreSQL comes from the server
that runs on 127.0.0.1:5432 (it refuses to run as root, so tests never start one); the
test session creates its own database there and drops it at the end. Without the server
those tests skip, unless SWITCHBOARD_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from queues.db import make_engine, make_sessionmaker
from queues.migrate import upgrade
from queues.seed import seed_queues
from queues.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "SWITCHBOARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("SWITCHBOARD_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip, or fail when CI says every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def _migrated(engine: Engine) -> Engine:
    upgrade(engine)
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
    return engine


@dataclass
class SqliteFile:
    """A migrated SQLite file of one test: the writers' sessions take the write lock up
    front (BEGIN IMMEDIATE), the readers' start deferred, as `work` and `serve` make them."""

    url: str
    engine: Engine
    factory: sessionmaker[Session]
    readers: sessionmaker[Session]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[SqliteFile]:
    url = f"sqlite:///{tmp_path / 'switchboard.db'}"
    engine = _migrated(make_engine(url))
    reader = make_engine(url, sqlite_immediate=False)
    yield SqliteFile(url, engine, make_sessionmaker(engine), make_sessionmaker(reader))
    reader.dispose()
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "test.db"
    engine = _migrated(make_engine(f"sqlite:///{path}"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = "switchboard_test_" + uuid.uuid4().hex[:10]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing(f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards (for code that commits in other
    threads or processes, where the rolled-back `factory` cannot be used). Call it after
    `pg_database_url` has made sure the server answers."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    engine = _migrated(make_engine(pg_database_url))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    result: Engine = request.getfixturevalue(name)
    return result


@pytest.fixture
def factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to one outer transaction that is rolled back after the test.

    Code under test commits as usual: each commit only releases a SAVEPOINT.
    """
    connection = engine.connect()
    outer = connection.begin()
    yield sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    outer.rollback()
    connection.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Triage by the lexicon alone: what tests of other features check must not hang on the
    # wording model's judgement of their invented reports (it has its own tests, which
    # switch it on: tests/unit/queues/test_triage_model*.py).
    return Settings(
        var_dir=tmp_path / "var",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        own_addresses=("noreply@example.org",),
        database_url="sqlite://",
        triage_model=False,
    )


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real-world corpus, copied from the team's shared one into tests/data (licences
    included)."""
    corpus = Path(
        os.environ.get("SWITCHBOARD_CORPUS", Path(__file__).resolve().parent / "data" / "corpus")
    )
    if not corpus.is_dir():
        service_missing(f"the real-world corpus is not at {corpus}")
    return corpus
