"""queues.quicklist: `switchboard tickets` on an SQLite file with the standard library gives
the same rows as queues.ticketrows (SQLAlchemy Core) for every filter, and hands every
case it cannot answer (other URLs, a missing file, another schema revision) back as None."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from queues import quicklist, ticketrows
from queues.db import make_engine
from queues.migrate import upgrade
from queues.models import Contact, Queue, Ticket, TicketState, utcnow
from queues.seed import seed_queues


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A migrated SQLite file with tickets in two queues and three states, with and
    without requester, name and reasons (committed: the quick path opens its own
    connection)."""
    url = f"sqlite:///{tmp_path / 'quick.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
        queues = {q.slug: q.id for q in session.scalars(select(Queue))}
        alice = Contact(email="alice@example.net", name="Alice Ä.")
        nameless = Contact(email="bob@example.net", name=None)
        session.add_all([alice, nameless])
        session.flush()
        shapes = [
            ("general-help", TicketState.NEW, alice.id, []),
            ("specialist-safety", TicketState.OPEN, alice.id, ["threat: “I know where you live”"]),
            ("general-help", TicketState.CLOSED, None, None),
            ("general-help", TicketState.OPEN, nameless.id, []),
            ("police-liaison", TicketState.PENDING, alice.id, ["a", "b"]),
        ]
        for i, (slug, state, requester, reasons) in enumerate(shapes):
            session.add(
                Ticket(
                    number=f"2026120400{i:04d}",
                    subject=f"Subject {i} ünïcode 'quoted' \"too\"",
                    queue_id=queues[slug],
                    state=state,
                    priority=1 + i % 5,
                    requester_id=requester,
                    triage_reasons=reasons,
                    created_at=utcnow(),
                )
            )
    yield url, engine
    engine.dispose()


FILTERS: list[dict[str, object]] = [
    {},
    {"queue_slug": "general-help"},
    {"queue_slug": "police-liaison"},
    {"state": "open"},
    {"state": "closed", "queue_slug": "general-help"},
    {"limit": 2},
    {"limit": 1, "state": "open"},
    {"queue_slug": "specialist-safety", "state": "new"},
]


@pytest.mark.parametrize("where", FILTERS)
def test_the_same_rows_as_sqlalchemy_core(
    sqlite_file: tuple[str, Engine], where: dict[str, object]
) -> None:
    url, engine = sqlite_file
    with engine.connect() as conn:
        core = ticketrows.ticket_rows(conn, **where)  # type: ignore[arg-type]
    quick = quicklist.ticket_rows(url, **where)  # type: ignore[arg-type]
    assert quick == core
    if not where:
        assert len(quick) == 5 and quick[0]["number"] == "20261204000004"


def test_an_unknown_queue_is_an_error(sqlite_file: tuple[str, Engine]) -> None:
    url, _ = sqlite_file
    with pytest.raises(ticketrows.UnknownQueue):
        quicklist.ticket_rows(url, queue_slug="no-such-queue")


def test_another_schema_revision_is_left_to_sqlalchemy(sqlite_file: tuple[str, Engine]) -> None:
    url, _ = sqlite_file
    path = quicklist.sqlite_file(url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0014'")
    assert quicklist.ticket_rows(url) is None


def test_what_it_does_not_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert quicklist.ticket_rows(f"sqlite:///{missing}") is None
    assert not missing.exists()  # never created
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert quicklist.ticket_rows(f"sqlite:///{empty}") is None  # never initialized
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert quicklist.ticket_rows(f"sqlite:///{garbage}") is None  # SQLite's error: None
    for url in (
        "postgresql+psycopg://postgres@127.0.0.1/x",
        "sqlite://",
        "sqlite:///:memory:",
        f"sqlite:///{empty}?timeout=5",
        "sqlite:///a%20b.db",
    ):
        assert quicklist.sqlite_file(url) is None, url
        assert quicklist.ticket_rows(url) is None, url
    assert quicklist.sqlite_file("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert quicklist.sqlite_file("sqlite:///rel/x.db") == Path("rel/x.db")
    assert quicklist.sqlite_file("sqlite+pysqlite:///rel/x.db") == Path("rel/x.db")
