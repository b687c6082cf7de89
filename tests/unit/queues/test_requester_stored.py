"""Who wrote a message, when From is empty or broken: stored on the article and the ticket.

Through the real parser (mailgate.parser) and the whole ingest path, on SQLite and
PostgreSQL: a ticket without a requester address could never be answered.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.ingest import ingest_bytes
from queues.models import Article, ArticleKind, OutboxMessage, Ticket
from queues.settings import Settings

HEAD = (
    "To: help@example.org\r\nSubject: they found my address\r\n"
    "Message-ID: <{mid}@example.net>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
)


def _ingest(
    factory: sessionmaker[Session],
    settings: Settings,
    headers: str,
    envelope_from: str | None = None,
) -> Ticket:
    raw = (headers + "\r\nPlease help me.\r\n").encode()
    outcome = ingest_bytes(
        factory,
        raw,
        settings,
        parse_message,
        source="smtp",
        envelope_from=envelope_from,
        envelope_to=["help@example.org"],
    )
    assert outcome.kind == "new", outcome
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        _ = ticket.requester, [a.kind for a in ticket.articles]
        return ticket


@pytest.mark.parametrize(
    ("extra", "envelope", "email", "source"),
    [
        (
            "From: <>\r\nReply-To: Kim <kim@example.net>\r\n",
            "kim@example.net",
            "kim@example.net",
            "reply-to",
        ),
        ("From: not an address\r\nSender: lee@example.net\r\n", None, "lee@example.net", "sender"),
        ("From: <>\r\n", "sam@example.net", "sam@example.net", "envelope"),
        ("From: Ana <ana@example.net>\r\n", "ana@example.net", "ana@example.net", "from"),
    ],
)
def test_the_requester_and_its_source_are_stored(
    factory: sessionmaker[Session],
    settings: Settings,
    extra: str,
    envelope: str | None,
    email: str,
    source: str,
) -> None:
    ticket = _ingest(factory, settings, HEAD.format(mid=source) + extra, envelope)
    assert ticket.requester is not None and ticket.requester.email == email
    incoming = next(a for a in ticket.articles if a.kind == ArticleKind.INCOMING)
    assert (incoming.requester_email, incoming.requester_source) == (email, source)
    with factory() as session:
        ack = session.scalars(
            select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
        ).one()
        assert ack.recipients == [email]


def test_no_address_anywhere_still_makes_a_ticket(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ticket = _ingest(
        factory, settings, HEAD.format(mid="none") + "From: <>\r\n", envelope_from=None
    )
    assert ticket.requester is None
    with factory() as session:
        incoming = session.scalars(select(Article).where(Article.ticket_id == ticket.id)).first()
        assert incoming is not None and incoming.requester_source is None
