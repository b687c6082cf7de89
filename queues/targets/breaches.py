"""The breach check: a ticket past its response target is escalated once per breach.

`switchboard work` (and `serve`) run `check_breaches` every `target_check_seconds`. A ticket
whose due time has passed while its clock runs (not pending, not closed, not merged), and
whose present target period has no recorded breach, is escalated:

- its priority goes up one step, at most to urgent (5);
- the agents on duty in its queue now (queues.team.oncall, the rota) and staff are told,
  each by a mail of their own through the outbox naming the ticket's number and a link,
  never a word of the report (templates/mail/target_breach): automatic mail (RFC 3834:
  Auto-Submitted: auto-generated, the null reverse-path);
- a history row says what passed, when it was due and who was told, and a
  `target_breaches` row counts it for the dashboard.

"Once per breach": the clock's `breached_at` is set, and a reply (which starts the update
target afresh) clears it; pausing and resuming does not. Several runners may check at
once on PostgreSQL: each ticket is claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queues.access import can_see_queue
from queues.mailtemplates import render_mail
from queues.models import Priority, Ticket, TicketEvent, TicketState, User, utcnow
from queues.outgoing import AddressError, queue_outgoing
from queues.replies import sender_address
from queues.settings import Settings
from queues.targets.models import FIRST_RESPONSE, TargetBreach, TicketClock
from queues.team.oncall import Recipient, agent_notice, on_duty, staff_members, ticket_url

log = logging.getLogger(__name__)

OUTBOX_KIND = "target-breach"
EVENT = "target-breach"
EVENT_FAILED = "target-breach-failed"
TEMPLATE = "target_breach"
BATCH = 200
TARGET_NAMES = {FIRST_RESPONSE: "first-response"}


@dataclass
class BreachReport:
    """What one check did: the tickets escalated (numbers) and the mails queued."""

    numbers: list[str] = field(default_factory=list)
    mails: int = 0


def target_name(kind: str) -> str:
    return TARGET_NAMES.get(kind, kind)


def check_breaches(session: Session, settings: Settings, now: datetime) -> BreachReport:
    """Escalate every ticket past its target at `now` whose breach is not yet recorded."""
    stmt = (
        select(Ticket, TicketClock)
        .join(TicketClock, TicketClock.ticket_id == Ticket.id)
        .where(
            Ticket.due_at <= now,
            Ticket.state.in_((TicketState.NEW, TicketState.OPEN)),
            Ticket.merged_into_id.is_(None),
            TicketClock.breached_at.is_(None),
            TicketClock.paused_at.is_(None),
        )
        .order_by(Ticket.due_at, Ticket.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=TicketClock)
    )
    report = BreachReport()
    for ticket, clock in session.execute(stmt).all():
        _escalate(session, settings, ticket, clock, now, report)
    session.flush()
    return report


def _escalate(
    session: Session,
    settings: Settings,
    ticket: Ticket,
    clock: TicketClock,
    now: datetime,
    report: BreachReport,
) -> None:
    due = ticket.due_at or now
    clock.breached_at = now
    before = ticket.priority
    ticket.priority = min(before + 1, int(Priority.URGENT))
    ticket.updated_at = now
    session.add(
        TargetBreach(
            ticket_id=ticket.id, queue_id=ticket.queue_id, kind=clock.kind, due_at=due, at=now
        )
    )
    people = _people(session, ticket, now)
    told = _tell(session, settings, ticket, clock.kind, due, people, now)
    report.mails += len(told)
    report.numbers.append(ticket.number)
    change = (
        f"priority {before} -> {ticket.priority}"
        if ticket.priority != before
        else (f"priority stays {before} (urgent)")
    )
    on_duty_count = sum(1 for p in told if p.why != "staff")
    staff_count = len(told) - on_duty_count
    detail = (
        f"{target_name(clock.kind)} target passed (due {due:%Y-%m-%d %H:%M} UTC); {change}; "
        f"told {on_duty_count} on duty and {staff_count} staff"
    )
    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor="system", kind=EVENT, detail=detail))


def _people(session: Session, ticket: Ticket, now: datetime) -> list[Recipient]:
    """The agents on duty in the ticket's queue now, then staff; each once."""
    found: dict[int, Recipient] = {}
    for person in [*on_duty(session, ticket.queue, now), *staff_members(session)]:
        found.setdefault(person.user_id, person)
    return list(found.values())


def _tell(
    session: Session,
    settings: Settings,
    ticket: Ticket,
    kind: str,
    due: datetime,
    people: list[Recipient],
    now: datetime,
) -> list[Recipient]:
    queue = ticket.queue
    sender = settings.team_sender_address or sender_address(queue, settings)
    told = []
    for person in people:
        user = session.get(User, person.user_id)
        if user is None or not user.active or not can_see_queue(user.role, queue):
            continue
        rendered = render_mail(
            TEMPLATE,
            {
                "number": ticket.number,
                "queue_name": queue.name,
                "target": target_name(kind),
                "due": f"{due:%Y-%m-%d %H:%M}",
                "priority": ticket.priority,
                "url": ticket_url(settings, ticket.number),
                "organisation": settings.organisation,
                "why": person.why,
            },
        )
        mail = agent_notice(settings, sender, person, rendered, now)
        try:
            with session.begin_nested():
                queue_outgoing(
                    session,
                    mail,
                    kind=OUTBOX_KIND,
                    envelope_from="",  # RFC 3834 3.3: bounces of automatic mail go nowhere
                    ticket_id=ticket.id,
                    deadline=timedelta(hours=settings.outbox_deadline_hours),
                )
        except AddressError as exc:
            session.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    at=now,
                    actor="system",
                    kind=EVENT_FAILED,
                    detail=f"could not tell {person.name}: {exc}"[:500],
                )
            )
            continue
        told.append(person)
    return told


def breach_timer(factory: sessionmaker[Session], settings: Settings, stop: threading.Event) -> None:
    """The loop `work` and `serve` run: a check every `target_check_seconds`."""
    while not stop.is_set():
        try:
            with factory.begin() as session:
                report = check_breaches(session, settings, utcnow())
            if report.numbers:
                log.info("response target passed: %s", ", ".join(report.numbers))
        except Exception:  # the database away for a moment: try again next time
            log.warning("could not check response targets", exc_info=True)
        stop.wait(settings.target_check_seconds)
