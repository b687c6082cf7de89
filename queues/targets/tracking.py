"""Keeping every ticket's target clock in step with its changes, wherever they are made.

State, queue and replies change in many places: the agents' services (queues.tickets,
queues.replies), escalation, merges, the pending timer, and ingest. Rather than a call in
each (which a new way to change a ticket could forget), the clock follows the ORM: a
`before_flush` hook on every Session sees a ticket whose state or queue changed, and a new
outgoing article (a reply), and updates `ticket_clocks` and `tickets.due_at` in the same
flush; an `after_flush` hook starts the clock of a ticket created through the ORM. Ingest
writes tickets with Core statements (queues.rows) and calls `start_for_new` and
`follow_ingest` itself.

The time of a change is the ticket's new `updated_at` when the change set it (every service
does, with the `now` it was given, so a controlled clock reaches the target clock), else
the reply's `created_at`, else the present.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from queues.models import Article, ArticleKind, Ticket, TicketState, table_of, utcnow
from queues.targets import clock as clocks
from queues.targets.policy import targets_for

_T = table_of(Ticket)


def due_for_new(conn: Connection, queue_id: int, created_at: datetime) -> datetime | None:
    """The due time of a ticket about to be created in this queue (ingest's INSERT)."""
    return clocks.due_of(clocks.start(created_at), targets_for(conn, queue_id))


def start_for_new(conn: Connection, ticket_id: int, created_at: datetime) -> None:
    """The clock row of a ticket ingest just created (its due time went into the INSERT)."""
    clocks.save(conn, ticket_id, clocks.start(created_at), new=True)


def follow_ingest(
    conn: Connection,
    ticket_id: int,
    queue_id: int,
    at: datetime,
    new_state: TicketState | None = None,
) -> None:
    """After ingest changed a ticket (reopened it, or triage moved it): clock and due time."""
    clock, new = _clock_of(conn, ticket_id)
    if new_state is not None:
        clock = clocks.follow_state(clock, new_state, at)
    clocks.save(conn, ticket_id, clock, new=new)
    due = clocks.due_of(clock, targets_for(conn, queue_id))
    conn.execute(clocks.SET_DUE, {"tid": ticket_id, "due": due})


def _clock_of(conn: Connection, ticket_id: int) -> tuple[clocks.Clock, bool]:
    """The ticket's clock, or a fresh one from its row (a ticket older than the targets)."""
    found = clocks.load(conn, ticket_id)
    if found is not None:
        return found, False
    row = conn.execute(select(_T.c.created_at, _T.c.state).where(_T.c.id == ticket_id)).one()
    return clocks.start(row.created_at, TicketState(row.state)), True


def _change_time(ticket: Ticket) -> datetime:
    added = inspect(ticket).attrs.updated_at.history.added
    value = added[0] if added else None
    return value if isinstance(value, datetime) else utcnow()


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    replies: dict[int, datetime] = {}
    for obj in session.new:
        if isinstance(obj, Article) and obj.kind is ArticleKind.OUTGOING and obj.ticket_id:
            at = obj.created_at or utcnow()
            replies[obj.ticket_id] = max(at, replies.get(obj.ticket_id, at))
    changed: dict[int, tuple[Ticket, TicketState | None]] = {}
    for obj in session.dirty:
        if not isinstance(obj, Ticket) or obj.id is None:
            continue
        attrs = inspect(obj).attrs
        state = attrs.state.history
        if state.has_changes() or attrs.queue_id.history.has_changes():
            old = state.deleted[0] if state.deleted else None
            changed[obj.id] = (obj, TicketState(old) if old is not None else None)
    if not replies and not changed:
        return
    conn = session.connection()
    with session.no_autoflush:
        for ticket_id in {*replies, *changed}:
            _follow(session, conn, ticket_id, replies.get(ticket_id), changed.get(ticket_id))


def _follow(
    session: Session,
    conn: Connection,
    ticket_id: int,
    replied_at: datetime | None,
    change: tuple[Ticket, TicketState | None] | None,
) -> None:
    ticket = change[0] if change else session.get(Ticket, ticket_id)
    if ticket is None:
        return
    found = clocks.load(conn, ticket_id)
    if found is None:
        before = change[1] if change and change[1] is not None else ticket.state
        clock, new = clocks.start(ticket.created_at or utcnow(), before), True
    else:
        clock, new = found, False
    if replied_at is not None:
        clock = clocks.answered(clock, replied_at)
    if change is not None and change[1] is not None:
        clock = clocks.follow_state(clock, ticket.state, _change_time(ticket))
    clocks.save(conn, ticket_id, clock, new=new)
    due = clocks.due_of(clock, targets_for(conn, ticket.queue_id))
    if ticket.due_at != due:
        ticket.due_at = due


def _after_flush(session: Session, _context: Any) -> None:
    """Tickets created through the ORM (tests, other tools) get their clock too."""
    created = [o for o in session.new if isinstance(o, Ticket) and o.id is not None]
    if not created:
        return
    conn = session.connection()
    for ticket in created:
        if clocks.load(conn, ticket.id) is not None:
            continue
        clock = clocks.start(ticket.created_at or utcnow(), TicketState(ticket.state))
        clocks.save(conn, ticket.id, clock, new=True)
        due = clocks.due_of(clock, targets_for(conn, ticket.queue_id))
        if due != ticket.due_at:
            conn.execute(clocks.SET_DUE, {"tid": ticket.id, "due": due})
            set_committed_value(ticket, "due_at", due)


event.listen(Session, "before_flush", _before_flush)
event.listen(Session, "after_flush", _after_flush)
