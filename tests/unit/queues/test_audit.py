"""The audit log: events for restricted tickets only, never content, clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.audit import AuditAction, record, ticket_audit_log
from queues.models import AuditEvent, Queue, Role, Ticket, User


@pytest.fixture
def world(factory: sessionmaker[Session]) -> dict[str, int]:
    ids = {}
    with factory.begin() as session:
        user = User(email="staff@example.org", role=Role.STAFF, password_hash="x")
        session.add(user)
        for queue in session.scalars(select(Queue)):
            ticket = Ticket(number=f"A-{queue.slug}", subject="very private", queue_id=queue.id)
            session.add(ticket)
            session.flush()
            ids[queue.slug] = ticket.id
        ids["user"] = user.id
    return ids


def test_restricted_tickets_are_audited(
    factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, world["user"])
        for slug in ("specialist-safety", "police-liaison"):
            ticket = session.get_one(Ticket, world[slug])
            event = record(session, user, AuditAction.VIEW, ticket, "2001:db8::1", "thread")
            assert event is not None
        ticket = session.get_one(Ticket, world["police-liaison"])
        record(session, user, "download", ticket, "192.0.2.4", "attachment 3")
    with factory() as session:
        ticket = session.get_one(Ticket, world["police-liaison"])
        log = ticket_audit_log(session, ticket)
    assert [(e.actor, e.action, e.client, e.detail) for e in log] == [
        ("staff@example.org", "view", "2001:db8::1", "thread"),
        ("staff@example.org", "download", "192.0.2.4", "attachment 3"),
    ]
    assert all(e.at.tzinfo is not None for e in log)


def test_ordinary_tickets_are_not_audited(
    factory: sessionmaker[Session], world: dict[str, int]
) -> None:
    with factory.begin() as session:
        user = session.get_one(User, world["user"])
        ticket = session.get_one(Ticket, world["general-help"])
        assert record(session, user, AuditAction.VIEW, ticket, "192.0.2.4") is None
        assert session.scalars(select(AuditEvent)).all() == []


def test_bad_input_is_refused(factory: sessionmaker[Session], world: dict[str, int]) -> None:
    with factory() as session:
        user = session.get_one(User, world["user"])
        ticket = session.get_one(Ticket, world["police-liaison"])
        with pytest.raises(ValueError, match="is not a valid AuditAction"):
            record(session, user, "peek", ticket, None)
        with pytest.raises(ValueError, match="not an IP address"):
            record(session, user, AuditAction.VIEW, ticket, "evil\r\nhost")
        with pytest.raises(ValueError, match="never content"):
            record(session, user, AuditAction.VIEW, ticket, None, "x" * 201)
        with pytest.raises(ValueError, match="one line"):
            record(session, user, AuditAction.VIEW, ticket, None, "a\nb")
        assert record(session, user, AuditAction.VIEW, ticket, None) is not None
