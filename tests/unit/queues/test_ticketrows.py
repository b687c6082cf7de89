"""queues.ticketrows: the Core-only ticket list equals the ORM's summaries, and its light
table declarations match the models' tables; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import ticketrows
from queues.models import Base, Contact, Queue, Ticket, TicketState, utcnow
from queues.present import ticket_summary
from queues.seed import seed_queues


@pytest.fixture
def filled(factory: sessionmaker[Session]) -> list[str]:
    """Tickets in two queues and three states, with and without requester and reasons."""
    with factory.begin() as session:
        seed_queues(session)
        queues = {q.slug: q.id for q in session.scalars(select(Queue))}
        alice = Contact(email="alice@example.net", name="Alice Ä.")
        session.add(alice)
        session.flush()
        shapes = [
            ("general-help", TicketState.NEW, alice.id, []),
            ("specialist-safety", TicketState.OPEN, alice.id, ["threat: “I know where you live”"]),
            ("general-help", TicketState.CLOSED, None, []),
            ("general-help", TicketState.OPEN, alice.id, []),
        ]
        for i, (slug, state, requester, reasons) in enumerate(shapes):
            session.add(
                Ticket(
                    number=f"2026120400{i:04d}",
                    subject=f"Subject {i} ünïcode",
                    queue_id=queues[slug],
                    state=state,
                    priority=3 + i % 2,
                    requester_id=requester,
                    triage_reasons=reasons,
                    created_at=utcnow(),
                )
            )
    return [f"2026120400{i:04d}" for i in range(4)]


def orm_rows(factory: sessionmaker[Session], **where: object) -> list[dict[str, object]]:
    with factory() as session:
        stmt = select(Ticket).order_by(Ticket.id.desc())
        for name, value in where.items():
            stmt = stmt.where(getattr(Ticket, name) == value)
        return [ticket_summary(t) for t in session.scalars(stmt)]


def core_rows(factory: sessionmaker[Session], **kw: object) -> list[dict[str, object]]:
    with factory() as session:
        return ticketrows.ticket_rows(session.connection(), **kw)  # type: ignore[arg-type]


def test_the_list_equals_the_orm_summaries(
    factory: sessionmaker[Session], filled: list[str]
) -> None:
    every = core_rows(factory)
    assert [r["number"] for r in every] == filled[::-1]  # newest first
    assert every == orm_rows(factory)
    with factory() as session:
        general = session.scalars(select(Queue.id).where(Queue.slug == "general-help")).one()
    assert core_rows(factory, queue_slug="general-help") == orm_rows(factory, queue_id=general)
    assert core_rows(factory, state="open") == orm_rows(factory, state=TicketState.OPEN)
    assert core_rows(factory, limit=2) == orm_rows(factory)[:2]
    assert core_rows(factory, queue_slug="police-liaison") == []


def test_an_unknown_queue_is_an_error(factory: sessionmaker[Session], filled: list[str]) -> None:
    with pytest.raises(ticketrows.UnknownQueue):
        core_rows(factory, queue_slug="no-such-queue")


def test_the_light_tables_match_the_models() -> None:
    for light in (ticketrows.TICKETS, ticketrows.QUEUES, ticketrows.CONTACTS):
        real = Base.metadata.tables[light.name]
        for col in light.columns:
            assert col.name in real.columns, (light.name, col.name)
            real_type = real.columns[col.name].type
            # Same Python values: JSON as JSON, the UTC datetime decorator as itself; a
            # string-stored enum reads as its string.
            expected = type(real_type).__name__
            if expected in ("Enum", "String", "Text"):
                assert type(col.type).__name__ in ("String", "Text"), col
            elif expected in ("BigInteger", "Integer"):
                assert type(col.type).__name__ == "Integer", col
            else:
                assert type(col.type).__name__ == expected, col
