"""Status links: unguessable (160 bits), stored hashed, revocable; the page's data is the
state as the reporter knows it and nothing else."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import Queue, Ticket, TicketState
from queues.reporter import statuslink
from queues.reporter.models import StatusToken
from queues.reporter.statuslink import ReporterState


def a_ticket(session: Session, number: str, **fields: object) -> Ticket:
    queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
    ticket = Ticket(number=number, subject="secret words", queue_id=queue.id, **fields)
    session.add(ticket)
    session.flush()
    return ticket


def test_tokens_are_long_random_and_stored_hashed(factory: sessionmaker[Session]) -> None:
    tokens = {statuslink.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == statuslink.TOKEN_LENGTH and statuslink.well_formed(t) for t in tokens)
    assert statuslink.TOKEN_BYTES * 8 >= 128
    with factory.begin() as session:
        ticket = a_ticket(session, "2026120700001")
        url = statuslink.link(session.connection(), ticket.id, "https://help.example.org/")
        token = url.rsplit("/", 1)[1]
        assert url == f"https://help.example.org/status/{token}"
        stored = session.scalars(select(StatusToken.token_sha256)).all()
        assert token not in stored and statuslink.token_hash(token) in stored
        assert statuslink.link(session.connection(), ticket.id, "") == ""  # no base: no link


def test_revoked_unknown_and_malformed_tokens_open_nothing(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        ticket = a_ticket(session, "2026120700002")
        first = statuslink.issue(session.connection(), ticket.id)
        second = statuslink.issue(session.connection(), ticket.id)
        assert statuslink.ticket_of(session, first) is ticket
        assert statuslink.live_links(session.connection(), ticket.id) == 2
        assert statuslink.revoke(session.connection(), ticket.id, "staff@example.org") == 2
        assert statuslink.ticket_of(session, first) is None
        assert statuslink.ticket_of(session, second) is None
        assert statuslink.ticket_of(session, "x" * statuslink.TOKEN_LENGTH) is None
        assert statuslink.ticket_of(session, "../../etc/passwd") is None
        fresh = statuslink.issue(session.connection(), ticket.id)  # a new one works again
        assert statuslink.ticket_of(session, fresh) is ticket


def test_the_page_shows_the_state_only(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        ticket = a_ticket(session, "2026120700003", language="fr")
        token = statuslink.issue(session.connection(), ticket.id)
        view = statuslink.view(session, token)
        assert view is not None
        # Plain data, no subject, no owner, no queue.
        assert {f.name for f in dataclasses.fields(view)} == {
            "ticket_id",
            "number",
            "state",
            "language",
        }
        assert (view.number, view.state, view.language) == ("2026120700003", "received", "fr")
        cases = [
            (TicketState.OPEN, None, ReporterState.HANDLED),
            (TicketState.NEW, None, ReporterState.RECEIVED),
            (TicketState.PENDING, None, ReporterState.WAITING),
            (TicketState.CLOSED, None, ReporterState.CLOSED),
        ]
        for state, owner, expected in cases:
            ticket.state, ticket.owner_id = state, owner
            assert statuslink.reporter_state(ticket) is expected


def test_a_merged_ticket_shows_where_its_messages_are(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        target = a_ticket(session, "2026120700005", state=TicketState.PENDING)
        source = a_ticket(
            session, "2026120700004", state=TicketState.CLOSED, merged_into_id=target.id
        )
        token = statuslink.issue(session.connection(), source.id)
        view = statuslink.view(session, token)
        assert view is not None
        assert (view.number, view.state) == ("2026120700004", ReporterState.WAITING)
