"""On call: the agents on duty hear of every ticket new in a watched queue at once, and the
backup and staff when nobody takes it in time; every notice is a row of the ticket's history.

A ticket is new in a watched queue (settings.oncall_queues, specialist-safety by default)
whenever it enters it: created there (by address or triage), moved there, escalated there.
The runner does not rely on each of those paths calling it: it looks for tickets in the
queue that have no alert for their present entry (`OnCallAlert.is_current`), so a path
added later is covered too. A ticket that left the queue loses its current alert; one that
left and came back between two looks is caught by a move or escalation row in its history
newer than its alert (ENTRY_EVENT_KINDS). Several runners may look at once: the unique key
on (ticket, is_current) lets one of them record the entry, and due steps are claimed with
FOR UPDATE SKIP LOCKED on PostgreSQL.

What happens, on the runner's clock (`step(now)`, so tests control time):

1. At once: each agent on duty in the queue now (queues.team.rota) gets a mail through
   the outbox. Nobody on duty: staff get it instead, and the history says so.
2. If nobody owns the ticket `oncall_backup_minutes` after that notice, the shift's backup
   is told (the backups on the rota now; else the agents on duty next), and staff; then
   again after each further interval, at most `oncall_max_steps` times. An owner, the
   ticket being closed, or the ticket leaving the queue ends the steps.

The mail names the ticket's number and a link to it, never its subject or any word of the
report (templates/mail/oncall_new_ticket, oncall_backup): mail to an agent's own mailbox
may be read on a phone's lock screen. It is automatic mail (RFC 3834 Auto-Submitted:
auto-generated, the null reverse-path) to each person separately.

The link is settings.web_base_url + /tickets/NUMBER; without web_base_url it uses the
address the web UI listens on (web_host:web_port), right for an embedded installation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from queues.access import can_see_queue
from queues.idle import nap
from queues.mailtemplates import RenderedMail, render_mail
from queues.models import Queue, Role, Ticket, TicketEvent, TicketState, User, utcnow
from queues.outgoing import AddressError, OutgoingMail, domain_of, make_message_id, queue_outgoing
from queues.replies import sender_address
from queues.settings import Settings
from queues.team.rota import Assignment, assignments, covering, display_name
from queues.team.rota_models import BACKUP, DUTY, OnCallAlert

log = logging.getLogger(__name__)

# History kinds that move a ticket between queues (queues.tickets.move, an escalation).
ENTRY_EVENT_KINDS = ("queue", "queue-out-of-restricted", "escalated")
# An entry older than this when first seen (the runner was not running, or on call is new)
# is recorded without telling anyone: a notice a day late helps nobody and floods them.
LOOKBACK = timedelta(days=1)
# How far ahead "the agents on duty next" are looked for, when a shift has no backup.
NEXT_DUTY_HORIZON = timedelta(days=7)
# Looks come at most this often, however often the runner is woken (`OnCallRunner.run`):
# a notice is at most this much later, and a burst of new tickets costs one look.
GATHER_SECONDS = 0.25
OUTBOX_KIND = "oncall"
TEMPLATE_NEW = "oncall_new_ticket"
TEMPLATE_BACKUP = "oncall_backup"
ACTOR = "system"
# The ticket's history rows.
EVENT_ON_DUTY = "oncall"  # the agents on duty were told
EVENT_NOBODY = "oncall-nobody"  # nobody was on duty: staff were told instead
EVENT_BACKUP = "oncall-backup"  # nobody took it in time: backup and staff were told
EVENT_FAILED = "oncall-failed"  # a notice could not be queued (an unusable address)


@dataclass(frozen=True)
class Recipient:
    user_id: int
    name: str
    email: str
    why: str  # "on duty", "backup", "next on duty", "staff"


@dataclass
class StepReport:
    """What one step did: entries seen, notices queued, and how long after each ticket
    entered the queue its first notice went out (the "at once" of the runner)."""

    entries: int = 0
    mails: int = 0
    steps: int = 0
    delays: dict[str, timedelta] = field(default_factory=dict)  # ticket number -> delay


# --- who is told ------------------------------------------------------------------------------


def _recipients(rows: Iterable[Assignment], why: str) -> list[Recipient]:
    found: dict[int, Recipient] = {}
    for a in rows:
        found.setdefault(a.user_id, Recipient(a.user_id, a.name, a.email, why))
    return list(found.values())


def on_duty(session: Session, queue: Queue, at: datetime) -> list[Recipient]:
    """The agents on duty in `queue` at `at` (the rota after approved swaps)."""
    return _recipients(covering(session, queue, at, DUTY), "on duty")


def backups(session: Session, queue: Queue, at: datetime) -> list[Recipient]:
    """The backups on the rota at `at`; when there are none, the agents on duty next (the
    earliest shift starting after `at` that has anyone on duty), not counting those on
    duty now: they were told already."""
    found = _recipients(covering(session, queue, at, BACKUP), "backup")
    if found:
        return found
    now_ids = {r.user_id for r in on_duty(session, queue, at)}
    later = [
        a
        for a in assignments(session, [queue.id], at, at + NEXT_DUTY_HORIZON)
        if a.role == DUTY and a.occurrence.start > at and a.user_id not in now_ids
    ]
    if not later:
        return []
    first = min(a.occurrence.start for a in later)
    return _recipients((a for a in later if a.occurrence.start == first), "next on duty")


def staff_members(session: Session) -> list[Recipient]:
    stmt = select(User).where(User.role == Role.STAFF, User.active.is_(True)).order_by(User.id)
    return [Recipient(u.id, display_name(u), u.email, "staff") for u in session.scalars(stmt)]


def agent_notice(
    settings: Settings, sender: str, person: Recipient, rendered: RenderedMail, now: datetime
) -> OutgoingMail:
    """Automatic mail to one agent about a ticket, to their own mailbox only."""
    return OutgoingMail(
        from_email=sender,
        from_name=settings.organisation,
        to=[(person.name if person.name != person.email else "", person.email)],
        subject=rendered.subject,
        body_text=rendered.body_text,
        message_id=make_message_id(domain_of(sender) or settings.hostname),
        date=now,
        extra_headers={
            "Auto-Submitted": "auto-generated",  # RFC 3834 5: not a reply
            settings.loop_header: sender,
            "X-Auto-Response-Suppress": "All",
        },
    )


def ticket_url(settings: Settings, number: str) -> str:
    base = settings.web_base_url.rstrip("/") or f"http://{settings.web_host}:{settings.web_port}"
    return f"{base}/tickets/{quote(number, safe='')}"


def watched_queues(session: Session, settings: Settings) -> list[Queue]:
    if not settings.oncall_queues:
        return []
    stmt = select(Queue).where(Queue.slug.in_(settings.oncall_queues)).order_by(Queue.id)
    return list(session.scalars(stmt))


# --- the runner -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Notice:
    """One person's mail, built during the look; `error` says why it cannot go out."""

    person: Recipient
    mail: OutgoingMail
    raw: bytes = b""
    error: str = ""


