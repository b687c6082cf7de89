"""Bulk import: a stored batch processed in one transaction, each message in its savepoint."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from queues.ingest import process_batch, process_stored, store_batch
from queues.mail import IncomingMail
from queues.models import Article, InboundMail, InboundState, OutboxMessage, Ticket
from queues.settings import Settings

from .builders import FakeGate, make_mail


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    return FakeGate(factory, settings)


def test_a_failing_message_rolls_back_alone_and_the_batch_commits(gate: FakeGate) -> None:
    first, second = make_mail(subject="first report"), make_mail(subject="second report")
    raws = [gate.raw_for(first), b"poison", gate.raw_for(second)]

    def parse(raw: bytes) -> IncomingMail:
        if raw == b"poison":
            raise RuntimeError("parser exploded")
        return gate.parse(raw)

    ids = store_batch(gate.factory, [(raw, "file:test") for raw in raws])
    outcomes = process_batch(gate.factory, ids, gate.settings, parse)

    assert [o.kind for o in outcomes] == ["new", "failed", "new"]
    assert "parser exploded" in outcomes[1].detail
    with gate.factory() as session:
        rows = {r.id: r for r in session.scalars(select(InboundMail))}
        assert rows[ids[0]].state == InboundState.DONE and rows[ids[2]].state == InboundState.DONE
        poison = rows[ids[1]]
        assert poison.state == InboundState.FAILED and poison.raw == b"poison"
        assert poison.attempts == 1 and "parser exploded" in (poison.last_error or "")
        assert poison.ticket_id is None
        # Nothing of the failed message leaked into the database before its rollback.
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    # Retried on its own until the attempts run out: quarantined, never lost.
    out = outcomes[1]
    while out.kind == "failed":
        out = process_stored(gate.factory, ids[1], gate.settings, parse)
    assert out.kind == "quarantined"


def test_a_batch_sees_its_own_earlier_messages(gate: FakeGate) -> None:
    """A reply and an exact duplicate in the same batch as the original are recognised."""
    original = make_mail(subject="they found my address")
    reply = make_mail(
        subject="Re: they found my address",
        in_reply_to=[original.message_id or ""],
        references=[original.message_id or ""],
    )
    raw = gate.raw_for(original)
    ids = store_batch(gate.factory, [(raw, "a"), (raw, "b"), (gate.raw_for(reply), "c")])
    outcomes = process_batch(gate.factory, ids, gate.settings, gate.parse)
    assert [o.kind for o in outcomes] == ["new", "duplicate", "followup"]
    assert outcomes[0].ticket_number == outcomes[2].ticket_number
    with gate.factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        kinds = session.scalars(
            select(Article.kind).where(Article.ticket_id == ticket.id).order_by(Article.id)
        ).all()
        assert [k.value for k in kinds] == ["incoming", "auto", "incoming"]


def test_stored_batch_is_claimed_so_a_crash_before_processing_loses_nothing(
    gate: FakeGate,
) -> None:
    """Stored rows carry the first attempt and a lease: a runner takes them over later."""
    ids = store_batch(gate.factory, [(gate.raw_for(make_mail()), "file:x")])
    with gate.factory() as session:
        row = session.get_one(InboundMail, ids[0])
        assert row.state == InboundState.NEW and row.attempts == 1
        assert row.next_attempt_at > row.received_at
