"""Triage feedback: escalations (triage misses), false alarms, and the live figures from them.

`record_escalation(session, ticket, user, reason)` is the one-click way back (issue 9): any
agent who may see a ticket in a queue volunteers see sends it to specialist-safety at once,
priority at least high, reopened if it was closed or pending. It writes a history row of
kind "escalated" with the agent's reason (what the on-call notifications look for), an
audit event (the ticket is restricted from then on) and a triage miss. The agent may then
no longer see the ticket; `escalations_by` is their trace: the number and the date, nothing
more.

`record_false_alarm(session, ticket, user, reason)` records that a ticket left a restricted
queue for one more people may see, with a required reason: the move service calls it after
the move, in the same transaction (`move_back` does both). It writes a history row of kind
"false-alarm" with the reason; the move writes its own queue row and audit events.

`figures(session, now)` are the live figures for the staff page: misses and false alarms
per week, language, category and queue, the tickets triage flagged and how many of them
came back, and estimates of precision and recall from these. They are estimates from what
people noticed, not a measurement (`switchboard triage evaluate` on labelled reports is
that): a miss nobody escalated and a false alarm nobody moved back count as right.

Every service takes the session first and works in the caller's transaction; bad input
raises FeedbackError (a queues.tickets.TicketError) whose message can be shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queues.access import can_see_queue
from queues.models import (
    Article,
    ArticleKind,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketState,
    User,
    utcnow,
)
from queues.reporter.language import detect as detect_language
from queues.tickets import (
    TicketError,
    add_event,
    audit_change,
    move,
    require_visible,
    widens,
)
from queues.triage.feedback_models import FALSE_ALARM, MISS, SOURCES, TriageFeedback
from queues.triage.hits import CATEGORIES, CATEGORY_LABELS, EXTERNAL_SIGNALS, LANGUAGES

SAFETY_QUEUE: Final = "specialist-safety"
MAX_REASON: Final = 2000  # characters of an agent's reason
DEFAULT_WEEKS: Final = 12
MAX_WEEKS: Final = 104
# The languages the staff page lists, and "" (unknown) last.
UNKNOWN: Final = ""
# A stored reason names its language: `(phrase en/kill-you)`, `(rule de/...)`, `(own words
# fr/...)`; reasons written before issue 9 read `threat of harm (en: 'kill you')`.
_REASON_LANGUAGE: Final = re.compile(
    r"\((?:phrase|rule|own words) ([a-z]{2,3})/[^)]*\)\s*$|\(([a-z]{2,3}): [^)]*\)\s*$"
)
_LABEL_CATEGORY: Final = {label: key for key, label in CATEGORY_LABELS.items()}
_SIGNAL_REASONS: Final = {text: name for name, text in EXTERNAL_SIGNALS.items()}
_CHUNK: Final = 500  # ids per IN (...) list


class FeedbackError(TicketError):
    """An escalation or false alarm that cannot be recorded; the message is for the agent."""


# --- escalation (a triage miss) ---------------------------------------------------------------


def can_escalate(user: User, ticket: Ticket) -> bool:
    """Whether `user` may escalate `ticket`: any active agent who sees it, while it is in a
    queue volunteers see and not merged away."""
    return (
        user.active
        and can_see_queue(user.role, ticket.queue)
        and ticket.queue.min_role is Role.VOLUNTEER
        and ticket.merged_into_id is None
    )


def clean_reason(reason: str | None, *, required: bool) -> str:
    """An agent's reason, trimmed; FeedbackError if it is required and empty, or too long."""
    text = (reason or "").replace("\r\n", "\n").replace("\0", "").strip()
    if required and not text:
        raise FeedbackError("Say why: a reason is required.")
    if len(text) > MAX_REASON:
        raise FeedbackError(f"The reason is too long (at most {MAX_REASON} characters).")
    return text


