"""Claims on the inbound backlog: quarantine of mail that never finishes, and no second ticket
when a runner's lease ran out and another runner finished the message first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from queues.backlog import claim_inbound
from queues.ingest import AlreadyProcessed, process_inbound, process_stored, store_inbound
from queues.models import InboundMail, InboundState, OutboxMessage, Ticket, utcnow
from queues.rows import load_stored
from queues.settings import Settings

from .builders import FakeGate, make_mail


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    return FakeGate(factory, settings)


def _store(gate: FakeGate) -> int:
    with gate.factory.begin() as session:
        row = store_inbound(session, gate.raw_for(make_mail()), source="test")
        return row.id


def test_mail_whose_every_attempt_died_is_quarantined_at_the_next_claim(gate: FakeGate) -> None:
    """A message that kills the runner never records a failure: the claim counts for it."""
    inbound_id = _store(gate)
    lease = timedelta(seconds=60)
    now = utcnow()
    for attempt in range(3):
        with gate.factory.begin() as session:
            # The runner "dies" after each claim; the next claim comes after the lease.
            claimed = claim_inbound(session, lease=lease, now=now, max_attempts=3)
            assert claimed == [inbound_id], f"attempt {attempt + 1}"
        now += lease + timedelta(seconds=1)
    with gate.factory.begin() as session:
        assert claim_inbound(session, lease=lease, now=now, max_attempts=3) == []
    with gate.factory() as session:
        row = session.get_one(InboundMail, inbound_id)
        assert row.state == InboundState.QUARANTINED
        assert row.attempts == 3
        assert "never finished in 3 attempts" in (row.last_error or "")
        assert row.raw  # kept for staff to look at and re-run


def test_claims_without_a_limit_on_attempts_keep_retrying(gate: FakeGate) -> None:
    inbound_id = _store(gate)
    now = utcnow()
    for _ in range(5):
        with gate.factory.begin() as session:
            assert claim_inbound(session, now=now) == [inbound_id]
        now += timedelta(minutes=6)


def test_a_runner_whose_lease_ran_out_rolls_back_instead_of_a_second_ticket(
    gate: FakeGate,
) -> None:
    inbound_id = _store(gate)
    # Runner A read the message, then stalled past its lease ...
    with gate.factory() as session:
        stale = load_stored(session.connection(), inbound_id)
    assert stale is not None
    # ... runner B took it over and made the ticket ...
    assert process_stored(gate.factory, inbound_id, gate.settings, gate.parse).kind == "new"
    # ... and A's late work must not make a second ticket or a second acknowledgement.
    with pytest.raises(AlreadyProcessed), gate.factory.begin() as session:
        process_inbound(session, stale, gate.settings, gate.parse)
    with gate.factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert session.get_one(InboundMail, inbound_id).state == InboundState.DONE


def test_process_stored_reports_a_message_already_done(gate: FakeGate) -> None:
    inbound_id = _store(gate)
    assert process_stored(gate.factory, inbound_id, gate.settings, gate.parse).kind == "new"
    again = process_stored(gate.factory, inbound_id, gate.settings, gate.parse)
    assert again.kind == "done"
