"""Issue 8 in the core: who may write into which ticket, reply tokens, side effects.

Each finding of the issue has a test here that failed on the code before it (noted per
test), on SQLite and PostgreSQL. Mail is built directly (tests/unit/queues/builders.py) and
stored with the envelope and verdict the gateway would record.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import autoreply
from queues.ingest import Outcome, process_stored, store_inbound
from queues.mail import Address, IncomingMail
from queues.models import (
    Article,
    ArticleKind,
    OutboxMessage,
    Queue,
    RoutingRule,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
)
from queues.numbers import format_tag
from queues.present import TICKET_MARK
from queues.settings import Settings
from queues.trust import replytokens
from queues.trust.models import ReplyToken
from queues.trust.verdict import AuthVerdict, decide

from .builders import FakeGate, make_mail

VICTIM = ("Victim", "victim@example.net")
STRANGER = ("Stranger", "stranger@evil.test")


class Gate(FakeGate):
    """FakeGate that also records what the gateway records: envelope, client, verdict."""

    def deliver(
        self,
        mail: IncomingMail,
        *,
        envelope_from: str | None,
        envelope_to: Sequence[str] = ("help@example.org",),
        auth: AuthVerdict | None = None,
    ) -> Outcome:
        raw = self.raw_for(mail)
        with self.factory.begin() as session:
            row = store_inbound(
                session,
                raw,
                source="smtp",
                envelope_from=envelope_from,
                envelope_to=envelope_to,
                claim=True,
                client_ip="192.0.2.7",
                client_helo="client.example",
                auth=auth,
            )
            inbound_id = row.id
        return process_stored(
            self.factory, inbound_id, self.settings, self.parse, attempt_counted=True
        )


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> Gate:
    return Gate(factory, settings)


def load(gate: FakeGate, number: str | None) -> Ticket:
    assert number is not None
    with gate.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        _ = [a.kind for a in t.articles], t.events, t.participants, t.queue.slug
        return t


def snapshot(gate: FakeGate, number: str | None) -> tuple[object, ...]:
    """What an intruder must not change: articles, state, waiting_since, updated_at."""
    t = load(gate, number)
    return (len(t.articles), t.state, t.waiting_since, t.updated_at, t.queue_id)


def victim_ticket(gate: Gate, to: str = "help@example.org") -> tuple[str, IncomingMail]:
    first = make_mail(sender=VICTIM, to=[to], subject="Question about my account")
    out = gate.deliver(first, envelope_from=VICTIM[1], envelope_to=[to])
    assert out.kind == "new"
    return out.ticket_number or "", first


def tag(number: str) -> str:
    return format_tag("Ticket#", number)


# --- finding 1: references from anyone were trusted ---------------------------------------


def test_a_stranger_quoting_the_victims_message_id_gets_a_new_linked_ticket(gate: Gate) -> None:
    # Before: matched through the victim's *incoming* Message-ID and appended (reopened too).
    number, first = victim_ticket(gate)
    with gate.factory.begin() as session:
        session.scalars(
            select(Ticket).where(Ticket.number == number)
        ).one().state = TicketState.CLOSED
    before = snapshot(gate, number)
    intrusion = make_mail(
        sender=STRANGER,
        subject="Re: Question about my account",
        in_reply_to=[first.message_id or ""],
        references=[first.message_id or ""],
    )
    out = gate.deliver(intrusion, envelope_from=STRANGER[1])
    assert out.kind == "new" and out.ticket_number != number
    assert snapshot(gate, number) == before
    new = load(gate, out.ticket_number)
    linked = [e for e in new.events if e.kind == "linked"]
    assert [e.ref_ticket_id for e in linked] == [load(gate, number).id]
    assert TICKET_MARK in linked[0].detail and number not in linked[0].detail


def test_the_requester_quoting_their_own_message_id_still_follows_up(gate: Gate) -> None:
    number, first = victim_ticket(gate)
    reply = make_mail(sender=VICTIM, subject="more", in_reply_to=[first.message_id or ""])
    out = gate.deliver(reply, envelope_from=VICTIM[1])
    assert (out.kind, out.ticket_number) == ("followup", number)
    events = load(gate, number).events
    assert any(e.detail == "matched by references to a received message" for e in events)


def test_references_to_our_own_mail_are_trusted_from_any_address(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    ack = load(gate, number).articles[1]
    reply = make_mail(
        sender=("Second account", "me@other.example"), in_reply_to=[ack.message_id or ""]
    )
    out = gate.deliver(reply, envelope_from="me@other.example")
    assert (out.kind, out.ticket_number) == ("followup", number)


# --- finding 2: the From header was believed --------------------------------------------------


@pytest.mark.parametrize("how", ["tag", "references"])
def test_a_forged_from_with_another_envelope_sender_makes_a_new_ticket(
    gate: Gate, how: str
) -> None:
    # Before: MAIL FROM:<attacker> with From: victim and the tag was appended as the victim.
    number, first = victim_ticket(gate)
    before = snapshot(gate, number)
    forged = make_mail(
        sender=VICTIM,
        subject=f"Re: {tag(number)}" if how == "tag" else "Re: hello",
        in_reply_to=[first.message_id or ""] if how == "references" else [],
        body="I take it all back, close my case.",
    )
    out = gate.deliver(forged, envelope_from="attacker@evil.test")
    assert out.kind == "new" and out.ticket_number != number
    assert snapshot(gate, number) == before
    new = load(gate, out.ticket_number)
    incoming = new.articles[0]
    assert incoming.envelope_from == "attacker@evil.test"
    assert incoming.from_email == VICTIM[1]
    linked = next(e for e in new.events if e.kind == "linked")
    assert "unproven" in linked.detail and number not in linked.detail


def test_the_requester_from_an_aligned_envelope_or_a_file_still_follows_up(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    # A subdomain of the same organisation aligns (RFC 7489 relaxed alignment).
    mail = make_mail(sender=VICTIM, subject=f"Re: {tag(number)} update", message_id=None)
    out = gate.deliver(mail, envelope_from="bounces@mail.example.net")
    assert (out.kind, out.ticket_number) == ("followup", number)
    # Imported files have no envelope: the header is all there is, as before.
    out = gate.send(make_mail(sender=VICTIM, subject=f"Re: {tag(number)} again", message_id=None))
    assert (out.kind, out.ticket_number) == ("followup", number)


def test_a_failed_sender_authentication_makes_a_stranger_and_suppresses_the_ack(
    gate: Gate,
) -> None:
    number, _ = victim_ticket(gate)
    before = snapshot(gate, number)
    failed = decide(
        "example.net", spf=("fail", "example.net"), dmarc=("fail", "reject"), source="smtp"
    )
    forged = make_mail(sender=VICTIM, subject=f"Re: {tag(number)}", message_id=None)
    out = gate.deliver(forged, envelope_from=VICTIM[1], auth=failed)
    assert out.kind == "new"
    assert snapshot(gate, number) == before
    new = load(gate, out.ticket_number)
    assert [a.kind for a in new.articles] == [ArticleKind.INCOMING]  # no acknowledgement
    assert new.articles[0].auth_verdict == "fail"
    assert "dmarc=fail (p=reject)" in (new.articles[0].auth_summary or "")
    suppressed = next(e for e in new.events if e.kind == "autoreply-suppressed")
    assert "sender authentication failed" in suppressed.detail
    linked = next(e for e in new.events if e.kind == "linked")
    assert "sender authentication failed" in linked.detail


def test_a_passing_verdict_proves_a_sender_whose_envelope_is_elsewhere(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    passed = decide("example.net", dkim=[("pass", "example.net")], source="smtp")
    mail = make_mail(sender=VICTIM, subject=f"Re: {tag(number)}", message_id=None)
    out = gate.deliver(mail, envelope_from="srs0=abc@forwarder.example", auth=passed)
    assert (out.kind, out.ticket_number) == ("followup", number)
    assert load(gate, number).articles[-1].auth_verdict == "pass"


def test_an_unknown_verdict_changes_nothing(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    unknown = decide("example.net", spf=("temperror", "example.net"), source="smtp")
    mail = make_mail(sender=VICTIM, subject=f"Re: {tag(number)}", message_id=None)
    out = gate.deliver(mail, envelope_from=VICTIM[1], auth=unknown)
    assert (out.kind, out.ticket_number) == ("followup", number)


# --- finding 3: a stranger quoting a restricted number ----------------------------------------


def test_quoting_a_police_case_puts_the_new_ticket_with_it_and_names_it_by_id_only(
    gate: Gate,
) -> None:
    number, _ = victim_ticket(gate)
    with gate.factory.begin() as session:
        police = session.scalars(select(Queue).where(Queue.slug == "police-liaison")).one()
        session.scalars(select(Ticket).where(Ticket.number == number)).one().queue_id = police.id
    mail = make_mail(sender=STRANGER, subject=f"Re: {tag(number)} I know")
    out = gate.deliver(mail, envelope_from=STRANGER[1])
    new = load(gate, out.ticket_number)
    # Whoever may see the new ticket may see the quoted one; nobody else sees either.
    assert new.queue.slug == "police-liaison"
    assert all(number not in e.detail for e in new.events)
    refs = {e.kind: e.ref_ticket_id for e in new.events if e.ref_ticket_id is not None}
    assert set(refs) == {"moved", "linked"} and set(refs.values()) == {load(gate, number).id}
    # The old ticket has no row about the new one, and its content is untouched.
    assert len(load(gate, number).articles) == 2


def test_quoting_a_general_ticket_stays_where_it_was_routed(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    out = gate.deliver(
        make_mail(sender=STRANGER, subject=f"{tag(number)}"), envelope_from=STRANGER[1]
    )
    new = load(gate, out.ticket_number)
    assert new.queue.slug == "general-help"
    with gate.factory() as session:
        link = session.scalars(select(TicketLink).where(TicketLink.source_id == new.id)).one()
        assert link.kind == "quoted-number"


# --- reply tokens -------------------------------------------------------------------------------


def reply_to_of(gate: FakeGate, number: str) -> str:
    with gate.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        out = session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id)).one()
        header = next(
            line for line in out.raw.decode().splitlines() if line.startswith("Reply-To:")
        )
        return header.partition(":")[2].strip()


def test_the_acknowledgement_carries_a_reply_address_stored_hashed(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    address = reply_to_of(gate, number)
    local, _, domain = address.partition("@")
    assert domain == "example.org" and local.startswith("help+")
    token = local.partition("+")[2]
    assert len(token) == 24 and token == token.lower()  # 120 random bits
    with gate.factory() as session:
        row = session.scalars(select(ReplyToken)).one()
        assert row.token_sha256 == replytokens.token_hash(token) and token not in row.token_sha256
        assert row.message_id == load(gate, number).articles[1].message_id


def test_mail_to_a_valid_reply_address_follows_up_from_any_sender(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    address = reply_to_of(gate, number)
    mail = make_mail(
        sender=("Me again", "me@second-account.example"),
        to=[address],
        subject="no tag, no references",
        message_id=None,
    )
    out = gate.deliver(mail, envelope_from="me@second-account.example", envelope_to=[address])
    assert (out.kind, out.ticket_number) == ("followup", number)
    t = load(gate, number)
    assert any(e.detail == "matched by reply address" for e in t.events)
    # The second account does not become a participant: the token is the proof.
    assert "me@second-account.example" not in {p.email for p in t.participants}


def test_a_revoked_or_unknown_token_is_mail_to_the_plain_address(gate: Gate) -> None:
    number, _ = victim_ticket(gate, to="safety@example.org")
    address = reply_to_of(gate, number)
    ack_id = load(gate, number).articles[1].message_id or ""
    with gate.factory.begin() as session:
        tid = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
        assert replytokens.revoke(session.connection(), tid, "staff@example.org") == 1
    before = snapshot(gate, number)
    for to, refs in (
        (address, []),  # revoked
        ("safety+" + "a" * 24 + "@example.org", []),  # unknown
        ("safety@example.org", [ack_id]),  # our Message-ID, sent with the revoked address
    ):
        mail = make_mail(sender=STRANGER, to=[to], subject="hello", in_reply_to=refs)
        out = gate.deliver(mail, envelope_from=STRANGER[1], envelope_to=[to])
        assert out.kind == "new", to
        # Routed by the plain address: mail to safety+...@ is a safety report.
        assert load(gate, out.ticket_number).queue.slug == "specialist-safety"
    assert snapshot(gate, number) == before


def test_after_revocation_the_next_mail_carries_a_new_reply_address(gate: Gate) -> None:
    number, _ = victim_ticket(gate)
    with gate.factory.begin() as session:
        tid = session.scalars(select(Ticket.id).where(Ticket.number == number)).one()
        replytokens.revoke(session.connection(), tid, "staff@example.org")
        assert replytokens.live_tokens(session.connection(), tid) == 0
        new = replytokens.issue(session.connection(), tid, None)
    to = f"help+{new}@example.org"
    out = gate.deliver(
        make_mail(sender=STRANGER, to=[to]), envelope_from=STRANGER[1], envelope_to=[to]
    )
    assert (out.kind, out.ticket_number) == ("followup", number)


# --- finding 6: side effects never block a ticket ---------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        '"#FAX#*49000783135#"@otrs.fax',  # the real case: quoted local part
        'johndoe"@example.com',  # what a tolerant parser makes of a broken quote
        "no-domain",
        "x" * 990 + "@example.com",  # 1,000 characters
        "user@bücher.example",  # IDN
        "a@b@c.example",
        "user@-bad-.example",
    ],
)
def test_an_odd_requester_address_still_makes_a_ticket(gate: Gate, address: str) -> None:
    # Before: '"#FAX#..."@otrs.fax' raised "not an email address" while building the
    # acknowledgement, inside the deciding transaction: the report was quarantined.
    mail = make_mail(sender=("", address))
    out = gate.deliver(mail, envelope_from="")
    assert out.kind == "new", out.detail
    t = load(gate, out.ticket_number)
    assert t.articles[0].kind == ArticleKind.INCOMING
    assert t.articles[0].from_email == address[:320]


def test_the_fax_address_is_acknowledged_with_its_quotes_where_needed(gate: Gate) -> None:
    out = gate.send(make_mail(sender=("", '"#FAX#*49000783135#"@otrs.fax')))
    t = load(gate, out.ticket_number)
    assert [a.kind for a in t.articles] == [ArticleKind.INCOMING, ArticleKind.AUTO]
    assert t.articles[1].to == ["#FAX#*49000783135#@otrs.fax"]  # the quotes were not needed
    out = gate.send(make_mail(sender=("", '"fax 4900"@otrs.fax')))
    assert load(gate, out.ticket_number).articles[1].to == ['"fax 4900"@otrs.fax']


def test_a_failing_acknowledgement_is_recorded_and_the_ticket_kept(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr(autoreply, "in_language", broken)
    out = gate.send(make_mail())
    assert out.kind == "new"
    t = load(gate, out.ticket_number)
    assert [a.kind for a in t.articles] == [ArticleKind.INCOMING]
    failed = next(e for e in t.events if e.kind == "autoreply-failed")
    assert "RuntimeError: template store unavailable" in failed.detail
    with gate.factory() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.scalars(select(ReplyToken)).all() == []


def test_a_failing_write_of_the_acknowledgement_is_rolled_back_alone(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("outbox full")

    monkeypatch.setattr(autoreply, "queue_outgoing", broken)
    out = gate.send(make_mail())
    t = load(gate, out.ticket_number)
    # The automatic article written before the failure was rolled back with its savepoint.
    assert [a.kind for a in t.articles] == [ArticleKind.INCOMING]
    assert any(e.kind == "autoreply-failed" for e in t.events)


def test_a_broken_routing_rule_is_recorded_and_the_ticket_kept(gate: Gate) -> None:
    with gate.factory.begin() as session:
        # A rule stored before its field became invalid (validate_rule refuses it today).
        session.add(
            RoutingRule(position=1, name="old", field="nosuchfield", match="contains", pattern="x")
        )
    out = gate.send(make_mail())
    assert out.kind == "new"
    t = load(gate, out.ticket_number)
    assert t.queue.slug == "general-help"
    assert any(e.kind == "routing" and "routing rules not applied" in e.detail for e in t.events)
    assert any(e.kind == "autoreply-queued" for e in t.events)


# --- the verdict is recorded ------------------------------------------------------------------


def test_the_gateways_record_reaches_the_article(gate: Gate) -> None:
    verdict = decide("example.net", dkim=[("pass", "example.net")], source="smtp")
    out = gate.deliver(make_mail(sender=VICTIM), envelope_from="Victim@Example.net", auth=verdict)
    article = load(gate, out.ticket_number).articles[0]
    assert article.envelope_from == "Victim@Example.net"
    assert (article.auth_verdict, article.auth_summary) == (
        "pass",
        "dkim=pass header.d=example.net",
    )
    with gate.factory() as session:
        from queues.models import InboundMail

        row = session.get_one(InboundMail, out.inbound_id)
        assert (row.client_ip, row.client_helo) == ("192.0.2.7", "client.example")
        assert AuthVerdict.from_json(row.auth) == verdict


def test_requester_field_is_preferred_over_from(gate: Gate) -> None:
    mail = make_mail(sender=None)
    mail.requester = Address("reply@example.net", "Reply")
    mail.requester_source = "reply-to"
    out = gate.deliver(mail, envelope_from="reply@example.net")
    t = load(gate, out.ticket_number)
    assert t.requester is not None and t.requester.email == "reply@example.net"
    assert t.articles[1].to == ["reply@example.net"]
    with gate.factory() as session:
        assert session.scalars(select(Article).where(Article.ticket_id == t.id)).all()
        assert (
            session.scalars(select(TicketEvent).where(TicketEvent.kind == "autoreply-queued"))
            .one()
            .detail
            == "acknowledgement to reply@example.net"
        )