def record_escalation(
    session: Session,
    ticket: Ticket,
    user: User,
    reason: str = "",
    *,
    category: str = "",
    now: datetime | None = None,
    client: str | None = None,
) -> TriageFeedback:
    """Escalate `ticket` to specialist-safety at once and record a triage miss.

    Any agent who may see the ticket may do it while it is in a queue volunteers see (the
    agent need not see specialist-safety: leaving their sight is the point). `reason` is
    optional; `category` is the kind of risk the agent saw (one of CATEGORIES, or "" when
    they did not say). The owner and the answering lock go if their holder cannot follow
    the ticket; a closed or pending ticket is opened again, so it is in the specialists'
    lists. Raises FeedbackError (nothing changed) if the ticket cannot be escalated.
    """
    now = now or utcnow()
    text = clean_reason(reason, required=False)
    if category and category not in CATEGORIES:
        raise FeedbackError("Choose a kind of risk from the list, or none.")
    require_visible(user, ticket)
    if ticket.merged_into_id is not None:
        raise FeedbackError("This ticket was merged into another: escalate that one.")
    old = ticket.queue
    if old.min_role is not Role.VOLUNTEER:
        raise FeedbackError(f"This ticket is already in {old.name}, which volunteers do not see.")
    target = session.scalar(select(Queue).where(Queue.slug == SAFETY_QUEUE))
    if target is None:
        raise FeedbackError(f"There is no {SAFETY_QUEUE} queue to escalate to.")
    language, categories = _language_and_categories(session, ticket)
    ticket.queue = target
    ticket.queue_id = target.id
    _drop_holders_who_cannot_follow(session, ticket, target)
    if ticket.priority < int(Priority.HIGH):
        ticket.priority = int(Priority.HIGH)
    if ticket.state in (TicketState.CLOSED, TicketState.PENDING):
        add_event(session, ticket, user, "state", f"state {ticket.state.value} -> open", now)
        ticket.state = TicketState.OPEN
        ticket.closed_at = None
        ticket.pending_until = None
    ticket.updated_at = now
    said = f": {text}" if text else " (no reason given)"
    add_event(session, ticket, user, "escalated", f"{old.slug} -> {target.slug}{said}", now)
    # The audit log names the change, never the reason (it may quote the report).
    audit_change(session, user, ticket, client, f"escalated {old.slug} -> {target.slug}")
    row = TriageFeedback(
        ticket_id=ticket.id,
        kind=MISS,
        at=now,
        actor_id=user.id,
        actor=user.email,
        reason=text,
        from_queue=old.slug,
        to_queue=target.slug,
        language=language,
        categories=[category] if category else categories,
        source="",
    )
    session.add(row)
    session.flush()
    return row


def _drop_holders_who_cannot_follow(session: Session, ticket: Ticket, target: Queue) -> None:
    """The owner and the lock holder lose the ticket if they cannot see `target`."""
    for attr in ("owner_id", "locked_by_id"):
        holder_id = getattr(ticket, attr)
        holder = session.get(User, holder_id) if holder_id is not None else None
        if holder is not None and not can_see_queue(holder.role, target):
            setattr(ticket, attr, None)
            if attr == "locked_by_id":
                ticket.locked_until = None


@dataclass(frozen=True)
class Escalated:
    """What an agent keeps of a ticket they escalated: its number and when, nothing more."""

    number: str
    at: datetime


def escalations_by(session: Session, user: User, limit: int = 50) -> list[Escalated]:
    """The tickets `user` escalated, newest first (number and date only: the agent may no
    longer see them)."""
    rows = session.execute(
        select(Ticket.number, TriageFeedback.at)
        .join(Ticket, Ticket.id == TriageFeedback.ticket_id)
        .where(TriageFeedback.actor_id == user.id, TriageFeedback.kind == MISS)
        .order_by(TriageFeedback.at.desc(), TriageFeedback.id.desc())
        .limit(max(1, limit))
    )
    return [Escalated(number, at) for number, at in rows]


