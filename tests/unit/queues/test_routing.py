"""Routing rules: ordered, first match wins, every hit recorded; ReDoS-safe; safety is sticky."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.models import InboundMail, InboundState, RoutingRule, Ticket
from queues.routing import RuleError, rule_matches, validate_rule
from queues.settings import Settings

from .builders import FakeGate, make_mail

QUEUES = ["general-help", "specialist-safety", "police-liaison"]


def add_rule(factory: sessionmaker[Session], **kw: object) -> int:
    defaults: dict[str, object] = {"name": "rule", "field": "subject", "match": "contains"}
    defaults.update(kw)
    rule = RoutingRule(**defaults)
    validate_rule(rule, QUEUES)
    with factory.begin() as session:
        session.add(rule)
        session.flush()
        return rule.id


def load(gate: FakeGate, number: str | None) -> Ticket:
    with gate.factory() as session:
        t = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        _ = t.events
        return t


@pytest.fixture
def gate(factory: sessionmaker[Session], settings: Settings) -> FakeGate:
    return FakeGate(factory, settings)


def test_first_match_wins_and_hits_are_recorded(gate: FakeGate) -> None:
    first = add_rule(gate.factory, position=1, name="press", pattern="journalist", set_priority=2)
    add_rule(gate.factory, position=2, name="any", pattern="journalist", set_priority=5, flag=True)
    out = gate.send(make_mail(subject="A journalist asks"))
    t = load(gate, out.ticket_number)
    assert t.priority == 2 and not t.flagged
    assert any(f"#{first} 'press' matched: priority 2" in e.detail for e in t.events)
    with gate.factory() as session:
        hits = dict(session.execute(select(RoutingRule.name, RoutingRule.hits)).all())
    assert hits == {"press": 1, "any": 0}


def test_words_match_whole_words_in_any_order(gate: FakeGate) -> None:
    add_rule(
        gate.factory,
        position=1,
        field="body",
        match="words",
        pattern="account hacked",
        set_queue="police-liaison",
    )
    out = gate.send(make_mail(body="They HACKED my account yesterday."))
    assert load(gate, out.ticket_number).queue.slug == "police-liaison"
    out = gate.send(make_mail(body="my accountant is unhacked"))
    assert load(gate, out.ticket_number).queue.slug == "general-help"


def test_header_rule_and_ignore_keeps_the_raw_mail(gate: FakeGate) -> None:
    add_rule(
        gate.factory,
        position=1,
        field="header:X-Spam-Flag",
        match="regex",
        pattern=r"^yes$",
        ignore=True,
    )
    out = gate.send(make_mail(headers={"X-Spam-Flag": "YES"}))
    assert out.kind == "ignored"
    with gate.factory() as session:
        row = session.get_one(InboundMail, out.inbound_id)
        assert row.state == InboundState.IGNORED and row.raw


def test_a_rule_cannot_move_a_safety_report_to_general_help(gate: FakeGate) -> None:
    add_rule(gate.factory, position=1, pattern="help", set_queue="general-help")
    out = gate.send(make_mail(subject="help me", to=["safety@example.org"]))
    t = load(gate, out.ticket_number)
    assert t.queue.slug == "specialist-safety"
    assert any("may not move" in e.detail for e in t.events)


def test_catastrophic_regex_is_stopped_by_the_timeout(settings: Settings) -> None:
    rule = RoutingRule(name="redos", field="body", match="regex", pattern=r"^(a+)+$")
    mail = make_mail(body="a" * 40 + "!")
    started = time.monotonic()
    assert rule_matches(rule, mail, timeout=0.2) is False
    assert time.monotonic() - started < 5  # bounded, not exponential


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"field": "bodyy", "pattern": "x", "flag": True}, "field must be"),
        ({"match": "glob", "pattern": "x", "flag": True}, "match must be"),
        ({"match": "regex", "pattern": "(", "flag": True}, "invalid regular expression"),
        ({"pattern": "x", "set_queue": "nowhere"}, "no queue"),
        ({"pattern": "x", "set_priority": 9}, "priority"),
        ({"pattern": "x"}, "at least one action"),
        ({"pattern": "  ", "flag": True}, "empty"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(kw: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "r", "field": "subject", "match": "contains"}
    base.update(kw)
    with pytest.raises(RuleError, match=message):
        validate_rule(RoutingRule(**base), QUEUES)
