"""The database for the web UI: engines per app, one reading session per request, short writes.

A request reads through `session()`, which is closed at teardown. Writes go through
`writing()`: it first ends the request's read transaction (on SQLite a reader that later
writes can fail when mail arrived in between), then runs one short transaction of its
own, which on SQLite begins IMMEDIATE and so waits its turn behind the mail runners.
After it, the request's session sees what was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from queues.db import make_engine, make_sessionmaker

_EXTENSION = "switchboard.db"


@dataclass
class Database:
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]
    engines: list[Engine] = field(default_factory=list)

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


def _build(app: Flask) -> Database:
    given: sessionmaker[Session] | None = app.config.get("DB_SESSIONMAKER")
    if given is not None:
        return Database(given, given)
    url = app.config["DATABASE_URL"]
    # Pages only read, so their transactions start deferred and never queue behind the
    # mail runners; writes get an engine whose transactions take the write lock up front.
    reader = make_engine(url, sqlite_immediate=False)
    if reader.dialect.name != "sqlite":
        return Database(make_sessionmaker(reader), make_sessionmaker(reader), [reader])
    writer = make_engine(url)
    return Database(make_sessionmaker(reader), make_sessionmaker(writer), [reader, writer])


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = _build(app)
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions[_EXTENSION]
    return db


def session() -> Session:
    """This request's session (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = database().reads()
    current: Session = g.db_session
    return current


@contextmanager
def writing() -> Iterator[Session]:
    """A short transaction of its own, committed at the end of the block (or rolled back)."""
    reads = g.get("db_session")
    if reads is not None:
        if reads.new or reads.dirty or reads.deleted:
            # Objects read here are never written back: change them through this block.
            raise RuntimeError("changes made through the reading session would be lost")
        reads.commit()
    with database().writes.begin() as writer:
        yield writer
    if reads is not None:
        reads.expire_all()


def _close_session(_exc: BaseException | None) -> None:
    current: Session | None = g.pop("db_session", None)
    if current is not None:
        current.close()
