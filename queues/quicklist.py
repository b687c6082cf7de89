"""The ticket list of `switchboard tickets` on SQLite, read with the standard library alone.

Its one job: answer the operator's quickest look at the queue without importing SQLAlchemy,
which costs a command more than the rest of its start together (bench/README.md, "Start-up
of the command"). It reads an SQLite file named by a plain `sqlite:///PATH` URL, only when
the stored schema revision is the one this code knows; in every other case (PostgreSQL, an
URL with options, a missing or old database, any SQLite error) it answers None and the
command asks `queues.ticketrows` (SQLAlchemy Core), whose errors are the command's. The
SQL below is that module's statement written out; tests/unit/queues/test_quicklist.py
checks that both give the same rows for every filter.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from queues.schemaversion import HEAD_REVISION
from queues.ticketsummary import UnknownQueue, summary

_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")
_SELECT = (
    "SELECT t.number, t.subject, q.slug, t.state, t.priority, t.created_at, c.email, c.name,"
    " t.triage_reasons FROM tickets AS t JOIN queues AS q ON q.id = t.queue_id"
    " LEFT OUTER JOIN contacts AS c ON c.id = t.requester_id"
)
_BUSY_SECONDS = 10.0  # as queues.db's busy_timeout: a writer may hold the lock a moment


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (`sqlite:///relative` or `sqlite:////absolute`), else
    None: other backends, memory databases and URLs with options or escapes are left to
    SQLAlchemy, which reads them by its own rules."""
    prefix = next((p for p in _PREFIXES if url.startswith(p)), None)
    if prefix is None:
        return None
    path = url[len(prefix) :]
    if not path or path == ":memory:" or any(ch in path for ch in "?%#"):
        return None
    return Path(path)


def ticket_rows(
    url: str, queue_slug: str | None = None, state: str | None = None, limit: int = 0
) -> list[dict[str, Any]] | None:
    """As `queues.ticketrows.ticket_rows`, or None when this path cannot answer."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        # mode=rw: never creates the file (that is `switchboard init`'s job).
        uri = f"file:{quote(str(path.resolve()))}?mode=rw"
        # closing(): sqlite3's connection as a context manager commits, it does not close.
        with closing(sqlite3.connect(uri, uri=True, timeout=_BUSY_SECONDS)) as conn:
            if not _current(conn):
                return None
            return _rows(conn, queue_slug, state, limit)
    except sqlite3.Error:
        return None


def _current(conn: sqlite3.Connection) -> bool:
    # A database never initialized has no such table: sqlite3.Error, None to the caller.
    revisions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    return revisions == [HEAD_REVISION]


def _rows(
    conn: sqlite3.Connection, queue_slug: str | None, state: str | None, limit: int
) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    if queue_slug:
        if conn.execute("SELECT id FROM queues WHERE slug = ?", (queue_slug,)).fetchone() is None:
            raise UnknownQueue(queue_slug)
        where.append("q.slug = ?")
        params.append(queue_slug)
    if state:
        where.append("t.state = ?")
        params.append(state)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.id DESC"
    if limit > 0:
        sql += " LIMIT ?"
        params.append(limit)
    return [
        summary(
            number=number,
            subject=subject,
            queue=slug,
            state=state_value,
            priority=priority,
            created_at=_utc(created_at),
            requester_email=email,
            requester_name=name,
            reasons=json.loads(reasons) if reasons is not None else None,
        )
        for (
            number,
            subject,
            slug,
            state_value,
            priority,
            created_at,
            email,
            name,
            reasons,
        ) in conn.execute(sql, params)
    ]


def _utc(stored: str) -> datetime:
    """SQLAlchemy's SQLite text for a datetime (no offset: it was stored in UTC)."""
    value = datetime.fromisoformat(stored)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
