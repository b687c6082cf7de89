"""The decide step: new tickets, follow-ups, strangers, duplicates, reopening, quarantine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from queues.mail import IncomingMail
from queues.models import (
    Article,
    ArticleKind,
    Blob,
    InboundMail,
    InboundState,
    OutboxMessage,
    Participant,
    Queue,
    Ticket,
    TicketLink,
    TicketState,
)
from queues.numbers import format_tag
from queues.settings import Settings

from .builders import FakeGate, make_mail


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    return FakeGate(factory, settings)


def ticket(gate: FakeGate, number: str | None) -> Ticket:
    assert number is not None
    with gate.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        _ = [(a.attachments, a.kind) for a in t.articles], t.events, t.participants
        return t


def test_new_ticket_with_article_attachment_and_acknowledgement(gate: FakeGate) -> None:
    mail = make_mail(attachments=[("shot.png", "image/png", b"\x89PNG fake")])
    outcome = gate.send(mail, envelope_to=["help@example.org"], envelope_from="alice@example.net")
    assert outcome.kind == "new"
    t = ticket(gate, outcome.ticket_number)
    assert t.queue.slug == "general-help"
    assert t.state == TicketState.NEW
    assert t.requester is not None and t.requester.email == "alice@example.net"
    assert t.subject == "Someone keeps messaging me"
    assert len(t.number) == 14 and t.number.isdigit()
    incoming, ack = t.articles
    assert incoming.kind == ArticleKind.INCOMING and incoming.message_id == mail.message_id
    assert [a.filename for a in incoming.attachments] == ["shot.png"]
    assert ack.kind == ArticleKind.AUTO
    assert format_tag("Ticket#", t.number) in ack.subject
    assert t.number in ack.body_text and "emergency" in ack.body_text
    with gate.factory() as session:
        out = session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == t.id)).one()
        assert out.recipients == ["alice@example.net"]
        assert out.envelope_from == ""  # RFC 3834: null return path for automatic replies
        raw = out.raw.decode()
        assert "Auto-Submitted: auto-replied" in raw
        assert f"In-Reply-To: <{mail.message_id}>" in raw
        assert f"References: <{mail.message_id}>" in raw
        assert "X-Switchboard-Loop: help@example.org" in raw
        assert session.get(Blob, incoming.attachments[0].sha256) is not None
        inbound = session.get_one(InboundMail, outcome.inbound_id)
        assert inbound.state == InboundState.DONE and inbound.ticket_id == t.id


def test_recipient_picks_queue_and_mail_to_both_is_a_safety_report(gate: FakeGate) -> None:
    out = gate.send(make_mail(to=["safety@example.org"]), envelope_to=["safety@example.org"])
    assert ticket(gate, out.ticket_number).queue.slug == "specialist-safety"
    both = make_mail(to=["help@example.org"], cc=["safety@example.org"])
    out = gate.send(both)
    assert ticket(gate, out.ticket_number).queue.slug == "specialist-safety"
    out = gate.send(make_mail(to=["someone@else.example"]))
    assert ticket(gate, out.ticket_number).queue.slug == "general-help"


def test_followup_by_references_to_our_acknowledgement(gate: FakeGate) -> None:
    first = gate.send(make_mail())
    ack = ticket(gate, first.ticket_number).articles[1]
    reply = make_mail(
        subject="Re: thanks",
        sender=("Somebody Else", "other@example.com"),
        in_reply_to=[ack.message_id or ""],
        references=[ack.message_id or ""],
    )
    out = gate.send(reply)
    assert out.kind == "followup" and out.ticket_number == first.ticket_number
    assert len(ticket(gate, first.ticket_number).articles) == 3


def test_followup_by_subject_tag_from_requester_survives_prefixes(gate: FakeGate) -> None:
    first = gate.send(make_mail())
    number = first.ticket_number or ""
    for subject in (
        f"Re: [Ticket#{number}] Someone keeps messaging me",
        f"AW: WG: [Ticket #{number}] Someone",
        f"RE: [EXTERNAL] Fwd: Ticket# {number} more details",
        f"Antw: ticket#{number}",
    ):
        out = gate.send(make_mail(subject=subject, message_id=None, body=subject))
        assert out.kind == "followup", subject
        assert out.ticket_number == number
    t = ticket(gate, number)
    assert sum(a.kind == ArticleKind.INCOMING for a in t.articles) == 5
    # Follow-ups are not acknowledged again.
    assert sum(a.kind == ArticleKind.AUTO for a in t.articles) == 1


def test_stranger_with_ticket_number_gets_a_new_linked_ticket(gate: FakeGate) -> None:
    victim = gate.send(make_mail(to=["safety@example.org"]))
    number = victim.ticket_number or ""
    intrusion = make_mail(
        subject=f"Re: [Ticket#{number}] I know what you reported",
        sender=("Harasser", "harasser@evil.example"),
        body="I will find out what you told them.",
    )
    out = gate.send(intrusion)
    assert out.kind == "new" and out.ticket_number != number
    old = ticket(gate, number)
    assert [a.kind for a in old.articles] == [ArticleKind.INCOMING, ArticleKind.AUTO]
    new = ticket(gate, out.ticket_number)
    # Quoting a safety case's number is itself a safety matter.
    assert new.queue.slug == "specialist-safety"
    assert number not in new.subject
    with gate.factory() as session:
        link = session.scalars(select(TicketLink).where(TicketLink.source_id == new.id)).one()
        assert link.target_id == old.id and link.kind == "quoted-number"


def test_participant_copied_by_requester_may_follow_up_by_tag(gate: FakeGate) -> None:
    first = gate.send(make_mail(cc=["friend@example.net"]))
    number = first.ticket_number or ""
    out = gate.send(
        make_mail(subject=f"Re: [Ticket#{number}]", sender=("Friend", "Friend@Example.net"))
    )
    assert out.kind == "followup" and out.ticket_number == number


def test_followup_to_closed_ticket_reopens_or_starts_new(
    gate: FakeGate, factory: sessionmaker[Session]
) -> None:
    first = gate.send(make_mail())
    number = first.ticket_number or ""
    with factory.begin() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        t.state = TicketState.CLOSED
    out = gate.send(make_mail(subject=f"Re: [Ticket#{number}] again"))
    assert out.kind == "followup"
    t = ticket(gate, number)
    assert t.state == TicketState.OPEN
    assert any(e.kind == "reopened" for e in t.events)

    with factory.begin() as session:
        session.scalars(
            select(Ticket).where(Ticket.number == number)
        ).one().state = TicketState.CLOSED
        session.scalars(
            select(Queue).where(Queue.slug == "general-help")
        ).one().followup_closed = "new"
    out = gate.send(make_mail(subject=f"Re: [Ticket#{number}] once more"))
    assert out.kind == "new" and out.ticket_number != number
    assert ticket(gate, number).state == TicketState.CLOSED
    assert any("closed ticket" in e.detail for e in ticket(gate, out.ticket_number).events)


def test_same_message_twice_is_stored_once(gate: FakeGate) -> None:
    mail = make_mail()
    first = gate.send(mail)
    second = gate.send(mail)
    assert first.kind == "new" and second.kind == "duplicate"
    with gate.factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(Article)
                .where(Article.kind == ArticleKind.INCOMING)
            )
            == 1
        )
        states = session.scalars(select(InboundMail.state).order_by(InboundMail.id)).all()
        assert states == [InboundState.DONE, InboundState.DUPLICATE]


def test_same_message_id_with_different_content_is_not_a_duplicate(gate: FakeGate) -> None:
    gate.send(make_mail(message_id="same@example.net", body="first"))
    out = gate.send(make_mail(message_id="same@example.net", body="second, edited"))
    assert out.kind in ("new", "followup")


def test_a_message_that_crashes_processing_is_quarantined_and_the_next_flows(
    gate: FakeGate, settings: Settings
) -> None:
    good = make_mail()
    calls = {"n": 0}

    def broken(raw: bytes) -> IncomingMail:
        calls["n"] += 1
        raise RuntimeError("parser exploded")

    from queues.ingest import ingest_bytes, process_stored

    out = ingest_bytes(gate.factory, b"poison", settings, broken, source="test")
    assert out.kind == "failed"
    while out.kind == "failed":
        out = process_stored(gate.factory, out.inbound_id, settings, broken)
    assert out.kind == "quarantined" and "parser exploded" in out.detail
    assert calls["n"] == settings.ingest_max_attempts
    with gate.factory() as session:
        row = session.get_one(InboundMail, out.inbound_id)
        assert row.raw == b"poison" and row.state == InboundState.QUARANTINED
        assert row.attempts == settings.ingest_max_attempts
    assert gate.send(good).kind == "new"


def test_blocked_sender_is_kept_but_gets_no_ticket(
    gate: FakeGate, factory: sessionmaker[Session]
) -> None:
    from queues.models import Contact

    gate.send(make_mail(sender=("Spammer", "spam@example.com")))
    with factory.begin() as session:
        session.scalars(
            select(Contact).where(Contact.email == "spam@example.com")
        ).one().blocked = True
    out = gate.send(make_mail(sender=("Spammer", "spam@example.com")))
    assert out.kind == "ignored" and "blocked" in out.detail
    with factory() as session:
        assert session.get_one(InboundMail, out.inbound_id).state == InboundState.IGNORED


def test_triage_sends_serious_reports_to_specialist_safety(gate: FakeGate) -> None:
    out = gate.send(make_mail(body="He said he knows where I live and that he will kill me."))
    t = ticket(gate, out.ticket_number)
    assert t.queue.slug == "specialist-safety"
    assert t.priority >= 4
    assert t.triage_reasons and all(isinstance(r, str) for r in t.triage_reasons)
    assert any(e.kind == "moved" and "safety triage" in e.detail for e in t.events)


def test_a_followup_can_escalate_but_never_demote(gate: FakeGate) -> None:
    first = gate.send(make_mail(body="Someone insults me in comments."))
    number = first.ticket_number or ""
    assert ticket(gate, number).queue.slug == "general-help"
    gate.send(
        make_mail(
            subject=f"Re: [Ticket#{number}]",
            body="Now he posted my home address and phone number online.",
        )
    )
    t = ticket(gate, number)
    assert t.queue.slug == "specialist-safety" and t.triage_reasons
    gate.send(make_mail(subject=f"Re: [Ticket#{number}]", body="Thanks, all is calm now."))
    assert ticket(gate, number).queue.slug == "specialist-safety"


def test_police_liaison_routing_is_not_undone_by_triage(gate: FakeGate) -> None:
    from queues.models import RoutingRule

    with gate.factory.begin() as session:
        session.add(
            RoutingRule(
                position=1,
                name="police",
                field="subject",
                match="contains",
                pattern="police",
                set_queue="police-liaison",
            )
        )
    out = gate.send(make_mail(subject="police report", body="He threatened to kill me."))
    t = ticket(gate, out.ticket_number)
    assert t.queue.slug == "police-liaison" and t.triage_reasons


def test_a_reply_quoting_our_acknowledgement_is_not_triaged(gate: FakeGate) -> None:
    first = gate.send(make_mail())
    t = ticket(gate, first.ticket_number)
    quoted = "\n".join("> " + line for line in t.articles[1].body_text.splitlines())
    gate.send(make_mail(subject=f"Re: {t.articles[1].subject}", body=f"Thank you.\n\n{quoted}"))
    t = ticket(gate, first.ticket_number)
    assert t.queue.slug == "general-help" and t.triage_reasons == []


def test_followup_to_a_merged_ticket_goes_to_the_ticket_it_was_merged_into(
    gate: FakeGate,
) -> None:
    first = gate.send(make_mail(subject="first report"))
    second = gate.send(make_mail(subject="second report", sender=("Other", "other@example.com")))
    old, kept = first.ticket_number or "", second.ticket_number or ""
    with gate.factory.begin() as session:
        source = session.scalars(select(Ticket).where(Ticket.number == old)).one()
        target = session.scalars(select(Ticket).where(Ticket.number == kept)).one()
        # What queues.tickets.merge leaves behind: the old requester may write into the target.
        source.merged_into_id = target.id
        source.state = TicketState.CLOSED
        target.participants.append(Participant(email="alice@example.net", role="merged"))
        ack_id = ticket(gate, old).articles[1].message_id or ""
    by_tag = gate.send(make_mail(subject=f"Re: {format_tag('Ticket#', old)} more", message_id=None))
    assert (by_tag.kind, by_tag.ticket_number) == ("followup", kept)
    by_reference = gate.send(make_mail(subject="Re: thanks", in_reply_to=[ack_id]))
    assert (by_reference.kind, by_reference.ticket_number) == ("followup", kept)
    assert ticket(gate, old).state == TicketState.CLOSED  # not reopened


def test_warm_up_loads_what_the_first_message_would_wait_for(tmp_path: Path) -> None:
    """A fresh process (others in this run have loaded the models already): after
    `warm_up`, the triage patterns, the wording model and the language model are in memory,
    so the first report after a start is not kept waiting for them (tests/integration/
    test_serve.py measures that wait: 1.3 s without)."""
    code = f"""
