"""Shared pieces of the rota and on-call tests: agents, queues and shifts made directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.models import Queue, Role, Ticket, User
from queues.team.rota import ShiftSpec, define_shift, sign_up
from queues.team.rota_models import DUTY, Shift

# A Monday well before any week the tests look at, so sign-ups from it are in the future.
BEFORE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def queue(session: Session, slug: str) -> Queue:
    return session.scalars(select(Queue).where(Queue.slug == slug)).one()


def agent(
    session: Session,
    email: str,
    role: Role = Role.SPECIALIST,
    timezone: str = "UTC",
    name: str = "",
) -> User:
    user = User(email=email, name=name, role=role, password_hash="x", timezone=timezone)
    session.add(user)
    session.flush()
    return user


def staff(session: Session, email: str = "boss@example.org") -> User:
    return agent(session, email, Role.STAFF)


def weekly(
    session: Session,
    boss: User,
    slug: str,
    weekday: int,
    start: time,
    end: time,
    timezone: str = "UTC",
    needed: int = 1,
    name: str = "",
) -> Shift:
    spec = ShiftSpec(queue(session, slug).id, name, weekday, None, start, end, timezone, needed)
    return define_shift(session, spec, boss, BEFORE)


def once(
    session: Session,
    boss: User,
    slug: str,
    on_date: date,
    start: time,
    end: time,
    timezone: str = "UTC",
    needed: int = 1,
) -> Shift:
    spec = ShiftSpec(queue(session, slug).id, "", None, on_date, start, end, timezone, needed)
    return define_shift(session, spec, boss, BEFORE)


def on(
    session: Session, user: User, shift: Shift, role: str = DUTY, first: date | None = None
) -> None:
    sign_up(session, user, shift.id, role, first or BEFORE.date(), BEFORE)


def ticket(session: Session, slug: str, number: str, created_at: datetime) -> Ticket:
    t = Ticket(
        number=number,
        subject="He said he will hurt me tonight",
        queue_id=queue(session, slug).id,
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(t)
    session.flush()
    return t