@dataclass(frozen=True)
class _Entry:
    """A ticket new in a watched queue as the look saw it, its notices ready."""

    ticket_id: int
    number: str
    queue_id: int
    queue_name: str
    entered_at: datetime
    on_duty: bool
    notices: list[_Notice]


@dataclass(frozen=True)
class _DueStep:
    """A backup step that was due at the look; `tell`: the look found nobody owning the
    ticket, so `notices` were prepared."""

    steps: int
    waited: timedelta
    tell: bool
    notices: list[_Notice]


@dataclass
class _Plan:
    """What one look found to do; empty, the step takes no write lock at all."""

    queue_ids: list[int] = field(default_factory=list)
    ending: bool = False
    entries: list[_Entry] = field(default_factory=list)
    steps: dict[int, _DueStep] = field(default_factory=dict)  # alert id -> step

    def __bool__(self) -> bool:
        return self.ending or bool(self.entries) or bool(self.steps)


class OnCallRunner:
    """Looks for new tickets in the watched queues and for steps that are due.

    `step(now)` looks first in a transaction that only reads (`readers`; on SQLite it takes
    no write lock, so the gateway and the other runners are not kept waiting while it
    finds recipients and renders mail), then, only when it found something to do, writes
    in one short transaction that checks again what it writes. `run` calls it every
    `oncall_poll_seconds`, or at once when `wake` is set (a new ticket from mail).
    `after_mail` is called when mail was queued (to wake the outbox runner).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        after_mail: Callable[[], None] | None = None,
        readers: sessionmaker[Session] | None = None,
    ) -> None:
        self.factory = factory
        self.readers = readers or factory
        self.settings = settings
        self.after_mail = after_mail
        self.interval = timedelta(minutes=settings.oncall_backup_minutes)

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        log.info("on-call runner started")
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.step(utcnow())
                for number, delay in report.delays.items():
                    log.info(
                        "on call: ticket %s told %.1f s after it entered",
                        number,
                        delay.total_seconds(),
                    )
            except Exception:  # the database may be away for a while: keep trying
                log.exception("on-call runner: step failed; retrying")
            nap(stop, wake, self.settings.oncall_poll_seconds)
            wake.clear()
            # Woken once per ingested message, the runner would look once per message while
            # mail streams in, and each look has a fixed cost. The next look comes at the
            # earliest GATHER_SECONDS after this one began, so a burst is announced in one.
            stop.wait(max(0.0, started + GATHER_SECONDS - time.monotonic()))
        log.info("on-call runner stopped")

    def step(self, now: datetime) -> StepReport:
        report = StepReport()
        plan = self._plan(now)
        if not plan:
            return report
        # What changed since the look is caught here: an entry recorded by another runner
        # (the unique key), a ticket moved, closed or taken (checked again before writing).
        with self.factory.begin() as session:
            if plan.ending:
                self._end_left(session, plan.queue_ids, now)
            for entry in plan.entries:
                self._enter(session, entry, now, report)
            for alert in self._due(session, now, list(plan.steps)):
                self._next_step(session, alert, plan.steps[alert.id], plan.queue_ids, now, report)
        if report.mails and self.after_mail is not None:
            self.after_mail()
        return report

    # --- the look (reads only) ------------------------------------------------------------

    def _plan(self, now: datetime) -> _Plan:
        with self.readers() as session:
            return self._look(session, now)

    def _look(self, session: Session, now: datetime) -> _Plan:
        queues = {q.id: q for q in watched_queues(session, self.settings)}
        if not queues:
            return _Plan()
        plan = _Plan(queue_ids=list(queues))
        ending = self._ending(session, plan.queue_ids)
        plan.ending = bool(ending)
        for ticket, entered_at in self._new_entries(session, plan.queue_ids, now, ending):
            plan.entries.append(
                self._plan_entry(session, ticket, queues[ticket.queue_id], entered_at, now)
            )
        for alert in self._due(session, now):
            plan.steps[alert.id] = self._plan_step(session, alert, queues, now)
        return plan

    def _ending(self, session: Session, queue_ids: list[int]) -> set[int]:
        """The current alerts whose entry is over: their ticket left its queue, or left and
        came back (a move or escalation newer than the alert)."""
        return set(session.scalars(_left().with_only_columns(OnCallAlert.id))) | set(
            session.scalars(_came_back(queue_ids).with_only_columns(OnCallAlert.id))
        )

    def _new_entries(
        self, session: Session, queue_ids: list[int], now: datetime, ending: Set[int] = frozenset()
    ) -> list[tuple[Ticket, datetime]]:
        """Open tickets in the queues without a current alert (or whose alert is ending),
        with the moment each entered its queue."""
        has_alert = (
            select(OnCallAlert.id)
            .where(
                OnCallAlert.ticket_id == Ticket.id,
                OnCallAlert.is_current.is_(True),
                OnCallAlert.id.not_in(ending),
            )
            .exists()
        )
        stmt = (
            select(Ticket)
            .where(
                Ticket.queue_id.in_(queue_ids),
                Ticket.state != TicketState.CLOSED,
                Ticket.merged_into_id.is_(None),
                ~has_alert,
            )
            .order_by(Ticket.id)
        )
        tickets = list(session.scalars(stmt))
        if not tickets:
            return []
        latest_moves = (
            select(TicketEvent.ticket_id, func.max(TicketEvent.at))
            .where(
                TicketEvent.ticket_id.in_([t.id for t in tickets]),
                TicketEvent.kind.in_(ENTRY_EVENT_KINDS),
            )
            .group_by(TicketEvent.ticket_id)
        )
        moved: dict[int, datetime] = {tid: at for tid, at in session.execute(latest_moves)}
        return [(t, max(t.created_at, moved.get(t.id, t.created_at))) for t in tickets]

    def _plan_entry(
        self, session: Session, ticket: Ticket, queue: Queue, entered_at: datetime, now: datetime
    ) -> _Entry:
        duty: list[Recipient] = []
        notices: list[_Notice] = []
        if entered_at >= now - LOOKBACK:
            duty = on_duty(session, queue, now)
            notices = self._notices(session, ticket, queue, duty or staff_members(session), now)
        return _Entry(
            ticket.id, ticket.number, queue.id, queue.name, entered_at, bool(duty), notices
        )

    def _plan_step(
        self, session: Session, alert: OnCallAlert, queues: dict[int, Queue], now: datetime
    ) -> _DueStep:
        waited = now - (alert.notified_at or alert.entered_at)
        ticket = session.get(Ticket, alert.ticket_id)
        queue = queues.get(alert.queue_id)
        if (
            ticket is None
            or queue is None
            or ticket.queue_id != alert.queue_id
            or ticket.owner_id is not None
            or ticket.state is TicketState.CLOSED
        ):
            return _DueStep(alert.steps, waited, tell=False, notices=[])
        people = _unique([*backups(session, queue, now), *staff_members(session)])
        notices = self._notices(
            session, ticket, queue, people, now, step=alert.steps, waited=waited
        )
        return _DueStep(alert.steps, waited, tell=True, notices=notices)

    def _notices(
        self,
        session: Session,
        ticket: Ticket,
        queue: Queue,
        people: Sequence[Recipient],
        now: datetime,
        *,
        step: int = 0,
        waited: timedelta = timedelta(0),
    ) -> list[_Notice]:
        """One mail for each person who may see the queue, rendered and built."""
        settings = self.settings
        sender = settings.team_sender_address or sender_address(queue, settings)
        notices = []
        for person in _unique(people):
            user = session.get(User, person.user_id)
            if user is None or not user.active or not can_see_queue(user.role, queue):
                continue
            context = {
                "number": ticket.number,
                "queue_name": queue.name,
                "url": ticket_url(settings, ticket.number),
                "organisation": settings.organisation,
                "why": person.why,
                "step": step,
                "minutes": int(waited.total_seconds() // 60),
            }
            rendered = render_mail(TEMPLATE_BACKUP if step else TEMPLATE_NEW, context)
            mail = agent_notice(settings, sender, person, rendered, now)
            try:
                notices.append(_Notice(person, mail, raw=mail.build()))
            except AddressError as exc:
                notices.append(_Notice(person, mail, error=str(exc)))
        return notices

    # --- the writes -----------------------------------------------------------------------

    def _end_left(self, session: Session, queue_ids: list[int], now: datetime) -> None:
        """Alerts of tickets no longer in their queue, or that left and came back, end."""
        for alert in session.scalars(_left()):
            _end(alert, "the ticket left the queue", now)
        for alert in session.scalars(_came_back(queue_ids)):
            _end(alert, "the ticket left the queue and came back", now)
        session.flush()

    def _enter(self, session: Session, entry: _Entry, now: datetime, report: StepReport) -> None:
        ticket = session.get(Ticket, entry.ticket_id)
        if (
            ticket is None
            or ticket.queue_id != entry.queue_id
            or ticket.state is TicketState.CLOSED
            or ticket.merged_into_id is not None
        ):
            return  # it changed since the look: the next look sees it as it is now
        alert = OnCallAlert(
            ticket_id=ticket.id,
            queue_id=entry.queue_id,
            entered_at=entry.entered_at,
            is_current=True,
            steps=0,
            settled="",
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:  # another runner recorded this entry first
            return
        report.entries += 1
        if entry.entered_at < now - LOOKBACK:
            _settle(alert, "entered before on call looked; nobody was told", now)
            return
        delay = max(now - entry.entered_at, timedelta(0))
        told = self._send(session, ticket, entry.notices, now, report)
        names = _names(told)
        if entry.on_duty:
            kind = EVENT_ON_DUTY
            detail = f"on call: told the agents on duty at once ({names})"
        else:
            kind = EVENT_NOBODY
            detail = (
                f"on call: nobody was on duty in {entry.queue_name}; told staff at once ({names})"
            )
        detail += f", {_duration(delay)} after the ticket entered the queue"
        _history(session, ticket, kind, detail, now)
        report.delays[entry.number] = delay
        alert.notified_at = now
        alert.steps = 1
        if self.settings.oncall_max_steps > 0:
            alert.next_step_at = now + self.interval
        else:
            _settle(alert, "no backup steps are configured", now)
        session.flush()

    def _due(
        self, session: Session, now: datetime, among: list[int] | None = None
    ) -> list[OnCallAlert]:
        """Current alerts whose next step is due (`among`: only these). In the write
        transaction on PostgreSQL they are claimed, so two runners never take one step."""
        stmt = (
            select(OnCallAlert)
            .where(OnCallAlert.is_current.is_(True), OnCallAlert.next_step_at <= now)
            .order_by(OnCallAlert.next_step_at, OnCallAlert.id)
        )
        if among is not None:
            if not among:
                return []
            stmt = stmt.where(OnCallAlert.id.in_(among))
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
        return list(session.scalars(stmt))

    def _next_step(
        self,
        session: Session,
        alert: OnCallAlert,
        planned: _DueStep,
        queue_ids: list[int],
        now: datetime,
        report: StepReport,
    ) -> None:
        if alert.steps != planned.steps:
            return  # another runner took this step since the look
        ticket = session.get_one(Ticket, alert.ticket_id)
        if alert.queue_id not in queue_ids or ticket.queue_id != alert.queue_id:
            _end(alert, "the ticket left the queue", now)
            return
        if ticket.owner_id is not None:
            owner = session.get(User, ticket.owner_id)
            _settle(alert, f"taken by {display_name(owner) if owner else 'an agent'}", now)
            return
        if ticket.state is TicketState.CLOSED:
            _settle(alert, "the ticket was closed", now)
            return
        if not planned.tell:
            return  # given back since the look, which prepared no mail: the next look does
        step = alert.steps  # 1 for the first backup step
        told = self._send(session, ticket, planned.notices, now, report)
        last = step >= self.settings.oncall_max_steps
        detail = (
            f"on call: nobody has taken the ticket {_duration(planned.waited)} after the first "
            f"notice; told {_names(told) if told else 'nobody (no backup and no staff)'} "
            f"(step {step} of {self.settings.oncall_max_steps}" + (", the last)" if last else ")")
        )
        _history(session, ticket, EVENT_BACKUP, detail, now)
        report.steps += 1
        alert.steps += 1
        if last:
            _settle(alert, f"no more notices after {step} steps", now)
        else:
            due = (alert.next_step_at or now) + self.interval
            alert.next_step_at = due if due > now else now + self.interval
        session.flush()

    def _send(
        self,
        session: Session,
        ticket: Ticket,
        notices: Sequence[_Notice],
        now: datetime,
        report: StepReport,
    ) -> list[Recipient]:
        """Queue the prepared mails; returns those told. A person whose address cannot take
        mail is left out with a history row (never blocks)."""
        told = []
        for notice in notices:
            error = notice.error
            if not error:
                try:
                    with session.begin_nested():
                        queue_outgoing(
                            session,
                            notice.mail,
                            kind=OUTBOX_KIND,
                            # RFC 3834 3.3: bounces of automatic mail go nowhere
                            envelope_from="",
                            ticket_id=ticket.id,
                            deadline=timedelta(hours=self.settings.outbox_deadline_hours),
                            raw=notice.raw,
                        )
                except AddressError as exc:
                    error = str(exc)
            if error:
                detail = f"on call: could not tell {notice.person.name}: {error}"
                _history(session, ticket, EVENT_FAILED, detail, now)
                continue
            report.mails += 1
            told.append(notice.person)
        return told


def _left() -> Select[OnCallAlert]:
    """Current alerts whose ticket is in another queue now."""
    return (
        select(OnCallAlert)
        .join(Ticket, Ticket.id == OnCallAlert.ticket_id)
        .where(OnCallAlert.is_current.is_(True), Ticket.queue_id != OnCallAlert.queue_id)
    )


def _came_back(queue_ids: list[int]) -> Select[OnCallAlert]:
    """Current alerts of open tickets that left their queue and came back since."""
    moved_since = (
        select(TicketEvent.id)
        .where(
            TicketEvent.ticket_id == OnCallAlert.ticket_id,
            TicketEvent.kind.in_(ENTRY_EVENT_KINDS),
            TicketEvent.at > OnCallAlert.entered_at,
        )
        .exists()
    )
    return (
        select(OnCallAlert)
        .join(Ticket, Ticket.id == OnCallAlert.ticket_id)
        .where(
            OnCallAlert.is_current.is_(True),
            OnCallAlert.queue_id.in_(queue_ids),
            Ticket.state != TicketState.CLOSED,
            moved_since,
        )
    )


# --- helpers ----------------------------------------------------------------------------------


def _unique(people: Iterable[Recipient]) -> list[Recipient]:
    found: dict[int, Recipient] = {}
    for person in people:
        found.setdefault(person.user_id, person)
    return list(found.values())


def _names(people: Sequence[Recipient]) -> str:
    if not people:
        return "nobody"
    return ", ".join(f"{p.name} ({p.why})" for p in people)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min"


def _history(session: Session, ticket: Ticket, kind: str, detail: str, now: datetime) -> None:
    session.add(
        TicketEvent(ticket_id=ticket.id, at=now, actor=ACTOR, kind=kind, detail=detail[:2000])
    )


def _settle(alert: OnCallAlert, why: str, now: datetime) -> None:
    alert.next_step_at = None
    alert.settled_at = now
    alert.settled = why[:200]


def _end(alert: OnCallAlert, why: str, now: datetime) -> None:
    """The ticket's entry is over: the alert stops being current (a new entry may follow)."""
    if alert.next_step_at is not None or not alert.settled:
        _settle(alert, why, now)
    alert.is_current = None
