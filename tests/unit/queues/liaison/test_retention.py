"""Retention and legal hold with a controlled clock: what a purge removes, the tombstone it
keeps, held tickets that survive it, and a dry run that changes nothing. Mail comes in
through the real ingest path; tickets are closed by the real service."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from queues.liaison.evidence.manifest import sha256_hex
from queues.liaison.retention import (
    active_holds,
    held_ticket_ids,
    place_hold,
    purge,
    release_hold,
    retention_days,
)
from queues.liaison.retention_models import LegalHold, TicketTombstone
from queues.models import (
    Article,
    Attachment,
    AuditEvent,
    Blob,
    Contact,
    InboundMail,
    OutboxMessage,
    OutboxState,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
    utcnow,
)
from queues.search import search_tickets
from queues.settings import Settings, SettingsError, load_settings
from queues.tickets import merge, move, set_state

from .evidence_world import receive, report

PDF = b"%PDF-1.4 the screenshot\n"
SHARED = b"%PDF-1.4 a file two people sent\n"


@pytest.fixture
def staff(factory: sessionmaker[Session]) -> int:
    with factory.begin() as session:
        user = User(email="staff@example.org", name="Staff", role=Role.STAFF, password_hash="x")
        session.add(user)
        session.flush()
        return user.id


def close(factory: sessionmaker[Session], staff: int, number: str, when: datetime) -> None:
    with factory.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        user = session.get_one(User, staff)
        # these tickets were never answered: closing them needs a reason (issue 10)
        set_state(session, ticket, user, TicketState.CLOSED, when, no_answer_reason="test")


def counts(session: Session, ticket_id: int) -> dict[str, int]:
    def n(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    articles = select(Article.id).where(Article.ticket_id == ticket_id)
    return {
        "tickets": n(Ticket, Ticket.id == ticket_id),
        "articles": n(Article, Article.ticket_id == ticket_id),
        "attachments": n(Attachment, Attachment.article_id.in_(articles)),
        "inbound": n(InboundMail, InboundMail.ticket_id == ticket_id),
        "outbox": n(OutboxMessage, OutboxMessage.ticket_id == ticket_id),
        "events": n(TicketEvent, TicketEvent.ticket_id == ticket_id),
    }


def test_retention_periods_per_queue(factory: sessionmaker[Session], settings: Settings) -> None:
    with factory() as session:
        queues = {q.slug: q for q in session.scalars(select(Queue))}
        assert retention_days(queues["general-help"], settings) == 365
        assert retention_days(queues["specialist-safety"], settings) == 730
        assert retention_days(queues["police-liaison"], settings) == 0
        queues["general-help"].retention_days = 30  # the queue's own period wins
        assert retention_days(queues["general-help"], settings) == 30
        custom = replace(settings, retention_days={}, retention_default_days=90)
        assert retention_days(queues["specialist-safety"], custom) == 90


def test_purge_removes_content_and_keeps_a_tombstone(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    raw = report(body="the word zebracorn is in my report",
                 attachments=(("shot.pdf", "application/pdf", PDF),
                              ("shared.pdf", "application/pdf", SHARED)))  # fmt: skip
    old = receive(factory, settings, raw)
    other = receive(factory, settings, report(
        subject="Another report", message_id="<other@example.net>", sender="Bo <bo@example.net>",
        attachments=(("shared.pdf", "application/pdf", SHARED),)))  # fmt: skip
    t0 = utcnow()
    close(factory, staff, old.number, t0)
    close(factory, staff, other.number, t0 + timedelta(days=300))
    with factory() as session:
        before = counts(session, old.id)
    assert before["articles"] == 2 and before["attachments"] == 2  # the report and our ack
    assert before["inbound"] == 1 and before["outbox"] == 1 and before["events"] >= 1

    with factory.begin() as session:
        report_ = purge(session, settings, now=t0 + timedelta(days=366), dry_run=False,
                        actor="command:root")  # fmt: skip
    assert [i.number for i in report_.purged] == [old.number]
    assert report_.purged[0].articles == 2 and report_.purged[0].attachments == 2

    with factory() as session:
        assert counts(session, old.id) == dict.fromkeys(before, 0)
        stone = session.scalars(
            select(TicketTombstone).where(TicketTombstone.number == old.number)
        ).one()
        assert stone.queue == "general-help" and stone.purged_by == "command:root"
        assert stone.raw_sha256 == [sha256_hex(raw)]
        assert stone.attachment_sha256 == [sha256_hex(PDF), sha256_hex(SHARED)]
        assert stone.articles == 2 and stone.closed_at == t0 and stone.created_at == old.created_at
        # The blob only the purged ticket used is gone; the one another ticket uses stays.
        assert session.get(Blob, sha256_hex(PDF)) is None
        assert session.get(Blob, sha256_hex(SHARED)) is not None
        # The requester's address went with their last ticket; the other requester stays.
        emails = set(session.scalars(select(Contact.email)))
        assert "rita@example.net" not in emails and "bo@example.net" in emails
        # Search no longer finds it (SQLite: FTS rows follow through triggers).
        admin = session.get_one(User, staff)
        assert search_tickets(session, admin, "zebracorn").tickets == []
        if session.get_bind().dialect.name == "sqlite":
            hits = session.execute(
                text("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'zebracorn'")
            ).scalar()
            assert hits == 0
        # The audit log says a purge happened, by whom; never what was in it.
        audit = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert audit is not None and audit.actor == "command:root"
        assert audit.detail == "retention purge: 1 tickets removed, tombstones kept"
        assert counts(session, other.id)["articles"] == 2  # not yet due


def test_a_dry_run_changes_nothing(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    ticket = receive(factory, settings, report(attachments=(("a.pdf", "application/pdf", PDF),)))
    t0 = utcnow()
    close(factory, staff, ticket.number, t0)
    with factory() as session:
        before = counts(session, ticket.id)
        stones = session.scalar(select(func.count()).select_from(TicketTombstone))
    with factory.begin() as session:
        result = purge(session, settings, now=t0 + timedelta(days=400), dry_run=True, actor="x")
    assert result.dry_run and [i.number for i in result.purged] == [ticket.number]
    with factory() as session:
        assert counts(session, ticket.id) == before
        assert session.scalar(select(func.count()).select_from(TicketTombstone)) == stones
        assert session.get(Blob, sha256_hex(PDF)) is not None


def test_a_held_ticket_survives_until_released(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    ticket = receive(factory, settings, report())
    t0 = utcnow()
    close(factory, staff, ticket.number, t0)
    with factory.begin() as session:
        place_hold(session, ticket.id, "police-liaison case 20261203000042", "staff@example.org")
    later = t0 + timedelta(days=10_000)
    with factory.begin() as session:
        result = purge(session, settings, now=later, dry_run=False, actor="system:purge")
    assert result.purged == [] and result.held == [ticket.number]
    with factory() as session:
        assert counts(session, ticket.id)["articles"] == 2
        kinds = [e.kind for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]  # fmt: skip
        assert "legal-hold" in kinds
        # The history says a hold was placed, never the reason (it may name a police case).
        assert not session.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.detail.contains("20261203000042")))  # fmt: skip

    with factory.begin() as session:
        released = release_hold(session, ticket.id, "the case is closed", "staff@example.org")
        assert [h.released_by for h in released] == ["staff@example.org"]
        assert active_holds(session, ticket.id) == []
    with factory.begin() as session:
        result = purge(session, settings, now=later, dry_run=False, actor="system:purge")
    assert [i.number for i in result.purged] == [ticket.number]


def test_several_holds_and_their_rules(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    ticket = receive(factory, settings, report())
    with factory.begin() as session:
        with pytest.raises(ValueError, match="give the reason"):
            place_hold(session, ticket.id, "  ", "staff@example.org")
        with pytest.raises(LookupError):
            place_hold(session, 10**9, "reason", "staff@example.org")
        with pytest.raises(LookupError, match="not on legal hold"):
            release_hold(session, ticket.id, "reason", "staff@example.org")
        place_hold(session, ticket.id, "liaison case", "system")
        place_hold(session, ticket.id, "a court asked us to keep it", "staff@example.org")
        assert len(active_holds(session, ticket.id)) == 2
        assert ticket.id in held_ticket_ids(session)
        release_hold(session, ticket.id, "done", "staff@example.org")
        assert ticket.id not in held_ticket_ids(session)
        assert session.scalar(select(func.count()).select_from(LegalHold)
                              .where(LegalHold.ticket_id == ticket.id)) == 2  # fmt: skip
        actions = [e.detail for e in session.scalars(
            select(AuditEvent).where(AuditEvent.ticket_id == ticket.id))]  # fmt: skip
        assert actions.count("legal hold placed") == 2 and "legal hold released" in actions


def test_a_hold_follows_a_merge(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    """The held ticket's messages move to the ticket it is merged into: that one is held too."""
    held = receive(factory, settings, report())
    target = receive(factory, settings, report(subject="Other", message_id="<t@example.net>"))
    t0 = utcnow()
    with factory.begin() as session:
        place_hold(session, held.id, "liaison case", "system")
        source = session.get_one(Ticket, held.id)
        merge(session, source, target.number, session.get_one(User, staff), t0)
    close(factory, staff, target.number, t0)
    with factory.begin() as session:
        assert held_ticket_ids(session) >= {held.id, target.id}
        result = purge(session, settings, now=t0 + timedelta(days=400), dry_run=False, actor="x")
    assert result.purged == [] and sorted(result.held) == sorted([held.number, target.number])