def ticket_feedback(session: Session, ticket: Ticket) -> list[TriageFeedback]:
    """The escalations and false alarms of `ticket`, oldest first (for its own page)."""
    stmt = (
        select(TriageFeedback)
        .where(TriageFeedback.ticket_id == ticket.id)
        .order_by(TriageFeedback.at, TriageFeedback.id)
    )
    return list(session.scalars(stmt))


# --- false alarm ------------------------------------------------------------------------------


def record_false_alarm(
    session: Session,
    ticket: Ticket,
    user: User,
    reason: str,
    *,
    from_queue: Queue | str | None = None,
    now: datetime | None = None,
) -> TriageFeedback:
    """Record that `ticket` was moved from a restricted queue to one more people may see:
    a false alarm of whatever had put it there (triage, the safety address, an escalation).

    Call it after the move, in the same transaction, with `from_queue`, the queue the
    ticket left (without it: the queue named by the ticket's latest move in its history).
    `reason` is required (FeedbackError if empty). Writes a history row of kind
    "false-alarm" with the reason (the caller need not); the move has its own rows.
    """
    now = now or utcnow()
    text = clean_reason(reason, required=True)
    if isinstance(from_queue, Queue):
        left = from_queue.slug
    else:
        left = from_queue or _last_move_from(session, ticket) or UNKNOWN
    language, categories = _language_and_categories(session, ticket)
    source = _source(session, ticket)
    add_event(session, ticket, user, "false-alarm", f"{left} -> {ticket.queue.slug}: {text}", now)
    row = TriageFeedback(
        ticket_id=ticket.id,
        kind=FALSE_ALARM,
        at=now,
        actor_id=user.id,
        actor=user.email,
        reason=text,
        from_queue=left,
        to_queue=ticket.queue.slug,
        language=language,
        categories=categories,
        source=source,
    )
    session.add(row)
    session.flush()
    return row


def move_back(
    session: Session,
    ticket: Ticket,
    user: User,
    queue: Queue | str,
    reason: str,
    now: datetime | None = None,
    *,
    client: str | None = None,
) -> TriageFeedback:
    """Move `ticket` out of its restricted queue to `queue`, one more people may see, with
    the required reason, and return the false alarm the move (queues.tickets.move) records:
    for code and tests (the web UI's "Not serious" goes through webui.work's confirmation
    page to the same move)."""
    now = now or utcnow()
    clean_reason(reason, required=True)  # before anything moves
    old = ticket.queue
    if old.min_role is Role.VOLUNTEER:
        raise FeedbackError("This ticket is not in a restricted queue.")
    target = (
        queue
        if isinstance(queue, Queue)
        else session.scalar(select(Queue).where(Queue.slug == queue))
    )
    if target is not None and not widens(old, target):
        raise FeedbackError("Choose a queue more people may see.")
    move(session, ticket, user, queue, now, reason=reason, client=client)
    recorded = session.scalar(
        select(TriageFeedback)
        .where(
            TriageFeedback.ticket_id == ticket.id,
            TriageFeedback.kind == FALSE_ALARM,
            TriageFeedback.at == now,
        )
        .order_by(TriageFeedback.id.desc())
        .limit(1)
    )
    if recorded is None:  # cannot happen: a move to a wider queue records it
        raise FeedbackError("The move was not recorded as a false alarm.")
    return recorded


_MOVE_DETAIL: Final = re.compile(r"^(?:queue )?([a-z0-9][a-z0-9_-]*) -> ([a-z0-9][a-z0-9_-]*)")


def _last_move_from(session: Session, ticket: Ticket) -> str | None:
    """The queue named as left by the ticket's latest move into its current queue."""
    events = session.scalars(
        select(TicketEvent.detail)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("queue%"))
        .order_by(TicketEvent.id.desc())
        .limit(5)
    )
    for detail in events:
        found = _MOVE_DETAIL.match(detail)
        if found and found.group(2) == ticket.queue.slug:
            return found.group(1)
    return None


