"""The `home` blueprint: the overview of the queues the agent may see, with their counts.

Per queue: how many tickets are new, open and pending, how many requesters wait for a
human answer (`Ticket.waiting_since` set, ticket not closed), and the ticket that has
waited longest, with how long. Counts start from queues.access.visible_tickets, so a
hidden queue adds nothing anywhere. Each figure is one indexed query (migration 0004).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, render_template
from sqlalchemy import Select, func

from queues.access import visible_queues, visible_tickets
from queues.models import Queue, Ticket, TicketState
from queues.ticketlist import ACTIVE_STATES
from webui import db
from webui.login import agent
from webui.tickets import ticket_url
from webui.timefmt import since, stamp

bp = Blueprint("home", __name__)


@dataclass
class Oldest:
    number: str
    subject: str
    waiting_since: datetime


@dataclass
class QueueRow:
    queue: Queue
    counts: dict[TicketState, int] = field(default_factory=dict)
    waiting: int = 0  # requesters waiting for a human answer
    oldest: Oldest | None = None

    def count(self, state: str) -> int:
        return self.counts.get(TicketState(state), 0)


@bp.route("/")
def index() -> str:
    me = agent()
    session = db.session()
    rows = {q.id: QueueRow(q) for q in visible_queues(session, me.user)}
    # Only tickets not closed: the work of the day, not the archive, sets the cost.
    active = visible_tickets(me.user).where(Ticket.state.in_(ACTIVE_STATES))
    by_state = active.with_only_columns(Ticket.queue_id, Ticket.state, func.count()).group_by(
        Ticket.queue_id, Ticket.state
    )
    for queue_id, state, n in session.execute(by_state):
        if queue_id in rows:
            rows[queue_id].counts[TicketState(state)] = n
    waiting = active.where(Ticket.waiting_since.is_not(None))
    per_queue = waiting.with_only_columns(Ticket.queue_id, func.count()).group_by(Ticket.queue_id)
    for queue_id, n in session.execute(per_queue):
        if queue_id in rows:
            rows[queue_id].waiting = n
    for queue_id, row in rows.items():
        if row.waiting:
            row.oldest = _oldest(waiting.where(Ticket.queue_id == queue_id))
    return render_template(
        "webui/home/index.html",
        rows=list(rows.values()),
        ticket_url=ticket_url,
        since=since,
        stamp=stamp,
        now=datetime.now(UTC),
    )


def _oldest(waiting: Select[Ticket]) -> Oldest | None:
    """The longest wait in one queue: one seek in ix_tickets_queue_state_waiting per state."""
    found: list[Oldest] = []
    for state in ACTIVE_STATES:
        row = (
            db.session()
            .execute(
                waiting.with_only_columns(Ticket.number, Ticket.subject, Ticket.waiting_since)
                .where(Ticket.state == state)
                .order_by(Ticket.waiting_since)
                .limit(1)
            )
            .first()
        )
        if row is not None:
            found.append(Oldest(row.number, row.subject, row.waiting_since))
    return min(found, key=lambda o: (o.waiting_since, o.number), default=None)
