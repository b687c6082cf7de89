"""Triage feedback (queues.triage.feedback): escalation to specialist-safety as a triage miss,
moves back as false alarms, the volunteer's trace, and the live figures, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.access import ticket_for
from queues.models import (
    Article,
    ArticleKind,
    AuditEvent,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
    utcnow,
)
from queues.settings import Settings
from queues.tickets import TicketError, move
from queues.triage import signal_reason
from queues.triage.feedback import (
    FeedbackError,
    can_escalate,
    escalations_by,
    figures,
    move_back,
    reason_category,
    reason_language,
    record_escalation,
    record_false_alarm,
    ticket_feedback,
    week_start,
)
from queues.triage.feedback_models import FALSE_ALARM, MISS, TriageFeedback

from .builders import FakeGate, make_mail

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
FLAGGED_REASON = 'threat of harm: "…he will come to my house…" (phrase en/come-to-my-house)'


@dataclass
class World:
    session: Session
    volunteer: User
    specialist: User
    staff: User
    queues: dict[str, Queue]
    count: int = 0

    def ticket(
        self,
        slug: str = "general-help",
        body: str = "Hello, someone keeps writing to me and I do not know what to do about it.",
        reasons: list[str] | None = None,
        at: datetime = NOW,
    ) -> Ticket:
        self.count += 1
        ticket = Ticket(
            number=f"202612020{self.count:05d}",
            subject="help",
            queue=self.queues[slug],
            triage_reasons=reasons or [],
            created_at=at,
        )
        self.session.add(ticket)
        self.session.flush()
        self.session.add(
            Article(ticket_id=ticket.id, kind=ArticleKind.INCOMING, subject="help", body_text=body)
        )
        if reasons:
            self.session.add(
                TicketEvent(ticket_id=ticket.id, at=at, kind="triage", detail="; ".join(reasons))
            )
        self.session.flush()
        return ticket

    def events(self, ticket: Ticket) -> list[tuple[str, str, str]]:
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        return [(e.actor, e.kind, e.detail) for e in self.session.scalars(stmt.order_by("id"))]

    def audits(self, ticket: Ticket) -> list[tuple[str, str, str]]:
        stmt = select(AuditEvent).where(AuditEvent.ticket_id == ticket.id)
        return [(a.actor, a.action, a.detail) for a in self.session.scalars(stmt.order_by("id"))]


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    session = factory()
    users = {
        name: User(email=f"{name}@example.org", name=name.title(), role=role, password_hash="x")
        for name, role in (
            ("volunteer", Role.VOLUNTEER),
            ("specialist", Role.SPECIALIST),
            ("staff", Role.STAFF),
        )
    }
    session.add_all(users.values())
    session.flush()
    queues = {q.slug: q for q in session.scalars(select(Queue))}
    return World(session, **users, queues=queues)


# --- escalation -------------------------------------------------------------------------------


def test_a_volunteer_escalates_a_ticket_out_of_their_own_sight(world: World) -> None:
    ticket = world.ticket()
    ticket.owner_id = world.volunteer.id
    ticket.locked_by_id = world.volunteer.id
    ticket.locked_until = NOW + timedelta(minutes=5)
    row = record_escalation(
        world.session, ticket, world.volunteer, "  He knows where she lives.  ", now=NOW
    )
    assert ticket.queue.slug == "specialist-safety"
    assert ticket.priority == int(Priority.HIGH)
    assert (ticket.owner_id, ticket.locked_by_id, ticket.locked_until) == (None, None, None)
    assert world.events(ticket) == [
        (
            "volunteer@example.org",
            "escalated",
            "general-help -> specialist-safety: He knows where she lives.",
        )
    ]
    # Audited (the ticket is restricted now), without the reason: it may quote the report.
    assert world.audits(ticket) == [
        ("volunteer@example.org", "change", "escalated general-help -> specialist-safety")
    ]
    assert (row.kind, row.reason, row.from_queue, row.to_queue) == (
        MISS,
        "He knows where she lives.",
        "general-help",
        "specialist-safety",
    )
    assert (row.actor, row.actor_id, row.language) == (
        "volunteer@example.org",
        world.volunteer.id,
        "en",
    )
    assert ticket_for(world.session, world.volunteer, ticket.number) is None
    assert ticket_for(world.session, world.specialist, ticket.number) is not None


def test_escalation_keeps_a_higher_priority_and_an_owner_who_can_follow(world: World) -> None:
    ticket = world.ticket()
    ticket.priority = int(Priority.URGENT)
    ticket.owner_id = world.specialist.id
    record_escalation(world.session, ticket, world.specialist, "", now=NOW)
    assert ticket.priority == int(Priority.URGENT)
    assert ticket.owner_id == world.specialist.id
    assert world.events(ticket)[-1][2] == ("general-help -> specialist-safety (no reason given)")


@pytest.mark.parametrize("state", [TicketState.CLOSED, TicketState.PENDING])
def test_escalation_opens_a_closed_or_pending_ticket(world: World, state: TicketState) -> None:
    ticket = world.ticket()
    ticket.state = state
    ticket.closed_at = NOW if state is TicketState.CLOSED else None
    ticket.pending_until = NOW + timedelta(days=2) if state is TicketState.PENDING else None
    record_escalation(world.session, ticket, world.volunteer, "", now=NOW)
    assert ticket.state is TicketState.OPEN
    assert (ticket.closed_at, ticket.pending_until) == (None, None)
    assert ("volunteer@example.org", "state", f"state {state.value} -> open") in world.events(
        ticket
    )


def test_the_category_the_agent_names_is_recorded(world: World) -> None:
    ticket = world.ticket()
    row = record_escalation(world.session, ticket, world.volunteer, "", category="self_harm")
    assert row.categories == ["self_harm"]
    with pytest.raises(FeedbackError, match="kind of risk"):
        record_escalation(world.session, world.ticket(), world.volunteer, "", category="nonsense")


def test_only_tickets_volunteers_see_can_be_escalated(world: World) -> None:
    restricted = world.ticket("specialist-safety")
    assert not can_escalate(world.specialist, restricted)
    with pytest.raises(FeedbackError, match="already in Specialist safety"):
        record_escalation(world.session, restricted, world.specialist, "")
    # A volunteer cannot act on what they cannot see: it does not exist for them.
    with pytest.raises(TicketError, match="no such ticket"):
        record_escalation(world.session, restricted, world.volunteer, "")
    general = world.ticket()
    assert all(can_escalate(u, general) for u in (world.volunteer, world.specialist, world.staff))
    world.volunteer.active = False
    assert not can_escalate(world.volunteer, general)
    with pytest.raises(TicketError):
        record_escalation(world.session, general, world.volunteer, "")
    assert general.queue.slug == "general-help"
    assert world.session.scalars(select(TriageFeedback)).all() == []


def test_a_merged_ticket_is_not_escalated(world: World) -> None:
    target = world.ticket()
    merged = world.ticket()
    merged.merged_into_id = target.id
    assert not can_escalate(world.volunteer, merged)
    with pytest.raises(FeedbackError, match="merged"):
        record_escalation(world.session, merged, world.volunteer, "")


def test_a_reason_has_a_limit(world: World) -> None:
    with pytest.raises(FeedbackError, match="too long"):
        record_escalation(world.session, world.ticket(), world.volunteer, "x" * 2001)


def test_the_trace_names_number_and_date_of_the_agents_own_escalations(world: World) -> None:
    first = world.ticket()
    second = world.ticket()
    record_escalation(world.session, first, world.volunteer, "", now=NOW)
    record_escalation(world.session, second, world.volunteer, "", now=NOW + timedelta(hours=1))
    record_escalation(world.session, world.ticket(), world.staff, "", now=NOW)
    trace = escalations_by(world.session, world.volunteer)
    assert [(e.number, e.at) for e in trace] == [
        (second.number, NOW + timedelta(hours=1)),
        (first.number, NOW),
    ]
    assert escalations_by(world.session, world.specialist) == []


# --- false alarms -----------------------------------------------------------------------------


def test_move_back_records_a_false_alarm_of_triage(world: World) -> None:
    ticket = world.ticket("specialist-safety", reasons=[FLAGGED_REASON])
    row = move_back(world.session, ticket, world.specialist, "general-help", "A film title.", NOW)
    assert ticket.queue.slug == "general-help"
    assert (row.kind, row.source, row.from_queue, row.to_queue) == (
        FALSE_ALARM,
        "triage",
        "specialist-safety",
        "general-help",
    )
    assert (row.language, row.categories, row.reason) == ("en", ["threat"], "A film title.")
    kinds = [kind for _, kind, _ in world.events(ticket)]
    assert kinds[-2:] == ["queue-out-of-restricted", "false-alarm"]
    assert world.events(ticket)[-1][2] == "specialist-safety -> general-help: A film title."


def test_move_back_needs_a_reason_before_anything_moves(world: World) -> None:
    ticket = world.ticket("specialist-safety", reasons=[FLAGGED_REASON])
    with pytest.raises(FeedbackError, match="reason is required"):
        move_back(world.session, ticket, world.specialist, "general-help", "  ", NOW)
    assert ticket.queue.slug == "specialist-safety"
    with pytest.raises(FeedbackError, match="not in a restricted queue"):
        move_back(world.session, world.ticket(), world.specialist, "general-help", "no", NOW)


def test_move_back_refuses_a_queue_no_wider(world: World) -> None:
    ticket = world.ticket("specialist-safety", reasons=[FLAGGED_REASON])
    with pytest.raises(FeedbackError, match="more people may see"):
        move_back(world.session, ticket, world.staff, "police-liaison", "x", NOW)
    assert ticket.queue.slug == "specialist-safety"


def test_a_false_alarm_after_an_escalation_counts_against_the_escalation(world: World) -> None:
    ticket = world.ticket()
    record_escalation(world.session, ticket, world.volunteer, "worried", now=NOW)
    row = move_back(
        world.session,
        ticket,
        world.specialist,
        "general-help",
        "Nothing serious.",
        NOW + timedelta(hours=1),
    )
    assert row.source == "escalation"
    assert [f.kind for f in ticket_feedback(world.session, ticket)] == [MISS, FALSE_ALARM]


def test_a_false_alarm_of_the_safety_address(world: World) -> None:
    ticket = world.ticket("specialist-safety", reasons=[signal_reason("safety-address")])
    row = move_back(world.session, ticket, world.staff, "general-help", "A question.", NOW)
    assert (row.source, row.categories, row.language) == ("safety-address", [], "en")


def test_the_move_service_records_the_false_alarm(world: World) -> None:
    """queues.tickets.move calls record_false_alarm for every move to a wider queue."""
    ticket = world.ticket("police-liaison")
    move(world.session, ticket, world.staff, "specialist-safety", NOW, reason="Not for police.")
    (row,) = ticket_feedback(world.session, ticket)
    assert (row.kind, row.from_queue, row.to_queue, row.reason, row.source) == (
        FALSE_ALARM,
        "police-liaison",
        "specialist-safety",
        "Not for police.",
        "other",
    )


def test_record_false_alarm_without_the_queue_left_reads_the_history(world: World) -> None:
    ticket = world.ticket("specialist-safety", reasons=[FLAGGED_REASON])
    ticket.queue = world.queues["general-help"]
    world.session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="queue-out-of-restricted",
            detail="queue specialist-safety -> general-help",
        )
    )
    world.session.flush()
    row = record_false_alarm(world.session, ticket, world.specialist, "Harmless.", now=NOW)
    assert (row.from_queue, row.to_queue) == ("specialist-safety", "general-help")
    with pytest.raises(FeedbackError, match="reason is required"):
        record_false_alarm(world.session, ticket, world.specialist, "")


# --- language and categories ------------------------------------------------------------------


def test_reasons_name_their_category_and_language() -> None:
    assert reason_category(FLAGGED_REASON) == "threat"
    assert reason_language(FLAGGED_REASON) == "en"
    rule = 'child safety: "…how old are you … keep it secret…" (rule de/adult-child-asks)'
    assert (reason_category(rule), reason_language(rule)) == ("child_safety", "de")
    fear = 'the reporter says they are at risk: "…j\'ai peur…" (own words fr/afraid)'
    assert (reason_category(fear), reason_language(fear)) == ("at_risk", "fr")
    old = "self-harm or suicide risk (es: 'quiero morir')"
    assert (reason_category(old), reason_language(old)) == ("self_harm", "es")
    signal = signal_reason("safety-address")
    assert (reason_category(signal), reason_language(signal)) == (None, None)


def test_the_language_of_a_miss_or_false_alarm(world: World) -> None:
    """The lexicon's that fired, else the reporter's stored language, else detected in the
    first message, else unknown."""
    flagged = world.ticket("specialist-safety", reasons=[FLAGGED_REASON.replace("en/", "fr/")])
    flagged.language = "de"
    stored = world.ticket(body="Hello, someone keeps writing to me. What should I do now?")
    stored.language = "es"
    spanish = world.ticket(body="Hola, alguien me escribe todo el tiempo y no sé qué hacer.")
    unknown = world.ticket(body="ok")
    assert move_back(world.session, flagged, world.staff, "general-help", "x", NOW).language == "fr"
    rows = [
        record_escalation(world.session, t, world.volunteer, "") for t in (stored, spanish, unknown)
    ]
    assert [r.language for r in rows] == ["es", "es", ""]


# --- figures ----------------------------------------------------------------------------------


def test_figures_count_misses_false_alarms_and_flagged_tickets(world: World) -> None:
    last_week = NOW - timedelta(days=7)
    flagged = [
        world.ticket("specialist-safety", reasons=[FLAGGED_REASON], at=last_week) for _ in range(4)
    ]
    world.ticket("specialist-safety", reasons=[signal_reason("safety-address")], at=NOW)
    move_back(world.session, flagged[0], world.specialist, "general-help", "film", NOW)
    german = world.ticket(body="Hallo, er hat gesagt, dass er weiß, wo meine Schwester wohnt.")
    record_escalation(world.session, german, world.volunteer, "", category="threat", now=NOW)
    record_escalation(world.session, world.ticket(), world.volunteer, "", now=last_week)
    old = world.ticket()
    record_escalation(world.session, old, world.volunteer, "", now=NOW - timedelta(weeks=20))

    found = figures(world.session, NOW, weeks=4)
    assert found.since == week_start(NOW) - timedelta(weeks=3)
    assert found.since.weekday() == 0 and found.since.hour == 0
    total = found.total
    assert (total.misses, total.false_alarms, total.flagged, total.moved_back) == (2, 1, 4, 1)
    assert total.precision == pytest.approx(3 / 4)
    assert total.recall == pytest.approx(3 / 5)
    assert found.address_signals == 1
    assert [w.label for w in found.weeks] == [
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]
    assert [(w.misses, w.false_alarms, w.flagged) for w in found.weeks] == [
        (0, 0, 0),
        (0, 0, 0),
        (1, 0, 4),
        (1, 1, 0),
    ]
    languages = {t.label: (t.misses, t.false_alarms, t.flagged) for t in found.languages}
    assert languages["en"] == (1, 1, 4)
    assert languages["de"] == (1, 0, 0)
    assert [t.label for t in found.languages][:4] == ["en", "de", "fr", "es"]
    categories = {t.label: (t.misses, t.false_alarms, t.flagged) for t in found.categories}
    assert categories["threat"] == (1, 1, 4)
    assert categories["unstated"] == (1, 0, 0)
    queues = {t.label: (t.misses, t.false_alarms) for t in found.queues}
    assert queues == {"general-help": (2, 0), "specialist-safety": (0, 1)}
    sources = {t.label: t.false_alarms for t in found.sources}
    assert sources["triage"] == 1


def test_figures_of_an_empty_database(world: World) -> None:
    found = figures(world.session, NOW)
    assert len(found.weeks) == 12
    assert (found.total.precision, found.total.recall) == (None, None)


# --- the safety address as a signal (queues.ingest) -------------------------------------------


def test_mail_to_the_safety_address_carries_a_signal_reason(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    # The lexicon alone: the reasons of these made-up reports must not depend on the
    # wording model's judgement (test_triage_model_ingest.py has its own).
    gate = FakeGate(factory, dataclasses.replace(settings, triage_model=False))
    plain = gate.send(make_mail(body="Who do I talk to?", to=["safety@example.org"]))
    serious = gate.send(
        make_mail(body="He said he will kill you tonight.", to=["safety@example.org"])
    )
    everyday = gate.send(make_mail(body="Who do I talk to?", to=["help@example.org"]))
    with factory() as session:
        found = {
            t.number: (t.queue.slug, t.triage_reasons) for t in session.scalars(select(Ticket))
        }
        assert found[plain.ticket_number] == (
            "specialist-safety",
            ["signal: the report was sent to the safety address"],
        )
        queue, reasons = found[serious.ticket_number]
        assert queue == "specialist-safety"
        assert reasons[0] == signal_reason("safety-address") and len(reasons) > 1
        assert found[everyday.ticket_number] == ("general-help", [])
        events = session.scalars(
            select(TicketEvent.detail)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == plain.ticket_number, TicketEvent.kind == "triage")
        ).all()
        assert events == [signal_reason("safety-address")]
        # Counted apart from what triage found in the text.
        counted = figures(session, utcnow())
        assert counted.address_signals == 2
        assert counted.total.flagged == 1
