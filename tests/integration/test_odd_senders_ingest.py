"""Odd sender addresses and broken header blocks, from raw bytes to a ticket through the real
parser and ingest, on SQLite and PostgreSQL: each one becomes a ticket (never quarantined),
and what the parser hands over fits the database (an address longer than any column holds
is not an address the parser hands over)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.ingest import ingest_bytes
from queues.models import Article, ArticleKind
from queues.settings import Settings

SENDERS = [
    '"#FAX#*49000783135#"@otrs.fax',
    'Fax <"#FAX#*49000783135#"@otrs.fax>',
    '"john doe"@example.com',
    '"john@home"@example.com',
    "Jürgen <jürgen@bücher.example>",
    "<user@XN--BCHER-KVA.Example>",
    '"john@evil.example" <real@example.net>',
    "john@evil.example <real@example.net>",
    "Friends: ann@example.net, bob@example.net;",
    "undisclosed-recipients:;",
    "john",
    "<>",
    "a" * 990 + "@example.net",
    "N" * 1000 + " <n@example.net>",
    "=?utf-8?q?Ann_<ann@example.net>?=",
]


@pytest.mark.parametrize(("number", "sender"), list(enumerate(SENDERS)))
def test_odd_sender_becomes_a_ticket(
    factory: sessionmaker[Session], settings: Settings, number: int, sender: str
) -> None:
    long_cc = "c" * 1000 + "@example.org"
    raw = (
        f"From: {sender}\nTo: help@example.org\nCc: {long_cc}, cc@example.org\n"
        f"Reply-To: reply@example.net\nSubject: odd sender\n"
        f"Message-ID: <odd{number}@example.net>\n\n"
        "Someone keeps writing to me.\n"
    ).encode()
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="test")
    assert outcome.kind == "new", outcome


@pytest.mark.parametrize(
    "raw",
    [
        b"\nFrom: Ann <ann@example.net>\nTo: help@example.org\nSubject: stray\n\nhelp\n",
        b"From: Ann <ann@example.net>\nSubject: broken\nfold\nTo: help@example.org\n\nhelp\n",
        b"From  : Ann <ann@example.net>\nTo    : help@example.org\nSubject : obs\n\nhelp\n",
        b"\xef\xbb\xbfFrom: Ann <ann@example.net>\nTo: help@example.org\nSubject: bom\n\nhelp\n",
    ],
)
def test_recovered_header_block_becomes_a_ticket_with_its_sender(
    factory: sessionmaker[Session], settings: Settings, raw: bytes
) -> None:
    outcome = ingest_bytes(factory, raw, settings, parse_message, source="test")
    assert outcome.kind == "new", outcome
    with factory() as session:
        article = session.scalars(
            select(Article).where(Article.kind == ArticleKind.INCOMING).order_by(Article.id.desc())
        ).first()
        assert article is not None
        assert article.from_email == "ann@example.net"
        assert article.subject in ("stray", "broken fold", "obs", "bom")
