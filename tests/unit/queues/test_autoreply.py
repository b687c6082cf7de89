"""Loop and flood guards of the acknowledgement (RFC 3834) and its daily caps."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.autoreply import loop_guard
from queues.models import ArticleKind, Ticket
from queues.settings import Settings

from .builders import FakeGate, make_mail


@pytest.mark.parametrize(
    ("kwargs", "envelope_from", "reason"),
    [
        ({"headers": {"Auto-Submitted": "auto-replied"}}, None, "Auto-Submitted"),
        ({"headers": {"Auto-Submitted": "auto-generated (vacation)"}}, None, "Auto-Submitted"),
        ({"headers": {"X-Switchboard-Loop": "help@other.example"}}, None, "loop header"),
        ({"is_auto_submitted": True}, None, "automatic reply"),
        ({"is_bounce": True}, None, "bounce"),
        ({"is_list_or_bulk": True}, None, "list or bulk"),
        ({}, "<>", "empty return path"),
        ({"sender": ("Mail Delivery System", "MAILER-DAEMON@mx.example")}, None, "MAILER-DAEMON"),
        ({"sender": ("", "postmaster@mx.example")}, None, "postmaster"),
        ({"sender": ("", "no-reply@service.example")}, None, "no-reply"),
        ({"sender": ("Us", "help@example.org")}, None, "our own"),
        ({"sender": ("Us", "noreply@example.org")}, None, "no-reply"),
        ({"sender": None}, None, "no usable From"),
    ],
)
def test_loop_guard_refuses(
    settings: Settings, kwargs: dict[str, object], envelope_from: str | None, reason: str
) -> None:
    verdict = loop_guard(make_mail(**kwargs), envelope_from, settings)  # type: ignore[arg-type]
    assert not verdict.allowed
    assert reason.lower() in verdict.reason.lower()


def test_loop_guard_allows_ordinary_mail_and_auto_submitted_no(settings: Settings) -> None:
    assert loop_guard(make_mail(), "alice@example.net", settings).allowed
    assert loop_guard(make_mail(headers={"Auto-Submitted": "no"}), None, settings).allowed


def _acks(gate: FakeGate) -> int:
    with gate.factory() as session:
        tickets = session.scalars(select(Ticket)).all()
        return sum(a.kind == ArticleKind.AUTO for t in tickets for a in t.articles)


def test_per_sender_cap_is_recorded_in_history(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    gate = FakeGate(factory, dataclasses.replace(settings, ack_per_sender_per_day=2))
    outcomes = [gate.send(make_mail(subject=f"report {i}")) for i in range(4)]
    assert all(o.kind == "new" for o in outcomes)
    assert _acks(gate) == 2
    with factory() as session:
        last = session.scalars(
            select(Ticket).where(Ticket.number == outcomes[-1].ticket_number)
        ).one()
        assert any(
            e.kind == "autoreply-suppressed" and "per-sender cap" in e.detail for e in last.events
        )
    # Another sender still gets theirs.
    gate.send(make_mail(sender=("Bob", "bob@example.net")))
    assert _acks(gate) == 3


def test_global_cap(factory: sessionmaker[Session], settings: Settings) -> None:
    # The same report from five senders would be a flood (queues.abuse) collapsed into one
    # ticket, acknowledged once; here each must be a ticket of its own.
    capped = dataclasses.replace(settings, ack_global_per_day=3, abuse_flood_min_senders=0)
    gate = FakeGate(factory, capped)
    for i in range(5):
        gate.send(make_mail(sender=(f"P{i}", f"p{i}@example.net")))
    assert _acks(gate) == 3


def test_two_autoresponders_cannot_ping_pong(gate_pair: tuple[FakeGate, FakeGate]) -> None:
    """Our acknowledgement, fed to a second Switchboard, is not answered there."""
    ours, theirs = gate_pair
    first = ours.send(make_mail(sender=("Other desk", "help@other.example")))
    with ours.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == first.ticket_number)).one()
        ack = t.articles[1]
        ack_mail = make_mail(
            subject=ack.subject,
            body=ack.body_text,
            sender=("Switchboard", "help@example.org"),
            to=["help@other.example"],
            headers={"Auto-Submitted": "auto-replied", "X-Switchboard-Loop": "help@example.org"},
        )
    out = theirs.send(ack_mail)
    assert out.kind == "new"
    with theirs.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == out.ticket_number)).one()
        assert [a.kind for a in t.articles] == [ArticleKind.INCOMING]
        assert any(e.kind == "autoreply-suppressed" for e in t.events)


@pytest.fixture
def gate_pair(factory: sessionmaker[Session], settings: Settings) -> tuple[FakeGate, FakeGate]:
    other = dataclasses.replace(settings, addresses={"help@other.example": "general-help"})
    return FakeGate(factory, settings), FakeGate(factory, other)
