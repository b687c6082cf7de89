"""Leaving (queues.team.leaving): suspending or removing an agent ends their sessions, frees
their locks, puts their open tickets back in the queue with a history row, withdraws their
held replies, hands their mentees to staff and records why; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import replies
from queues import tickets as work
from queues.accounts import verify_password
from queues.audit import AuditEvent
from queues.models import TicketEvent, TicketState
from queues.settings import Settings
from queues.team import leaving, probation, twofactor
from queues.team.models import (
    AgentProfile,
    DepartureKind,
    HeldReply,
    HeldState,
    TotpCredential,
)

from .team_world import T0, Team, mail_ticket, outbox, session, team

__all__ = ["session", "team"]
BOX = twofactor.SecretBox.from_text("a test key that is long enough for the box 0123456789")


def test_suspending_frees_locks_returns_tickets_and_records_why(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    owned = mail_ticket(factory, settings, session)
    locked = mail_ticket(factory, settings, session)
    closed = mail_ticket(factory, settings, session)
    for ticket in (owned, closed):
        work.take(session, ticket, team.veteran, T0)
    work.acquire_lock(session, locked, team.veteran, T0)
    closed.state = TicketState.CLOSED  # (closing through the service is tested elsewhere)
    version = team.veteran.session_version
    later = T0 + timedelta(minutes=2)
    departure = leaving.suspend(session, team.veteran, team.staff, "Asked for a break", later)
    assert not team.veteran.active and team.veteran.session_version == version + 1
    assert owned.owner_id is None and closed.owner_id == team.veteran.id  # history kept
    assert locked.locked_by_id is None and locked.locked_until is None
    assert (departure.kind, departure.reason, departure.by) == (
        DepartureKind.SUSPENDED,
        "Asked for a break",
        team.staff.email,
    )
    assert (departure.tickets_returned, departure.locks_released) == (1, 1)
    rows = {
        (e.ticket_id, e.kind)
        for e in session.scalars(select(TicketEvent).where(TicketEvent.at == later))
    }
    assert rows == {(owned.id, "owner"), (locked.id, "lock-released")}
    details = session.scalars(select(AuditEvent.detail)).all()
    assert any(d.startswith("account vera@example.org suspended") for d in details)
    # Another agent can now answer the ticket that was locked.
    sent = replies.send_reply(
        session, locked, team.mentor, replies.Draft(body="Hello"), settings, later
    )
    assert isinstance(sent, replies.SentReply)


def test_a_suspended_agent_can_be_enabled_a_removed_one_cannot(
    session: Session, team: Team
) -> None:
    leaving.suspend(session, team.veteran, team.staff, "Holiday", T0)
    leaving.enable(session, team.veteran)
    assert team.veteran.active
    secret = twofactor.begin(session, team.veteran, BOX, T0)
    assert secret
    team.veteran.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA"
    leaving.remove(session, team.veteran, team.staff, "Broke the pledge", T0)
    assert not team.veteran.active and not verify_password(team.veteran, "anything")
    assert session.get(TotpCredential, team.veteran.id) is None
    assert session.get_one(AgentProfile, team.veteran.id).removed
    with pytest.raises(leaving.LeavingError, match="was removed"):
        leaving.enable(session, team.veteran)
    with pytest.raises(leaving.LeavingError, match="already removed"):
        leaving.suspend(session, team.veteran, team.staff, "again", T0)


def test_held_replies_are_withdrawn_and_mentees_go_to_staff(
    factory: sessionmaker[Session], settings: Settings, session: Session, team: Team
) -> None:
    ticket = mail_ticket(factory, settings, session)
    held = replies.send_reply(session, ticket, team.novice, replies.Draft(body="x"), settings, T0)
    assert isinstance(held, replies.HeldForReview)
    row = session.get_one(HeldReply, held.held_id)
    # The mentor leaves: the mentee's waiting reply is now for staff.
    leaving.suspend(session, team.mentor, team.staff, "Moved away", T0)
    session.expire_all()
    assert session.get_one(AgentProfile, team.novice.id).mentor_id is None
    assert row.mentor_id is None and probation.waiting_for(session, team.staff) == [row]
    # The novice leaves: the reply is withdrawn, never sent, and the lock freed.
    departure = leaving.suspend(session, team.novice, team.staff, "Did not continue", T0)
    assert departure.replies_withdrawn == 1
    session.expire_all()
    assert row.state is HeldState.WITHDRAWN
    assert outbox(session, "reply") == []
    assert ticket.locked_by_id is None


def test_a_reason_is_required_and_nobody_suspends_themselves(session: Session, team: Team) -> None:
    with pytest.raises(leaving.LeavingError, match="Say why"):
        leaving.suspend(session, team.veteran, team.staff, "  ", T0)
    with pytest.raises(leaving.LeavingError, match="your own"):
        leaving.suspend(session, team.staff, team.staff, "tired", T0)
    assert team.veteran.active


def test_the_command_line_records_its_label(session: Session, team: Team) -> None:
    leaving.suspend(session, team.veteran, "command:root", "Left the team", T0)
    [departure] = leaving.departures(session, team.veteran.id)
    assert departure.by == "command:root"
