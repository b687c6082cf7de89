"""The attacker's run against the real gateway (issue 8), on SQLite and PostgreSQL.

smtplib talks to `mailgate.gateway` on a socket; the gateway checks DKIM, SPF and DMARC
against a DNS server of the test's own on 127.0.0.1 (tests/dnsstub.py); the ingest runner
turns stored mail into tickets with the real parser. The victim's domain signs its mail
(DKIM) and publishes SPF without the test client's address and DMARC p=reject, as a
well-kept mail domain does; the attacker's own domain authorizes the test client.

Each attack that must fail leaves the victim's ticket untouched: no new article, same state,
same waiting_since, same updated_at. The legitimate cases still thread.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.gateway import make_controller, shutdown
from mailgate.parser import parse_message
from mailgate.runners import IngestRunner
from queues.db import make_engine, make_sessionmaker
from queues.models import ArticleKind, InboundMail, OutboxMessage, Ticket, TicketState
from queues.settings import Settings
from queues.trust import replytokens
from tests.dnsstub import DkimKey, DnsStub, dns_stub, new_dkim_key
from tests.integration.gateway_helpers import (
    ADDRESSES,
    HOSTNAME,
    OWN,
    free_port,
    fresh_database,
    wait_until,
)

VICTIM = "victim@example.net"
ATTACKER = "attacker@evil.test"


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return new_dkim_key()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with fresh_database(request.param, tmp_path) as url:
        yield url


@dataclass
class World:
    engine: Engine
    factory: sessionmaker[Session]
    settings: Settings
    port: int
    key: DkimKey
    runner: IngestRunner

    def send(
        self,
        *,
        mail_from: str,
        header_from: str,
        subject: str,
        to: str = "help@example.org",
        in_reply_to: str | None = None,
        sign: bool = False,
        body: str = "Please look at this.\n",
    ) -> str:
        """One message over SMTP; returns its Message-ID (without brackets)."""
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = header_from
        msg["To"] = to
        msg["Subject"] = subject
        message_id = f"{uuid.uuid4().hex}@{header_from.rpartition('@')[2].rstrip('>')}"
        msg["Message-ID"] = f"<{message_id}>"
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to}>"
            msg["References"] = f"<{in_reply_to}>"
        msg.set_content(body)
        raw = msg.as_bytes()
        if sign:
            raw = self.key.sign(raw, "example.net")
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example") as smtp:
            smtp.sendmail(mail_from, [to], raw)
        return message_id

    def process(self) -> None:
        assert wait_until(lambda: self.runner.run_once() == 0 and self._pending() == 0)

    def _pending(self) -> int:
        with self.factory() as session:
            rows = session.scalars(select(InboundMail.state)).all()
            return sum(1 for s in rows if s.value in ("new", "failed"))

    def tickets(self) -> list[Ticket]:
        with self.factory() as session:
            found = list(session.scalars(select(Ticket).order_by(Ticket.id)))
            for t in found:
                _ = [a.kind for a in t.articles], t.events
            return found

    def ticket(self, number: str) -> Ticket:
        return next(t for t in self.tickets() if t.number == number)

    def snapshot(self, number: str) -> tuple[object, ...]:
        t = self.ticket(number)
        return (len(t.articles), t.state, t.waiting_since, t.updated_at)

    def reply_address(self, number: str) -> str:
        with self.factory() as session:
            tid = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
            raw = session.scalars(
                select(OutboxMessage.raw).where(OutboxMessage.ticket_id == tid)
            ).first()
        assert raw is not None
        line = next(x for x in raw.decode().splitlines() if x.startswith("Reply-To:"))
        return line.partition(":")[2].strip()


@pytest.fixture
def world(database_url: str, tmp_path: Path, key: DkimKey) -> Iterator[World]:
    with dns_stub() as stub:
        publish(stub, key)
        engine = make_engine(database_url)
        settings = Settings(
            var_dir=tmp_path / "var",
            database_url=database_url,
            addresses=ADDRESSES,
            own_addresses=OWN,
            hostname=HOSTNAME,
            gateway_port=free_port(),
            dns_servers=(stub.address,),
            dns_timeout_seconds=1.0,
            triage_model=False,  # the lexicon alone (tests/conftest.py says why)
        )
        factory = make_sessionmaker(engine)
        controller = make_controller(factory, settings)
        controller.start()
        try:
            yield World(
                engine,
                factory,
                settings,
                settings.gateway_port,
                key,
                IngestRunner(factory, settings, parse_message),
            )
        finally:
            shutdown(controller, grace=5)
            engine.dispose()


def publish(stub: DnsStub, key: DkimKey) -> None:
    stub.add("test._domainkey.example.net", "TXT", key.record)
    stub.add("example.net", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    stub.add("_dmarc.example.net", "TXT", "v=DMARC1; p=reject")
    stub.add("evil.test", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    stub.add("second.example", "TXT", "v=spf1 ip4:127.0.0.1 -all")


def test_the_attackers_run(world: World) -> None:
    # The victim reports; their mail is DKIM-signed by their domain.
    first_id = world.send(
        mail_from=VICTIM,
        header_from=f"Victim <{VICTIM}>",
        subject="Question about my account",
        sign=True,
    )
    world.process()
    (victim,) = world.tickets()
    number = victim.number
    assert victim.articles[0].auth_verdict == "pass"
    ack = victim.articles[1]
    assert ack.kind == ArticleKind.AUTO
    tag = f"[Ticket#{number}]"
    before = world.snapshot(number)

    attacks = {
        "stranger with references to the victim's Message-ID": dict(
            mail_from=ATTACKER, header_from=ATTACKER, subject="Re: Question", in_reply_to=first_id
        ),
        "forged From with the tag": dict(
            mail_from=ATTACKER, header_from=f"Victim <{VICTIM}>", subject=f"Re: {tag} close it"
        ),
        "forged From with references": dict(
            mail_from=ATTACKER, header_from=VICTIM, subject="Re: Question", in_reply_to=first_id
        ),
        "forged From and envelope with the tag": dict(
            mail_from=VICTIM, header_from=VICTIM, subject=f"Re: {tag} close it"
        ),
    }
    for name, attack in attacks.items():
        world.send(**attack)  # type: ignore[arg-type]
        world.process()
        assert world.snapshot(number) == before, name
    newest = world.tickets()[-4:]
    assert all(t.number != number for t in newest)
    # The forgeries of the victim's address failed DMARC: no acknowledgement went to the
    # victim for mail they never sent, and the article says so.
    forged = newest[1:]
    assert all(t.articles[0].auth_verdict == "fail" for t in forged)
    assert all([a.kind for a in t.articles] == [ArticleKind.INCOMING] for t in forged)
    assert all(number not in e.detail for t in newest for e in t.events)

    # Before revocation, the reply address and our own Message-ID open the ticket to anyone
    # who received our mail, e.g. the victim's second account.
    address = world.reply_address(number)
    second = "me@second.example"
    world.send(mail_from=second, header_from=second, subject="other account", to=address)
    world.process()
    world.send(mail_from=second, header_from=second, subject="Re: ack", in_reply_to=ack.message_id)
    world.process()
    appended = world.snapshot(number)
    assert appended[0] == before[0] + 2

    # Staff revoke the ticket's reply addresses: the address, and the Message-ID that was
    # sent with it, no longer open the ticket to anyone else.
    with world.factory.begin() as session:
        replytokens.revoke(session.connection(), victim.id, "staff@example.org")
    world.send(mail_from=ATTACKER, header_from=ATTACKER, subject="hello", to=address)
    world.process()
    world.send(mail_from=ATTACKER, header_from=ATTACKER, subject="Re", in_reply_to=ack.message_id)
    world.process()
    assert world.snapshot(number) == appended
    assert world.tickets()[-1].queue.slug == "general-help"

    # The victim still threads: by tag, and by answering our mail, from their own domain.
    world.send(mail_from=VICTIM, header_from=VICTIM, subject=f"Re: {tag} more", sign=True)
    world.process()
    world.send(
        mail_from=VICTIM,
        header_from=VICTIM,
        subject="Re: ack",
        in_reply_to=ack.message_id,
        sign=True,
    )
    world.process()
    t = world.ticket(number)
    assert [a.kind for a in t.articles].count(ArticleKind.INCOMING) == 5
    assert t.state is not TicketState.CLOSED and t.waiting_since is not None


BORDER = (
    "Received: from mail.sender.example (mail.sender.example [192.0.2.1])\r\n"
    "\tby mx.help.example.org (Postfix) with ESMTPS id 4Qx;\r\n"
    "\tThu, 3 Dec 2026 10:00:00 +0000\r\n"
)


def via_postfix(results: str | None, header_from: str, subject: str, forged: str = "") -> bytes:
    """A message as Postfix hands it over: our milters' field on top, then Postfix's
    Received, then what the sender wrote (`forged`: a field the sender added itself)."""
    top = f"Authentication-Results: mx.help.example.org; {results}\r\n" if results else ""
    return (
        f"{top}{BORDER}{forged}From: {header_from}\r\nTo: help@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@example.net>\r\n\r\nHello.\r\n"
    ).encode()


def test_behind_postfix_only_our_own_authentication_results_count(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        addresses=ADDRESSES,
        own_addresses=OWN,
        hostname=HOSTNAME,
        gateway_port=free_port(),
        trusted_authserv_ids=("mx.help.example.org",),
    )
    factory = make_sessionmaker(engine)
    controller = make_controller(factory, settings, lmtp=True)
    controller.start()
    runner = IngestRunner(factory, settings, parse_message)

    def deliver(mail_from: str, raw: bytes) -> None:
        with smtplib.LMTP("127.0.0.1", settings.gateway_port) as lmtp:
            lmtp.sendmail(mail_from, ["help@example.org"], raw)
        assert wait_until(lambda: runner.run_once() == 0)

    def tickets() -> list[Ticket]:
        with factory() as session:
            found = list(session.scalars(select(Ticket).order_by(Ticket.id)))
            for t in found:
                _ = [a.auth_verdict for a in t.articles]
            return found

    try:
        dmarc_pass = "dmarc=pass (p=reject dis=none) header.from=example.net"
        deliver(VICTIM, via_postfix(dmarc_pass, VICTIM, "my report"))
        (victim,) = tickets()
        assert victim.articles[0].auth_verdict == "pass"
        tag = f"[Ticket#{victim.number}]"
        # The attacker writes our authserv-id into the message: below Postfix's Received, it
        # is ignored, and the envelope sender belongs to another domain.
        forged = f"Authentication-Results: mx.help.example.org; {dmarc_pass}\r\n"
        deliver(ATTACKER, via_postfix(None, VICTIM, f"Re: {tag}", forged=forged))
        # Our milter says DMARC failed (forged envelope and From): a stranger.
        dmarc_fail = "dmarc=fail (p=reject dis=none) header.from=example.net"
        deliver(VICTIM, via_postfix(dmarc_fail, VICTIM, f"Re: {tag}"))
        intruders = tickets()[1:]
        assert len(intruders) == 2
        assert [t.articles[0].auth_verdict for t in intruders] == ["none", "fail"]
        assert len(tickets()[0].articles) == 2  # the report and its acknowledgement
        # The victim, through our milters: appended.
        deliver(VICTIM, via_postfix(dmarc_pass, VICTIM, f"Re: {tag} more"))
        assert len(tickets()) == 3 and len(tickets()[0].articles) == 3
    finally:
        shutdown(controller, grace=5)
        engine.dispose()


def test_plus_addresses_of_ours_are_accepted_and_others_still_refused(world: World) -> None:
    with smtplib.SMTP("127.0.0.1", world.port, local_hostname="client.example") as smtp:
        smtp.ehlo()
        smtp.mail(ATTACKER)
        assert smtp.rcpt("help+anything@example.org")[0] == 250
        assert smtp.rcpt("Safety+X@Example.org")[0] == 250
        assert smtp.rcpt("other+help@example.org")[0] == 550
        assert smtp.rcpt("help+x@elsewhere.example")[0] == 550
