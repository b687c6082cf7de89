"""Shared pieces of the team tests (applications, vetting, checklist, probation, leaving,
two-factor): a session on the rolled-back test database, a team, a ticket that came in as
mail through the real ingest, and a controlled clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import OutboxMessage, Queue, Role, Ticket, User
from queues.settings import Settings
from queues.team.models import AgentProfile
from tests.unit.queues.builders import FakeGate, make_mail

# A fixed moment, so that expiry and time steps are decided by the test, not the clock.
T0 = datetime(2026, 12, 4, 9, 0, 0, tzinfo=UTC)


@dataclass
class Team:
    staff: User
    mentor: User
    novice: User  # on probation, mentored by `mentor`
    veteran: User  # a volunteer not on probation
    specialist: User


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Session:
    return factory()


@pytest.fixture
def team(session: Session) -> Team:
    def user(name: str, role: Role) -> User:
        found = User(email=f"{name}@example.org", name=name.capitalize(), role=role)
        found.password_hash = "x"
        session.add(found)
        return found

    team = Team(
        staff=user("stella", Role.STAFF),
        mentor=user("mona", Role.VOLUNTEER),
        novice=user("nico", Role.VOLUNTEER),
        veteran=user("vera", Role.VOLUNTEER),
        specialist=user("spike", Role.SPECIALIST),
    )
    session.flush()
    session.add(
        AgentProfile(
            user_id=team.novice.id,
            vetted_by=team.staff.email,
            vetted_at=T0,
            mentor_id=team.mentor.id,
            on_probation=True,
            probation_started_at=T0,
        )
    )
    session.flush()
    return team


def mail_ticket(factory: sessionmaker[Session], settings: Settings, session: Session) -> Ticket:
    """A general-help ticket made from mail by the real ingest."""
    outcome = FakeGate(factory, settings).send(
        make_mail(
            subject="Rude comments under my photos",
            body="Hello, a user keeps leaving rude comments under my photos. What can I do?",
        )
    )
    ticket = session.scalar(select(Ticket).where(Ticket.number == outcome.ticket_number))
    assert ticket is not None
    # Whatever triage judges of the invented wording, these tests need a general-help ticket.
    general = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
    if ticket.queue_id != general.id:
        ticket.queue_id = general.id
        session.flush()
        session.refresh(ticket)
    return ticket


def outbox(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        stmt = stmt.where(OutboxMessage.kind == kind)
    return list(session.scalars(stmt))