def test_queues_kept_for_ever_and_busy_tickets_wait(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    liaison = receive(factory, settings, report())
    busy = receive(factory, settings, report(subject="Busy", message_id="<b@example.net>"))
    t0 = utcnow()
    with factory.begin() as session:
        user = session.get_one(User, staff)
        move(session, session.get_one(Ticket, liaison.id), user, "police-liaison", t0)
    close(factory, staff, liaison.number, t0)
    close(factory, staff, busy.number, t0)
    with factory.begin() as session:
        session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.ticket_id == busy.id)
            .values(state=OutboxState.QUEUED.value)
        )
    with factory.begin() as session:
        result = purge(session, settings, now=t0 + timedelta(days=10_000), dry_run=False, actor="x")
    assert result.purged == []  # police-liaison: 0 days = for ever
    assert result.postponed == [(busy.number, "mail of it is still in the outbox")]


def test_the_limit_leaves_the_rest_for_the_next_round(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    numbers = []
    for n in range(3):
        ticket = receive(factory, settings, report(subject=f"R{n}", message_id=f"<l{n}@x.net>"))
        numbers.append(ticket.number)
    t0 = utcnow()
    for number in numbers:
        close(factory, staff, number, t0)
    later = t0 + timedelta(days=400)
    with factory.begin() as session:
        first = purge(session, settings, now=later, dry_run=False, actor="x", limit=2)
    assert len(first.purged) == 2 and first.more
    with factory.begin() as session:
        second = purge(session, settings, now=later, dry_run=False, actor="x", limit=2)
    assert [i.number for i in second.purged] == numbers[2:] and not second.more


def test_a_merged_ticket_goes_with_the_ticket_it_was_merged_into(
    factory: sessionmaker[Session], settings: Settings, staff: int
) -> None:
    source = receive(factory, settings, report())
    target = receive(factory, settings, report(subject="Other", message_id="<m@example.net>"))
    t0 = utcnow()
    with factory.begin() as session:
        user = session.get_one(User, staff)
        merge(session, session.get_one(Ticket, source.id), target.number, user, t0)
    later = t0 + timedelta(days=400)
    with factory.begin() as session:
        first = purge(session, settings, now=later, dry_run=False, actor="x")
    assert first.purged == []  # the target is still open: mail to the old number goes there
    assert first.postponed == [(source.number, "merged into a ticket that is kept")]
    close(factory, staff, target.number, t0)
    with factory.begin() as session:
        second = purge(session, settings, now=later, dry_run=False, actor="x")
    assert [i.number for i in second.purged] == [target.number]
    with factory.begin() as session:
        third = purge(session, settings, now=later, dry_run=False, actor="x")
    assert [i.number for i in third.purged] == [source.number]


def test_retention_settings_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        "[switchboard]\nretention_default_days = 180\n"
        '[switchboard.retention_days]\n"general-help" = 90\n"police-liaison" = 0\n'
    )
    loaded = load_settings(config, environ={})
    assert loaded.retention_days == {"general-help": 90, "police-liaison": 0}
    assert loaded.retention_default_days == 180
    config.write_text('[switchboard.retention_days]\n"general-help" = -1\n')
    with pytest.raises(SettingsError, match="must not be negative"):
        load_settings(config, environ={})
