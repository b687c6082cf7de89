"""Every odd sender address we could find, through the real parser and the whole ingest.

Issue 8, finding 6: a report whose From was `"#FAX#*49000783135#"@otrs.fax` was
quarantined because building its acknowledgement raised inside the deciding transaction.
Each message here must become a ticket with its article, on SQLite and PostgreSQL; nothing
is quarantined, and the acknowledgement either went out or the history says why not.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.ingest import ingest_bytes
from queues.models import ArticleKind, InboundMail, InboundState, OutboxMessage, Ticket
from queues.settings import Settings

LONG_LOCAL = "x" * 990
FROM_HEADERS = {
    "fax gateway, quoted local part": b'"#FAX#*49000783135#"@otrs.fax',
    "quoted local part with a space": b'"John Doe" <"john doe"@example.com>',
    "broken quote": b'"John Doe" <john doe"@example.com>',
    "escaped quote": b'"quoted\\"escape"@example.com',
    "no domain": b"user",
    "empty": b"<>",
    "nothing at all": b"",
    "comment only": b"(nobody)",
    "IDN, raw UTF-8": "user@bücher.example".encode(),
    "IDN, punycode with an encoded name": b"=?utf-8?q?M=C3=BCller?= <m@xn--bcher-kva.example>",
    "UTF-8 local part": "jörg@example.de".encode(),
    "@ in the quoted display name": b'"a@b.example" <real@x.example>',
    "@ in the bare display name": b"a@b.example <real@x.example>",
    "empty group": b"Undisclosed recipients:;",
    "group with members": b"friends: a@b.example, d@e.example;",
    "two addresses": b"a@x.example, b@y.example",
    "obsolete route": b"<@route.example:user@example.com>",
    "address literal": b"user@[192.0.2.1]",
    "1,000-character address": LONG_LOCAL.encode() + b"@example.com",
    "1,000-character display name": b'"' + b"N" * 1000 + b'" <long-name@example.com>',
    "1,000-character domain": b"user@" + b"d" * 990 + b".example",
    "binary garbage": b"\xff\xfe@\x00\x01",
    "angle brackets inside": b"<<a@b.example>>",
    "trailing dot domain": b"user@example.com.",
    "no-reply sender": b"no-reply@example.com",
}


def message(from_header: bytes) -> bytes:
    return (
        b"From: " + from_header + b"\r\nTo: help@example.org\r\nSubject: Please help\r\n"
        b"Message-ID: <odd." + str(abs(hash(from_header))).encode() + b"@example.net>\r\n"
        b"\r\nSomeone keeps writing to me.\r\n"
    )


@pytest.mark.parametrize("from_header", FROM_HEADERS.values(), ids=FROM_HEADERS.keys())
def test_an_odd_sender_still_makes_a_ticket(
    factory: sessionmaker[Session], settings: Settings, from_header: bytes
) -> None:
    outcome = ingest_bytes(
        factory, message(from_header), settings, parse_message, source="test", envelope_from=""
    )
    assert outcome.kind == "new", outcome.detail
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == outcome.ticket_number)).one()
        kinds = [a.kind for a in ticket.articles]
        assert kinds[0] == ArticleKind.INCOMING
        events = {e.kind: e.detail for e in ticket.events}
        # Acknowledged, or the history says why not: never silent.
        assert {"autoreply-queued", "autoreply-suppressed", "autoreply-failed"} & set(events)
        inbound = session.get_one(InboundMail, outcome.inbound_id)
        assert inbound.state == InboundState.DONE


def test_the_fax_sender_is_acknowledged(factory: sessionmaker[Session], settings: Settings) -> None:
    raw = message(FROM_HEADERS["fax gateway, quoted local part"])
    outcome = ingest_bytes(
        factory, raw, settings, parse_message, source="test", envelope_from="fax@otrs.fax"
    )
    with factory() as session:
        out = session.scalars(select(OutboxMessage)).one()
        assert out.recipients == ["#FAX#*49000783135#@otrs.fax"]
        assert outcome.kind == "new"
