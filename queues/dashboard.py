"""The dashboard's figures, over the queues the viewer may see (issue 13).

Each figure is a table (columns, rows: what the page shows as a table and the CSV export
holds) and the series a chart draws from the same numbers:

- tickets-in: new tickets per day per queue, the last 28 days;
- first-response: per week of arrival, how many tickets were answered, the median and the
  90th percentile of hours from arrival to the first reply, and how many wait still;
- backlog: tickets not closed, by age, per queue;
- breaches: response targets passed per week per queue (queues.targets);
- triage-feedback: escalations (triage misses) and false alarms per week (issue 9);
- coverage: the next seven days' hours without anyone on duty, per queue with shifts
  (queues.team.coverage).

Need to know: every count starts from the viewer's visible queues (queues.access), so a
volunteer's dashboard never counts a restricted queue, and a triage feedback row counts only
when its ticket is where the viewer may see it. Times are UTC; weeks start on Monday.
Percentiles are nearest-rank (the smallest value with at least p% of values at or below it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from queues.access import visible_queues
from queues.models import Article, ArticleKind, Queue, Ticket, TicketState, User, utcnow
from queues.targets.models import TargetBreach
from queues.triage.feedback_models import FALSE_ALARM, MISS, TriageFeedback

DAYS = 28
WEEKS = 12
COVERAGE_DAYS = 7
# Backlog age buckets: (label, upper bound), the last one open-ended.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 hour", timedelta(hours=1)),
    ("1-4 hours", timedelta(hours=4)),
    ("4-24 hours", timedelta(days=1)),
    ("1-3 days", timedelta(days=3)),
    ("3-7 days", timedelta(days=7)),
    ("1-4 weeks", timedelta(weeks=4)),
    ("over 4 weeks", None),
)


@dataclass(frozen=True)
class Figure:
    """One figure: a table and the chart drawn from it."""

    key: str
    title: str
    description: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    chart: str  # "bar", "stacked" or "line"
    x_labels: list[str] = field(default_factory=list)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    y_title: str = ""
    empty_text: str = "Nothing to show for this period."
    # What the chart says when there are rows but no value to draw (e.g. nothing answered).
    nothing_to_draw: str = "Nothing to draw yet: the numbers are in the table."

    @property
    def empty(self) -> bool:
        return not self.rows


FIGURE_KEYS = ("tickets-in", "first-response", "backlog", "breaches", "triage-feedback", "coverage")


def week_start(at: datetime) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def tickets_in(session: Session, queues: list[Queue], now: datetime) -> Figure:
    first = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [first + timedelta(days=i) for i in range(DAYS)]
    counts: Counter[tuple[int, str]] = Counter()
    ids = [q.id for q in queues]
    stmt = select(Ticket.queue_id, Ticket.created_at).where(
        Ticket.queue_id.in_(ids), Ticket.created_at >= first, Ticket.created_at <= now
    )
    for queue_id, created in session.execute(stmt):
        counts[(queue_id, created.strftime("%Y-%m-%d"))] += 1
    labels = [d.strftime("%Y-%m-%d") for d in days]
    rows: list[tuple[object, ...]] = [
        (label, q.name, counts[(q.id, label)])
        for label in labels
        for q in queues
        if counts[(q.id, label)]
    ]
    return Figure(
        "tickets-in",
        "New tickets per day",
        f"Tickets that arrived each day of the last {DAYS} days, per queue.",
        ("Day", "Queue", "New tickets"),
        rows,
        "stacked",
        [d.strftime("%d %b") for d in days],
        {q.name: [float(counts[(q.id, label)]) for label in labels] for q in queues},
        "tickets",
        "No tickets arrived in the last four weeks.",
    )


def first_response(session: Session, queues: list[Queue], now: datetime) -> Figure:
    first_week = week_start(now) - timedelta(weeks=WEEKS - 1)
    replied = func.min(Article.created_at)
    stmt = (
        select(Ticket.id, Ticket.created_at, replied)
        .outerjoin(
            Article, and_(Article.ticket_id == Ticket.id, Article.kind == ArticleKind.OUTGOING)
        )
        .where(
            Ticket.queue_id.in_([q.id for q in queues]),
            Ticket.created_at >= first_week,
            Ticket.created_at <= now,
            Ticket.merged_into_id.is_(None),
        )
        .group_by(Ticket.id, Ticket.created_at)
    )
    hours: dict[datetime, list[float]] = defaultdict(list)
    waiting: Counter[datetime] = Counter()
    for _id, created, first_reply in session.execute(stmt):
        week = week_start(created)
        if first_reply is None:
            waiting[week] += 1
        else:
            hours[week].append(max(0.0, (first_reply - created).total_seconds() / 3600))
    weeks = [first_week + timedelta(weeks=i) for i in range(WEEKS)]
    rows: list[tuple[object, ...]] = []
    for week in weeks:
        if hours[week] or waiting[week]:
            rows.append(
                (
                    week.strftime("%Y-%m-%d"),
                    len(hours[week]),
                    _round(percentile(hours[week], 50)),
                    _round(percentile(hours[week], 90)),
                    waiting[week],
                )
            )
    return Figure(
        "first-response",
        "First response time per week",
        "For the tickets that arrived each week: how many were answered, and the median and "
        "90th percentile of hours from arrival to the first reply; and how many still wait.",
        ("Week of", "Answered", "Median hours", "90th percentile hours", "Not answered yet"),
        rows,
        "line",
        [w.strftime("%d %b") for w in weeks],
        {
            "median": [_round(percentile(hours[w], 50)) for w in weeks],
            "90th percentile": [_round(percentile(hours[w], 90)) for w in weeks],
        },
        "hours",
        "No tickets arrived in the last twelve weeks.",
    )


def backlog(session: Session, queues: list[Queue], now: datetime) -> Figure:
    counts: Counter[tuple[int, str]] = Counter()
    stmt = select(Ticket.queue_id, Ticket.created_at).where(
        Ticket.queue_id.in_([q.id for q in queues]),
        Ticket.state.in_((TicketState.NEW, TicketState.OPEN, TicketState.PENDING)),
        Ticket.merged_into_id.is_(None),
    )
    for queue_id, created in session.execute(stmt):
        counts[(queue_id, _age_bucket(now - created))] += 1
    labels = [label for label, _ in AGE_BUCKETS]
    rows: list[tuple[object, ...]] = [
        (label, q.name, counts[(q.id, label)])
        for label in labels
        for q in queues
        if counts[(q.id, label)]
    ]
    return Figure(
        "backlog",
        "Backlog by age",
        "Tickets not closed (new, open or pending), by how long ago they arrived, per queue.",
        ("Age", "Queue", "Tickets"),
        rows,
        "stacked",
        labels,
        {q.name: [float(counts[(q.id, label)]) for label in labels] for q in queues},
        "tickets",
        "No open tickets: the backlog is empty.",
    )


def _age_bucket(age: timedelta) -> str:
    for label, bound in AGE_BUCKETS:
        if bound is None or age < bound:
            return label
    return AGE_BUCKETS[-1][0]


def breaches(session: Session, queues: list[Queue], now: datetime) -> Figure:
    first_week = week_start(now) - timedelta(weeks=WEEKS - 1)
    counts: Counter[tuple[int, datetime]] = Counter()
    stmt = select(TargetBreach.queue_id, TargetBreach.at).where(
        TargetBreach.queue_id.in_([q.id for q in queues]),
        TargetBreach.at >= first_week,
        TargetBreach.at <= now,
    )
    for queue_id, at in session.execute(stmt):
        counts[(queue_id, week_start(at))] += 1
    weeks = [first_week + timedelta(weeks=i) for i in range(WEEKS)]
    rows: list[tuple[object, ...]] = [
        (w.strftime("%Y-%m-%d"), q.name, counts[(q.id, w)])
        for w in weeks
        for q in queues
        if counts[(q.id, w)]
    ]
    return Figure(
        "breaches",
        "Response targets passed",
        "Tickets that passed a first-response or update target, per week and queue.",
        ("Week of", "Queue", "Targets passed"),
        rows,
        "stacked",
        [w.strftime("%d %b") for w in weeks],
        {q.name: [float(counts[(q.id, w)]) for w in weeks] for q in queues},
        "targets passed",
        "No response target was passed in the last twelve weeks.",
    )


def triage_feedback(session: Session, queues: list[Queue], now: datetime) -> Figure:
    first_week = week_start(now) - timedelta(weeks=WEEKS - 1)
    counts: Counter[tuple[str, datetime]] = Counter()
    stmt = (
        select(TriageFeedback.kind, TriageFeedback.at)
        .join(Ticket, Ticket.id == TriageFeedback.ticket_id)
        .where(
            Ticket.queue_id.in_([q.id for q in queues]),
            TriageFeedback.at >= first_week,
            TriageFeedback.at <= now,
        )
    )
    for kind, at in session.execute(stmt):
        counts[(kind, week_start(at))] += 1
    weeks = [first_week + timedelta(weeks=i) for i in range(WEEKS)]
    rows: list[tuple[object, ...]] = [
        (w.strftime("%Y-%m-%d"), counts[(MISS, w)], counts[(FALSE_ALARM, w)])
        for w in weeks
        if counts[(MISS, w)] or counts[(FALSE_ALARM, w)]
    ]
    return Figure(
        "triage-feedback",
        "Escalations and false alarms",
        "Per week: tickets agents escalated to specialists (triage missed them) and tickets "
        "moved back from a restricted queue as false alarms, among the tickets you may see.",
        ("Week of", "Escalations", "False alarms"),
        rows,
        "bar",
        [w.strftime("%d %b") for w in weeks],
        {
            "escalations": [float(counts[(MISS, w)]) for w in weeks],
            "false alarms": [float(counts[(FALSE_ALARM, w)]) for w in weeks],
        },
        "tickets",
        "No escalations or false alarms in the last twelve weeks.",
    )


def coverage(session: Session, queues: list[Queue], now: datetime) -> Figure:
    from queues.team.coverage import uncovered
    from queues.team.rota import active_shifts

    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=COVERAGE_DAYS)
    with_shifts = {s.queue_id for s in active_shifts(session, [q.id for q in queues])}
    rows: list[tuple[object, ...]] = []
    per_day: dict[str, list[float | None]] = {}
    days = [start + timedelta(days=i) for i in range(COVERAGE_DAYS)]
    for queue in queues:
        if queue.id not in with_shifts:
            continue
        gaps = uncovered(session, queue, start, end)
        hours = [0.0] * COVERAGE_DAYS
        for gap in gaps:
            length = (gap.end - gap.start).total_seconds() / 3600
            rows.append(
                (
                    queue.name,
                    gap.start.strftime("%Y-%m-%d %H:%M"),
                    gap.end.strftime("%Y-%m-%d %H:%M"),
                    round(length, 1),
                )
            )
            for i, day in enumerate(days):
                overlap = min(gap.end, day + timedelta(days=1)) - max(gap.start, day)
                hours[i] += max(0.0, overlap.total_seconds() / 3600)
        per_day[queue.name] = [round(h, 1) for h in hours]
    described = "no queue you may see has shifts yet" if not with_shifts else ""
    return Figure(
        "coverage",
        "Coverage gaps in the next seven days",
        "Stretches of the next seven days (UTC) in which nobody is on duty, per queue with "
        "shifts on the rota.",
        ("Queue", "From (UTC)", "Until (UTC)", "Hours"),
        rows,
        "stacked",
        [d.strftime("%a %d %b") for d in days],
        per_day,
        "hours without cover",
        "No shifts are defined for the queues you may see yet."
        if described
        else "Every hour of the next seven days has someone on duty.",
    )


BUILDERS: dict[str, Callable[[Session, list[Queue], datetime], Figure]] = {
    "tickets-in": tickets_in,
    "first-response": first_response,
    "backlog": backlog,
    "breaches": breaches,
    "triage-feedback": triage_feedback,
    "coverage": coverage,
}


def figure(session: Session, viewer: User, key: str, now: datetime | None = None) -> Figure:
    """One figure for `viewer` (KeyError for an unknown key)."""
    builder = BUILDERS[key]
    return builder(session, visible_queues(session, viewer), now or utcnow())


def dashboard(session: Session, viewer: User, now: datetime | None = None) -> list[Figure]:
    """Every figure for `viewer`, in the page's order."""
    now = now or utcnow()
    queues = visible_queues(session, viewer)
    return [BUILDERS[key](session, queues, now) for key in FIGURE_KEYS]


def has_tickets(session: Session, viewer: User) -> bool:
    """Whether any ticket exists in the viewer's queues (else the page says so)."""
    ids = [q.id for q in visible_queues(session, viewer)]
    return session.scalar(select(Ticket.id).where(Ticket.queue_id.in_(ids)).limit(1)) is not None
