"""`switchboard user add --vetted-by` records who vetted the agent; `user disable` is leaving
(the agent's open tickets go back to their queue, the reason is kept) and a removed agent
cannot be enabled again; `user reset-two-factor` forgets a lost phone's secret (issue 12), on
SQLite and PostgreSQL through the real command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyotp
from sqlalchemy import select

from queues.models import Queue, Ticket, User
from queues.settings import Settings
from queues.team import twofactor
from queues.team.leaving import departures, remove
from queues.team.models import AgentProfile, DepartureKind

from .test_user_admin import Run, account, database_url, in_db, sb

__all__ = ["database_url", "sb"]


def test_user_add_records_who_vetted(sb: Run, database_url: str) -> None:
    sb("user", "add", "vol@example.org", "--role", "volunteer", "--vetted-by", " Dana  Director ")
    sb("user", "add", "spec@example.org", "--role", "specialist")
    vol, spec = account(database_url, "vol@example.org"), account(database_url, "spec@example.org")
    with in_db(database_url) as session:
        named = session.get_one(AgentProfile, vol.id)
        plain = session.get_one(AgentProfile, spec.id)
    assert named.vetted_by.startswith("Dana Director (command:") and named.vetted_at is not None
    assert plain.vetted_by.startswith("command:") and "(" not in plain.vetted_by


def test_user_disable_hands_tickets_back_and_keeps_the_reason(sb: Run, database_url: str) -> None:
    sb("user", "add", "vol@example.org", "--role", "volunteer")
    vol = account(database_url, "vol@example.org")
    with in_db(database_url) as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        session.add(Ticket(number="2026120400001", queue_id=queue.id, owner_id=vol.id))
        session.commit()
    out = sb("user", "disable", "vol@example.org", "--reason", "Left for a new job").output
    assert "1 tickets went back to their queues" in out
    with in_db(database_url) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == "2026120400001")).one()
        assert ticket.owner_id is None
        [departure] = departures(session, vol.id)
        assert (departure.kind, departure.reason) == (DepartureKind.SUSPENDED, "Left for a new job")
        assert departure.by.startswith("command:")
        remove(
            session,
            session.get_one(type(vol), vol.id),
            "command:test",
            "for good",
            datetime.now(UTC),
        )
        session.commit()
    refused = sb("user", "enable", "vol@example.org", ok=False)
    assert refused.exit_code == 1 and "was removed" in refused.output


def test_user_reset_two_factor_forgets_the_secret(
    sb: Run, database_url: str, tmp_path: Path
) -> None:
    sb("user", "add", "spec@example.org", "--role", "specialist")
    spec = account(database_url, "spec@example.org")
    box = twofactor.load_box(Settings(var_dir=tmp_path / "var"))
    now = datetime.now(UTC)
    with in_db(database_url) as session:
        user = session.get_one(User, spec.id)
        secret = twofactor.begin(session, user, box, now)
        twofactor.confirm(session, user, pyotp.TOTP(secret).at(now), box, now)
        session.commit()
    out = sb("user", "reset-two-factor", "spec@example.org").output
    assert "is reset" in out
    after = account(database_url, "spec@example.org")
    assert after.session_version > spec.session_version
    with in_db(database_url) as session:
        assert not twofactor.enrolled(session, spec.id)
        assert twofactor.recovery_codes_left(session, spec.id) == 0
    assert sb("user", "reset-two-factor", "x@example.org", ok=False).exit_code == 1
