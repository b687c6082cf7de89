"""The `home` blueprint: the overview of the queues the agent may see, with their counts.

Counts start from queues.access.visible_tickets, so a hidden queue adds nothing anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, render_template
from sqlalchemy import func

from queues.access import visible_queues, visible_tickets
from queues.models import Queue, Ticket, TicketState
from webui import db
from webui.login import agent

bp = Blueprint("home", __name__)


@dataclass
class QueueRow:
    queue: Queue
    counts: dict[TicketState, int] = field(default_factory=dict)

    def count(self, state: str) -> int:
        return self.counts.get(TicketState(state), 0)

    @property
    def waiting(self) -> int:
        """Tickets that still need someone: everything not closed."""
        return sum(n for state, n in self.counts.items() if state is not TicketState.CLOSED)


@bp.route("/")
def index() -> str:
    me = agent()
    session = db.session()
    rows = {q.id: QueueRow(q) for q in visible_queues(session, me.user)}
    stmt = (
        visible_tickets(me.user)
        .with_only_columns(Ticket.queue_id, Ticket.state, func.count())
        .group_by(Ticket.queue_id, Ticket.state)
    )
    for queue_id, state, count in session.execute(stmt):
        if queue_id in rows:
            rows[queue_id].counts[TicketState(state)] = count
    return render_template("webui/home/index.html", rows=list(rows.values()))