import queues.triage as t, queues.triage.model as m, queues.reporter.language as lang
from sqlalchemy.orm import Session
from queues.db import make_engine
from queues.ingest import warm_up
from queues.migrate import upgrade
from queues.triage.staff import current_lexicon
engine = make_engine("sqlite:///{tmp_path / "w.db"}")
upgrade(engine)
assert not (t._COMPILED or m._LOADED or lang._MODEL), "loaded before warm_up"
with Session(engine) as session:
    lexicon = current_lexicon(session)
warm_up(lexicon)
assert t._COMPILED and m._LOADED and lang._MODEL, (t._COMPILED, m._LOADED, lang._MODEL)
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_on_sqlite_a_report_is_triaged_outside_the_write_lock(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexicon, the wording model and the language detection run while another writer
    (the gateway, the web UI) can still take SQLite's one write lock; the ticket is placed
    by their hits as before."""
    import sqlite3
    from dataclasses import replace
    from email.message import EmailMessage

    import queues.triage.model as model
    from mailgate.parser import parse_message
    from queues import ingest
    from queues.db import make_engine
    from queues.reporter import language
    from queues.triage.engine import Compiled
    from tests.conftest import _migrated

    path = tmp_path / "lock.db"
    engine = _migrated(make_engine(f"sqlite:///{path}"))
    factory = sessionmaker(engine)
    seen: dict[str, list[bool]] = {"lexicon": [], "model": [], "language": []}

    def lock_free() -> bool:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # "database is locked"
            return False
        finally:
            probe.close()

    def probed(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen[name].append(lock_free())
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(Compiled, "scan", probed("lexicon", Compiled.scan))
    monkeypatch.setattr(model, "model_hits", probed("model", model.model_hits))
    identifier = language._identifier()

    class Probed:
        def classify(self, text: str) -> Any:
            seen["language"].append(lock_free())
            return identifier.classify(text)

    monkeypatch.setattr(language, "_identifier", lambda: Probed())
    mail = EmailMessage()
    mail["From"] = "Alice <alice@example.net>"
    mail["To"] = "help@example.org"
    mail["Subject"] = "Please help"
    mail.set_content("He wrote that he will kill me if I report him again. I am scared.")
    with factory.begin() as session:
        inbound = ingest.store_inbound(
            session,
            mail.as_bytes(),
            source="smtp",
            envelope_from="alice@example.net",
            envelope_to=["help@example.org"],
        )
        inbound_id = inbound.id
    outcome = ingest.process_stored(
        factory, inbound_id, replace(settings, triage_model=True), parse_message
    )
    assert outcome.kind == "new"
    assert seen == {"lexicon": [True], "model": [True], "language": [True]}
    with factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.queue.slug == "specialist-safety"
        assert ticket.language == "en"
        assert any("kill" in reason for reason in ticket.triage_reasons)
    engine.dispose()
