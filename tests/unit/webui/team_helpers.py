"""Helpers of the team's web tests (test_team, test_mentor): a browser signed in as any
account, a ticket that came in as mail through the real ingest, an agent on probation."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import OutboxMessage, Queue, Ticket, User
from queues.settings import Settings
from queues.team.models import AgentProfile
from tests.unit.queues.builders import FakeGate, make_mail
from webui import sessions


def signed_in_as(app: Flask, factory: sessionmaker[Session], user_id: int) -> FlaskClient:
    """A new browser with a session for this account (no password check: see conftest)."""
    client = app.test_client()
    with factory.begin() as session:
        user = session.get_one(User, user_id)
        token = sessions.start(session, user, "192.0.2.7", datetime.now(UTC))
    with client.session_transaction() as browser:
        browser["_user_id"] = token
        browser["_fresh"] = True
    return client


def mail_ticket(app: Flask, factory: sessionmaker[Session]) -> str:
    """A general-help ticket from mail (with a requester to answer); its number."""
    settings: Settings = app.config["SETTINGS"]
    outcome = FakeGate(factory, settings).send(
        make_mail(
            subject="Rude comments under my photos",
            body="Hello, a user keeps leaving rude comments under my photos. What can I do?",
            to=("help@localhost",),
        )
    )
    assert outcome.ticket_number is not None
    # Whatever triage judges of the invented wording, these tests need a general-help ticket.
    with factory.begin() as session:
        general = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        ticket.queue_id = general.id
    return outcome.ticket_number


def put_on_probation(factory: sessionmaker[Session], user_id: int, mentor_id: int) -> None:
    with factory.begin() as session:
        session.add(
            AgentProfile(
                user_id=user_id,
                vetted_by="staff@example.org",
                mentor_id=mentor_id,
                on_probation=True,
                probation_started_at=datetime.now(UTC),
            )
        )


def outbox_kinds(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def outbox_of(factory: sessionmaker[Session], kind: str) -> list[OutboxMessage]:
    with factory() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        return list(session.scalars(stmt))


def ticket_id(factory: sessionmaker[Session], number: str) -> int:
    with factory() as session:
        found = session.scalar(select(Ticket.id).where(Ticket.number == number))
    assert found is not None
    return found