def _source(session: Session, ticket: Ticket) -> str:
    """What had put `ticket` in the restricted queue: its latest escalation (if later than
    any move back), else triage's reasons, else the safety address (SOURCES)."""
    latest = session.execute(
        select(TriageFeedback.kind)
        .where(TriageFeedback.ticket_id == ticket.id)
        .order_by(TriageFeedback.at.desc(), TriageFeedback.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest == MISS:
        return "escalation"
    reasons = list(ticket.triage_reasons or [])
    if any(r not in _SIGNAL_REASONS for r in reasons):
        return "triage"
    if any(_SIGNAL_REASONS.get(r) == "safety-address" for r in reasons):
        return "safety-address"
    return SOURCES[-1]


# --- language and categories ------------------------------------------------------------------


def reason_category(reason: str) -> str | None:
    """The category a stored triage reason names (None for a signal or an unknown text)."""
    label = reason.split(":", 1)[0].strip()
    if label in _LABEL_CATEGORY:
        return _LABEL_CATEGORY[label]
    for label, key in _LABEL_CATEGORY.items():  # old reasons: `threat of harm (en: '...')`
        if reason.startswith(label + " ("):
            return key
    return None


def reason_language(reason: str) -> str | None:
    """The lexicon language a stored triage reason names, or None."""
    found = _REASON_LANGUAGE.search(reason)
    if found is None:
        return None
    return found.group(1) or found.group(2)


def _language_and_categories(session: Session, ticket: Ticket) -> tuple[str, list[str]]:
    """The report's language and the risk categories its triage reasons name.

    The language is that of the lexicon entry that fired (what staff would tune), else the
    reporter's language stored on the ticket (queues.reporter.language), else the one
    py3langid finds in its first message (the same detection), else "" (unknown)."""
    reasons = list(ticket.triage_reasons or [])
    categories = list(dict.fromkeys(c for r in reasons if (c := reason_category(r))))
    for reason in reasons:
        language = reason_language(reason)
        if language:
            return language, categories
    if ticket.language:
        return ticket.language, categories
    first = session.execute(
        select(Article.subject, Article.body_text)
        .where(Article.ticket_id == ticket.id, Article.kind == ArticleKind.INCOMING)
        .order_by(Article.id)
        .limit(1)
    ).first()
    texts = (first.subject, first.body_text) if first else (ticket.subject,)
    return detect_language(*texts) or UNKNOWN, categories


# --- live figures -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of one row of the figures (a week, a language, a category, a queue)."""

    label: str
    misses: int = 0  # escalations: serious reports triage left in a volunteers' queue
    false_alarms: int = 0  # moves back to a wider queue, whatever had sent the ticket
    flagged: int = 0  # tickets triage flagged from their text
    moved_back: int = 0  # of those, moved back as a false alarm of triage

    @property
    def kept(self) -> int:
        """Flagged tickets nobody moved back."""
        return max(self.flagged - self.moved_back, 0)

    @property
    def precision(self) -> float | None:
        """Estimated precision: flagged tickets not moved back, of all flagged."""
        return self.kept / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        """Estimated recall: flagged and kept, of those plus the escalated misses."""
        found = self.kept + self.misses
        return self.kept / found if found else None


@dataclass
class Figures:
    """The live figures of the last `weeks` weeks (UTC, weeks start on Monday)."""

    since: datetime
    until: datetime
    total: Tally
    weeks: list[Tally] = field(default_factory=list)
    languages: list[Tally] = field(default_factory=list)
    categories: list[Tally] = field(default_factory=list)
    queues: list[Tally] = field(default_factory=list)
    sources: list[Tally] = field(default_factory=list)  # false alarms by what sent them
    address_signals: int = 0  # tickets the safety address sent to specialists


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week of `at`."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def figures(session: Session, now: datetime | None = None, weeks: int = DEFAULT_WEEKS) -> Figures:
    """The live figures of the last `weeks` weeks (this one included), to `now`."""
    now = now or utcnow()
    weeks = max(1, min(weeks, MAX_WEEKS))
    since = week_start(now) - timedelta(weeks=weeks - 1)
    out = Figures(since=since, until=now, total=Tally("all"))
    by_week = {
        since + timedelta(weeks=i): Tally(f"{since + timedelta(weeks=i):%Y-%m-%d}")
        for i in range(weeks)
    }
    by_language: dict[str, Tally] = {code: Tally(code) for code in LANGUAGES}
    by_category: dict[str, Tally] = {code: Tally(code) for code in CATEGORIES}
    by_queue: dict[str, Tally] = {}
    by_source: dict[str, Tally] = {code: Tally(code) for code in SOURCES}

    def rows(key: str, table: dict[str, Tally]) -> Tally:
        if key not in table:
            table[key] = Tally(key)
        return table[key]

    feedback = session.execute(
        select(
            TriageFeedback.kind,
            TriageFeedback.at,
            TriageFeedback.language,
            TriageFeedback.categories,
            TriageFeedback.from_queue,
            TriageFeedback.source,
        ).where(TriageFeedback.at >= since, TriageFeedback.at <= now)
    )
    for kind, at, language, categories, from_queue, source in feedback:
        tallies = [out.total, by_week[week_start(at)], rows(language, by_language)]
        tallies += [rows(c, by_category) for c in (categories or ["unstated"])]
        tallies.append(rows(from_queue, by_queue))
        if kind == MISS:
            for tally in tallies:
                tally.misses += 1
            continue
        rows(source or SOURCES[-1], by_source).false_alarms += 1
        for tally in tallies:
            tally.false_alarms += 1
            if source == "triage":
                tally.moved_back += 1

    for at, reasons in _flagged(session, since, now):
        text_reasons = [r for r in reasons if r not in _SIGNAL_REASONS]
        if any(_SIGNAL_REASONS.get(r) == "safety-address" for r in reasons):
            out.address_signals += 1
        if not text_reasons:
            continue
        language = next((lang for r in text_reasons if (lang := reason_language(r))), UNKNOWN)
        named = dict.fromkeys(c for r in text_reasons if (c := reason_category(r)))
        tallies = [out.total, by_week[week_start(at)], rows(language, by_language)]
        tallies += [rows(c, by_category) for c in named]
        for tally in tallies:
            tally.flagged += 1

    out.weeks = list(by_week.values())
    out.languages = _ordered(by_language, LANGUAGES)
    out.categories = _ordered(by_category, CATEGORIES)
    out.queues = sorted(by_queue.values(), key=lambda t: t.label)
    out.sources = _ordered(by_source, SOURCES)
    return out


def _ordered(table: dict[str, Tally], first: Sequence[str]) -> list[Tally]:
    rest = sorted(k for k in table if k not in first)
    return [table[k] for k in (*first, *rest) if k in table]


def _flagged(
    session: Session, since: datetime, until: datetime
) -> Iterable[tuple[datetime, list[str]]]:
    """(when triage first flagged it in the period, its reasons) of each ticket that ingest
    flagged between `since` and `until` (history rows of kind "triage")."""
    stmt = (
        select(TicketEvent.ticket_id, func.min(TicketEvent.at))
        .where(TicketEvent.kind == "triage", TicketEvent.at >= since, TicketEvent.at <= until)
        .group_by(TicketEvent.ticket_id)
    )
    first: dict[int, datetime] = {ticket_id: at for ticket_id, at in session.execute(stmt)}
    ids = sorted(first)
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for ticket_id, reasons in session.execute(
            select(Ticket.id, Ticket.triage_reasons).where(Ticket.id.in_(chunk))
        ):
            yield first[ticket_id], list(reasons or [])
