"""A small world for the liaison tests: agents of each role, a ticket that came in as real
mail (raw bytes, parsed by the real parser), a partner force with a real
OpenPGP key covering Germany and Austria, and the organisation's signing key.

Import the fixtures into a test module (`from tests.unit.queues.liaison.world import ...`);
they run on SQLite and PostgreSQL through the `factory` of tests/conftest.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from queues.liaison import cases, countries, partners
from queues.liaison.evidence.keys import ensure_org_key
from queues.liaison.models import LiaisonCase, PolicyKind
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    Contact,
    InboundMail,
    InboundState,
    Queue,
    Role,
    Ticket,
    User,
)
from queues.numbers import allocate_number
from queues.settings import Settings

from .keyring import PartnerKey, make_partner_key, short_tempdir, stop

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
REQUESTER = "rita@example.net"
ATTACHMENT = b"%PDF-1.4 screenshot of the threats\n"


def raw_report(message_id: str, subject: str = "He threatens me every day") -> bytes:
    """A report as it arrives by mail, with an attachment (CRLF, as on the wire)."""
    return (
        f"From: Rita Requester <{REQUESTER}>\r\n"
        "To: help@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "The user 'darkstar99' writes that he will find me. Grüße, Rita\r\n"
        "--b1\r\n"
        'Content-Type: application/pdf; name="threat.pdf"\r\n'
        'Content-Disposition: attachment; filename="threat.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "JVBERi0xLjQgc2NyZWVuc2hvdCBvZiB0aGUgdGhyZWF0cwo=\r\n"
        "--b1--\r\n"
    ).encode()


def store_report(factory: sessionmaker[Session], raw: bytes) -> str:
    """The report as the gateway and the ingest runner leave it: the raw bytes with their
    hash in `inbound`, a ticket in general-help, the parsed article and its attachment.
    (Written here row by row so these tests do not depend on routing and follow-up rules.)"""
    mail = parse_message(raw)
    assert mail.from_ is not None and mail.attachments
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        contact = session.scalar(select(Contact).where(Contact.email == mail.from_.email))
        if contact is None:
            contact = Contact(email=mail.from_.email, name=mail.from_.name)
            session.add(contact)
            session.flush()
        inbound = InboundMail(
            source="test",
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            message_id=mail.message_id,
            state=InboundState.DONE,
            received_at=NOW,
        )
        session.add(inbound)
        ticket = Ticket(
            number=allocate_number(session, NOW),
            subject=mail.subject,
            queue_id=queue.id,
            requester_id=contact.id,
            created_at=NOW,
        )
        session.add(ticket)
        session.flush()
        article = Article(
            ticket_id=ticket.id,
            kind=ArticleKind.INCOMING,
            inbound_id=inbound.id,
            from_email=mail.from_.email,
            from_name=mail.from_.name,
            to=[a.email for a in mail.to],
            subject=mail.subject,
            message_id=mail.message_id,
            date=mail.date,
            body_text=mail.body_text,
            created_at=NOW,
        )
        session.add(article)
        session.flush()
        inbound.ticket_id, inbound.article_id = ticket.id, article.id
        for part in mail.attachments:
            if session.get(Blob, part.sha256) is None:
                session.add(Blob(sha256=part.sha256, size=part.size, data=part.data))
                session.flush()
            session.add(
                Attachment(
                    article_id=article.id,
                    filename=part.filename,
                    content_type=part.content_type,
                    size=part.size,
                    sha256=part.sha256,
                )
            )
        return ticket.number


@pytest.fixture(scope="session")
def partner_key() -> Iterator[PartnerKey]:
    key = make_partner_key()
    yield key
    stop(key.home)


@pytest.fixture(scope="session")
def org_home() -> Iterator[Path]:
    """The organisation's keyring with its signing key (made once: key generation is slow)."""
    home = short_tempdir("sb-org-")
    ensure_org_key(Settings(gnupg_home=str(home), database_url="sqlite://"))
    yield home
    stop(home)


@pytest.fixture
def liaison_settings(tmp_path: Path, org_home: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        database_url="sqlite://",
        gnupg_home=str(org_home),
        organisation="Example help team",
    )


@dataclass
class World:
    factory: sessionmaker[Session]
    settings: Settings
    users: dict[str, int]
    source_number: str
    raw: bytes
    partner_id: int
    partner_key: PartnerKey
    extra: dict[str, Any] = field(default_factory=dict)

    def user(self, session: Session, name: str) -> User:
        return session.get_one(User, self.users[name])

    def source(self, session: Session) -> Ticket:
        return session.scalars(select(Ticket).where(Ticket.number == self.source_number)).one()

    def incoming_ids(self, session: Session) -> list[int]:
        return list(
            session.scalars(
                select(Article.id).where(
                    Article.ticket_id == self.source(session).id,
                    Article.kind == ArticleKind.INCOMING,
                )
            )
        )

    def request_input(self, session: Session, **changes: Any) -> cases.RequestInput:
        values: dict[str, Any] = {
            "what_happened": "He threatens to find her; he knows her town.",
            "article_ids": self.incoming_ids(session),
            "urgency": "serious",
            "consent": "given",
            "country": "DE",
            "country_basis": "ip",
            "victim_country": "FR",
            "identifiers": [
                cases.IdentifierInput("account", "darkstar99"),
                cases.IdentifierInput("ip", "81.2.69.160", NOW, "from the site's logs"),
            ],
        }
        values.update(changes)
        return cases.RequestInput(**values)

    def request(self, who: str = "specialist", **changes: Any) -> int:
        """File a request on the source ticket; the case's id."""
        with self.factory.begin() as session:
            case = cases.file_request(
                session,
                self.source(session),
                self.user(session, who),
                self.request_input(session, **changes),
                self.settings,
                NOW,
            )
            return case.id

    def ready(self, case_id: int) -> None:
        """Staff A reviews the case and chooses the partner (everything but the approvals)."""
        with self.factory.begin() as session:
            case = session.get_one(LiaisonCase, case_id)
            cases.start_review(session, case, self.user(session, "staff_a"), NOW)
            cases.choose_partner(session, case, self.user(session, "staff_a"), self.partner_id, NOW)

    def case(self, session: Session, case_id: int) -> LiaisonCase:
        return session.get_one(LiaisonCase, case_id, populate_existing=True)


@pytest.fixture
def world(
    factory: sessionmaker[Session], liaison_settings: Settings, partner_key: PartnerKey
) -> World:
    users = {}
    with factory.begin() as session:
        for name, role in (
            ("volunteer", Role.VOLUNTEER),
            ("specialist", Role.SPECIALIST),
            ("staff_a", Role.STAFF),
            ("staff_b", Role.STAFF),
            ("staff_c", Role.STAFF),
        ):
            user = User(email=f"{name}@example.org", name=name, role=role, password_hash="x")
            session.add(user)
            session.flush()
            users[name] = user.id
    raw = raw_report(f"report-{id(users)}-{NOW.timestamp()}@example.net")
    number = store_report(factory, raw)
    with factory.begin() as session:
        staff = session.get_one(User, users["staff_c"])
        countries.set_policy(session, "DE", PolicyKind.PARTNER, "", staff, NOW)
        partner = partners.save_partner(
            session,
            None,
            partners.PartnerInput(
                name="Test Police Cybercrime",
                countries=["DE", "AT"],
                referral_addresses=["referrals@police.example"],
                report_url="https://police.example/report",
                public_key=partner_key.armored,
                languages=["de", "en"],
            ),
            staff,
            NOW,
        )
        partner_id = partner.id
    return World(factory, liaison_settings, users, number, raw, partner_id, partner_key)
