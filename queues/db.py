"""Database engines and sessions: SQLite tuned for durability, PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

if TYPE_CHECKING:  # the ORM is imported by those who use sessions (queues.ticketrows does not)
    from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Name the driver explicitly: a bare postgresql:// means psycopg2 in SQLAlchemy 2.0."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers work while a writer commits; synchronous=FULL makes a committed
    # transaction survive power loss, so an SMTP 250 given after commit is a promise kept.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling is disabled below; BEGIN IMMEDIATE takes the write
    # lock up front so two writers queue on busy_timeout instead of deadlocking on upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, sqlite_immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine for `url`; SQLite files get their directory and their pragmas.

    `sqlite_immediate=False` suits read-mostly processes (the web UI): their transactions
    start deferred and do not queue behind writers.
    """
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"isolation_level": None}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if sqlite_immediate:
            event.listen(engine, "begin", _sqlite_begin)
        else:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session if isinstance(engine_or_session, Engine) else engine_or_session.get_bind()
    )
    return bind.dialect.name == "postgresql"
