"""Response targets (queues.targets) on a controlled clock, on SQLite and PostgreSQL: each
queue's targets, the clock that stops while a ticket is pending or closed, the due time on
the ticket through every way it changes (services, ingest), and the breach check that
escalates once per breach and tells the on-duty people and staff by mail without a word of
the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues import tickets as work
from queues.models import (
    Contact,
    OutboxMessage,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
)
from queues.replies import Draft, send_reply
from queues.settings import Settings
from queues.targets import clock as clocks
from queues.targets.breaches import check_breaches
from queues.targets.models import FIRST_RESPONSE, UPDATE, QueueTarget, TargetBreach, TicketClock
from queues.targets.policy import default_targets, load_defaults, targets_for
from queues.team import rota

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
SUBJECT = "my neighbour threatens to burn my house"


@dataclass
class World:
    session: Session
    queues: dict[str, Queue]
    staff: User
    specialist: User
    volunteer: User
    settings: Settings
    made: int = 0

    def ticket(self, slug: str, at: datetime = T0) -> Ticket:
        self.made += 1
        requester = self.session.scalar(select(Contact).where(Contact.email == "r@example.net"))
        ticket = Ticket(
            number=f"2026120700{self.made:04d}",
            subject=SUBJECT,
            queue=self.queues[slug],
            requester=requester or Contact(email="r@example.net", name="Rita"),
            created_at=at,
            updated_at=at,
        )
        self.session.add(ticket)
        self.session.flush()
        return ticket

    def clock(self, ticket: Ticket) -> TicketClock:
        return self.session.get_one(TicketClock, ticket.id, populate_existing=True)

    def fresh(self, ticket: Ticket) -> Ticket:
        self.session.flush()
        self.session.refresh(ticket)
        return ticket


@pytest.fixture
def world(factory: sessionmaker[Session], tmp_path: Path) -> World:
    session = factory()
    people = {
        role: User(email=f"{role.value}@example.org", name=role.value, role=role, password_hash="x")
        for role in Role
    }
    session.add_all(people.values())
    session.flush()
    queues = {q.slug: q for q in session.scalars(select(Queue))}
    settings = Settings(
        var_dir=tmp_path,
        database_url="sqlite://",
        addresses={"help@example.org": "general-help", "safety@example.org": "specialist-safety"},
        web_base_url="https://switchboard.example.org",
    )
    return World(
        session,
        queues,
        people[Role.STAFF],
        people[Role.SPECIALIST],
        people[Role.VOLUNTEER],
        settings,
    )


def test_the_defaults_file_names_the_seeded_queues() -> None:
    defaults = load_defaults()
    assert defaults["specialist-safety"].first_response == H
    assert defaults["specialist-safety"].update == 4 * H
    assert defaults["general-help"].first_response == 24 * H
    assert defaults["general-help"].update == 72 * H
    assert "police-liaison" not in defaults  # as staff set it


def test_a_bad_defaults_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "targets.toml"
    bad.write_text("[general-help]\nfirst_response = -1\n")
    with pytest.raises(ValueError, match="general-help"):
        load_defaults(bad)
    bad.write_text("[general-help]\nsolution = 3\n")
    with pytest.raises(ValueError, match="only first_response and update"):
        load_defaults(bad)


def test_staff_targets_win_over_the_defaults(world: World) -> None:
    police = world.queues["police-liaison"]
    conn = world.session.connection()
    assert targets_for(conn, police.id).first_response is None
    world.session.add(QueueTarget(queue_id=police.id, first_response_minutes=120))
    world.session.flush()
    targets = targets_for(conn, police.id)
    assert targets.first_response == 2 * H and targets.update is None and targets.from_staff
    general = world.queues["general-help"].id
    assert targets_for(conn, general) == default_targets()["general-help"]


def test_a_new_ticket_is_due_by_its_queues_first_response_target(world: World) -> None:
    safety = world.ticket("specialist-safety")
    general = world.ticket("general-help")
    police = world.ticket("police-liaison")
    assert world.fresh(safety).due_at == T0 + H
    assert world.fresh(general).due_at == T0 + 24 * H
    assert world.fresh(police).due_at is None  # no target until staff set one
    assert world.clock(safety).kind == FIRST_RESPONSE


def test_the_clock_stops_while_pending_and_goes_on_where_it_stopped(world: World) -> None:
    ticket = world.ticket("general-help")
    s = world.session
    work.set_state(s, ticket, world.volunteer, "pending", T0 + 2 * H, pending_until=T0 + 72 * H)
    assert world.fresh(ticket).due_at is None
    assert world.clock(ticket).paused_at == T0 + 2 * H
    # Back after a day: the 22 hours that were left are left again.
    work.set_state(s, ticket, world.volunteer, "open", T0 + 26 * H)
    assert world.fresh(ticket).due_at == T0 + 48 * H
    # Closed and reopened the same way (closed directly: any way a ticket changes counts).
    ticket.state, ticket.updated_at = TicketState.CLOSED, T0 + 30 * H
    assert world.fresh(ticket).due_at is None
    work.set_state(s, ticket, world.volunteer, "open", T0 + 40 * H)
    assert world.fresh(ticket).due_at == T0 + 58 * H


def test_the_pending_timer_resumes_the_clock(world: World) -> None:
    ticket = world.ticket("specialist-safety")
    s = world.session
    work.set_state(s, ticket, world.specialist, "pending", T0 + 0.5 * H, pending_until=T0 + 5 * H)
    work.reopen_due_pending(s, T0 + 5 * H)
    assert world.fresh(ticket).state is TicketState.OPEN
    assert ticket.due_at == T0 + 5.5 * H  # half an hour was left


def test_a_reply_meets_the_first_response_and_starts_the_update_target(world: World) -> None:
    ticket = world.ticket("general-help")
    send_reply(
        world.session,
        ticket,
        world.volunteer,
        Draft(body="We are on it."),
        world.settings,
        T0 + 5 * H,
    )
    clock = world.clock(ticket)
    assert clock.kind == UPDATE and clock.first_response_at == T0 + 5 * H
    assert world.fresh(ticket).due_at == T0 + 5 * H + 72 * H
    # A reply that leaves the ticket pending: nothing is due until the reporter answers.
    draft = Draft(body="Tell us more.", state=TicketState.PENDING, pending_until=T0 + 200 * H)
    send_reply(world.session, ticket, world.volunteer, draft, world.settings, T0 + 10 * H)
    assert world.fresh(ticket).due_at is None
    assert world.clock(ticket).first_response_at == T0 + 5 * H  # the first one stays


def test_a_move_applies_the_new_queues_targets(world: World) -> None:
    ticket = world.ticket("general-help")
    work.move(world.session, ticket, world.staff, "specialist-safety", T0 + 0.25 * H)
    assert world.fresh(ticket).due_at == T0 + H
    work.move(world.session, ticket, world.staff, "police-liaison", T0 + 0.5 * H)
    assert world.fresh(ticket).due_at is None


def test_pure_clock_pause_and_resume_are_idempotent() -> None:
    clock = clocks.start(T0)
    paused = clocks.pause(clocks.pause(clock, T0 + H), T0 + 2 * H)
    assert paused.paused_at == T0 + H
    resumed = clocks.resume(clocks.resume(paused, T0 + 3 * H), T0 + 4 * H)
    assert resumed.paused_seconds == 2 * 3600 and resumed.running
    targets = default_targets()["general-help"]
    assert clocks.due_of(resumed, targets) == T0 + 26 * H
    assert clocks.left_when_stopped(paused, targets) == 23 * H
    assert clocks.start(T0, TicketState.PENDING).paused_at == T0


def _outbox(world: World, ticket: Ticket) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(
        OutboxMessage.ticket_id == ticket.id, OutboxMessage.kind == "target-breach"
    )
    return list(world.session.scalars(stmt))


def test_a_breach_escalates_once_and_tells_staff_without_the_report(world: World) -> None:
    ticket = world.ticket("specialist-safety")
    assert check_breaches(world.session, world.settings, T0 + 0.5 * H).numbers == []
    report = check_breaches(world.session, world.settings, T0 + H + timedelta(minutes=1))
    assert report.numbers == [ticket.number]
    assert world.fresh(ticket).priority == 4  # normal (3) -> high
    mails = _outbox(world, ticket)
    assert [m.recipients for m in mails] == [["staff@example.org"]]
    raw = mails[0].raw.decode()
    assert ticket.number in raw
    assert f"https://switchboard.example.org/tickets/{ticket.number}" in raw
    assert "burn" not in raw and "neighbour" not in raw  # no word of the report
    assert "Auto-Submitted: auto-generated" in raw and mails[0].envelope_from == ""
    events = world.session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "target-breach"
        )
    ).all()
    assert len(events) == 1 and "first-response target passed" in events[0].detail
    assert "priority 3 -> 4" in events[0].detail
    # Once per breach: later checks leave it alone.
    assert check_breaches(world.session, world.settings, T0 + 3 * H).numbers == []
    assert world.fresh(ticket).priority == 4
    breaches = world.session.scalars(
        select(TargetBreach).where(TargetBreach.ticket_id == ticket.id)
    )
    assert [(b.kind, b.due_at) for b in breaches] == [(FIRST_RESPONSE, T0 + H)]


def test_a_reply_starts_a_new_period_that_can_breach_again(world: World) -> None:
    ticket = world.ticket("specialist-safety")
    check_breaches(world.session, world.settings, T0 + 2 * H)
    send_reply(
        world.session, ticket, world.specialist, Draft(body="Hello."), world.settings, T0 + 2 * H
    )
    assert world.fresh(ticket).due_at == T0 + 6 * H
    assert world.clock(ticket).breached_at is None
    assert check_breaches(world.session, world.settings, T0 + 5 * H).numbers == []
    assert check_breaches(world.session, world.settings, T0 + 6 * H).numbers == [ticket.number]
    assert world.fresh(ticket).priority == 5  # high -> urgent
    # Urgent is the top: another breach leaves it there.
    send_reply(
        world.session, ticket, world.specialist, Draft(body="Again."), world.settings, T0 + 7 * H
    )
    check_breaches(world.session, world.settings, T0 + 12 * H)
    assert world.fresh(ticket).priority == 5


def test_pending_and_closed_tickets_never_breach(world: World) -> None:
    ticket = world.ticket("specialist-safety")
    s = world.session
    work.set_state(s, ticket, world.specialist, "pending", T0 + 0.5 * H, pending_until=T0 + 50 * H)
    other = world.ticket("specialist-safety")
    other.state, other.updated_at = TicketState.CLOSED, T0 + 0.5 * H
    assert check_breaches(s, world.settings, T0 + 40 * H).numbers == []


def test_the_agents_on_duty_are_told_too(world: World) -> None:
    s = world.session
    safety = world.queues["specialist-safety"]
    spec = rota.ShiftSpec(safety.id, "Mornings", 0, None, time(8), time(16), "UTC")
    shift = rota.define_shift(s, spec, world.staff, T0 - 48 * H)
    rota.sign_up(s, world.specialist, shift.id, rota.DUTY, date(2026, 12, 7), T0 - 48 * H)
    ticket = world.ticket("specialist-safety")
    check_breaches(s, world.settings, T0 + 2 * H)
    told = sorted(r for m in _outbox(world, ticket) for r in m.recipients)
    assert told == ["specialist@example.org", "staff@example.org"]
    event = s.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "target-breach"
        )
    ).one()
    assert "told 1 on duty and 1 staff" in event.detail
