"""Claims on the inbound backlog: quarantine of mail that never finishes, and no second ticket
when a runner's lease ran out and another runner finished the message first."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from queues.backlog import claim_inbound, mark_started, release_inbound
from queues.db import make_engine, make_sessionmaker
from queues.ingest import AlreadyProcessed, process_inbound, process_stored, store_inbound
from queues.mail import IncomingMail
from queues.migrate import upgrade
from queues.models import InboundMail, InboundState, OutboxMessage, Ticket, utcnow
from queues.rows import load_stored
from queues.seed import seed_queues
from queues.settings import Settings
from tests.conftest import SqliteFile

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


def test_a_killed_runner_has_counted_an_attempt_only_for_the_message_in_hand(
    gate: FakeGate,
) -> None:
    """Claim three, finish the first (counting the second in the same commit), then die."""
    ids = [_store(gate) for _ in range(3)]
    with gate.factory.begin() as session:
        assert claim_inbound(session, first_only=True) == ids
    process_stored(
        gate.factory, ids[0], gate.settings, gate.parse, attempt_counted=True, mark_next=ids[1]
    )
    # ... the process dies while working on ids[1]; ids[2] was waiting its turn.
    with gate.factory() as session:
        attempts = [session.get_one(InboundMail, i).attempts for i in ids]
    assert attempts == [1, 1, 0]


def test_giving_back_takes_back_only_the_counted_attempt(gate: FakeGate) -> None:
    ids = [_store(gate) for _ in range(3)]
    with gate.factory.begin() as session:
        claim_inbound(session, first_only=True)
    with gate.factory.begin() as session:
        release_inbound(session, ids, counted=ids[:1])
    with gate.factory() as session:
        rows = [session.get_one(InboundMail, i) for i in ids]
        assert [r.attempts for r in rows] == [0, 0, 0]
        assert all(r.next_attempt_at <= utcnow() for r in rows)  # due again at once


def test_mail_that_was_in_hand_when_a_runner_died_goes_last(gate: FakeGate) -> None:
    ids = [_store(gate) for _ in range(3)]
    with gate.factory.begin() as session:
        session.get_one(InboundMail, ids[0]).attempts = 2  # in hand at two deaths
    with gate.factory.begin() as session:
        assert claim_inbound(session, first_only=True) == [ids[1], ids[2], ids[0]]


def test_the_next_message_is_counted_only_while_our_claim_holds_it(gate: FakeGate) -> None:
    ids = [_store(gate) for _ in range(2)]
    now, lease = utcnow(), timedelta(seconds=30)
    with gate.factory.begin() as session:
        claim_inbound(session, now=now, lease=lease, first_only=True)
    with gate.factory.begin() as session:
        mark_started(session, ids[1], now + lease)  # still ours: counted
        mark_started(session, ids[1], now + lease + timedelta(seconds=1))  # someone else's
    with gate.factory() as session:
        assert session.get_one(InboundMail, ids[1]).attempts == 1


def test_the_message_is_parsed_before_the_write_lock_is_taken(
    tmp_path: Path, settings: Settings
) -> None:
    """On SQLite the deciding transaction holds the database's only write lock; a parse
    (a second for a large message) must not hold up the gateway and the web UI."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        seed_queues(session)
    gate = FakeGate(factory, settings)
    inbound_id = _store(gate)
    writes_during_parse: list[bool] = []

    def parse(raw: bytes) -> IncomingMail:
        other = sqlite3.connect(tmp_path / "lock.db", timeout=0.05)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once while someone holds the lock
            other.rollback()
            writes_during_parse.append(True)
        except sqlite3.OperationalError:
            writes_during_parse.append(False)
        finally:
            other.close()
        return gate.parse(raw)

    try:
        outcome = process_stored(factory, inbound_id, settings, parse, attempt_counted=True)
    finally:
        engine.dispose()
    assert outcome.kind == "new"
    assert writes_during_parse == [True]


def test_read_through_readers_the_message_costs_one_write_lock_not_two(
    sqlite_file: SqliteFile, settings: Settings
) -> None:
    """The read before the deciding transaction goes through `readers` (deferred), so a
    claimed message takes SQLite's write lock once, to decide it: each BEGIN IMMEDIATE is
    one more wait behind the gateway and the other runners."""
    factory = sqlite_file.factory
    gate = FakeGate(factory, settings)
    first, second = _store(gate), _store(gate)
    begun: list[int] = []
    event.listen(sqlite_file.engine, "begin", lambda _conn: begun.append(1))
    without = process_stored(factory, first, settings, gate.parse, attempt_counted=True)
    locks_without, begun[:] = len(begun), []
    outcome = process_stored(
        factory, second, settings, gate.parse, attempt_counted=True, readers=sqlite_file.readers
    )
    assert without.kind == outcome.kind == "new"
    assert (locks_without, len(begun)) == (2, 1)
