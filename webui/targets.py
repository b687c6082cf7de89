"""The `targets` blueprint: staff set each queue's response targets; every page shows what
is due.

Staff page (/staff/targets): per queue, the first-response and update targets in hours
(empty = none), or back to the defaults file (queues/targets/defaults.toml). A change
applies to the tickets of that queue at once (their due times are worked out again) and is
recorded in the audit log.

For every agent: the ticket page says when the ticket is due, or how much is left while its
clock stands still (`ticket_due`, templates/webui/targets/_due.html), and the lists show a
due column (`due_label`). Both are Jinja globals registered by `init_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from queues.audit import record_staff_change
from queues.models import Queue, Ticket, TicketState, utcnow
from queues.targets import clock as clocks
from queues.targets.models import FIRST_RESPONSE, QueueTarget, TicketClock
from queues.targets.policy import MAX_HOURS, Targets, default_targets, targets_for
from webui import db
from webui.login import agent, client_address
from webui.staff import staff_only
from webui.timefmt import duration

bp = Blueprint("targets", __name__, url_prefix="/staff/targets")
bp.before_request(staff_only)

SOON = timedelta(hours=1)


@dataclass(frozen=True)
class DueLabel:
    text: str
    css: str  # "overdue", "due-soon" or ""


def due_label(ticket: Ticket, now: datetime | None = None) -> DueLabel:
    """What a list shows in the due column."""
    if ticket.due_at is None:
        # Pending: the clock stands still until the reporter answers (or the date comes).
        return DueLabel("stopped" if ticket.state is TicketState.PENDING else "—", "")
    left = ticket.due_at - (now or datetime.now(UTC))
    if left <= timedelta(0):
        return DueLabel(f"overdue {duration(-left)}", "overdue")
    return DueLabel(f"in {duration(left)}", "due-soon" if left <= SOON else "")


@dataclass(frozen=True)
class TicketDue:
    """What the ticket page says about its response target."""

    target: str | None  # "first response" or "update"; None: the queue has no such target
    due_at: datetime | None
    overdue: bool
    left: str  # "3 h 12 min" until due, or how long overdue, or what is left while stopped
    stopped: bool
    first_response_at: datetime | None
    breached_at: datetime | None


def ticket_due(ticket: Ticket) -> TicketDue:
    session = db.session()
    found = session.get(TicketClock, ticket.id)
    clock = (
        clocks.Clock(
            found.kind,
            found.anchor_at,
            found.paused_at,
            found.paused_seconds,
            found.first_response_at,
            found.breached_at,
        )
        if found is not None
        else clocks.start(ticket.created_at, ticket.state)
    )
    targets = targets_for(session.connection(), ticket.queue_id)
    name = "first response" if clock.kind == FIRST_RESPONSE else "update"
    has_target = targets.for_kind(clock.kind) is not None
    now = utcnow()
    stopped = clock.paused_at is not None
    left = ""
    overdue = False
    if has_target and stopped:
        remaining = clocks.left_when_stopped(clock, targets) or timedelta(0)
        overdue = remaining <= timedelta(0)
        left = duration(-remaining if overdue else remaining)
    elif ticket.due_at is not None:
        overdue = ticket.due_at <= now
        left = duration(now - ticket.due_at if overdue else ticket.due_at - now)
    return TicketDue(
        name if has_target else None,
        ticket.due_at,
        overdue,
        left,
        stopped,
        clock.first_response_at,
        clock.breached_at,
    )


# --- staff: each queue's targets -------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    targets: Targets
    default: Targets


def _hours(value: timedelta | None) -> str:
    if value is None:
        return ""
    hours = value.total_seconds() / 3600
    return f"{hours:g}"


@bp.get("")
def index() -> str:
    session = db.session()
    conn = session.connection()
    defaults = default_targets()
    rows = [
        QueueRow(q, targets_for(conn, q.id), defaults.get(q.slug, Targets()))
        for q in session.scalars(select(Queue).order_by(Queue.id))
    ]
    return render_template("webui/targets/index.html", rows=rows, hours=_hours)


def _parse_hours(raw: str, label: str) -> int | None:
    """Minutes from an hours field ("" = no target); ValueError names the field."""
    text = raw.strip().replace(",", ".")
    if not text:
        return None
    try:
        hours = float(text)
    except ValueError:
        raise ValueError(f"{label}: give a number of hours, or leave it empty.") from None
    if not 0 < hours <= MAX_HOURS:
        raise ValueError(f"{label}: between 0 and {MAX_HOURS} hours.")
    return max(1, round(hours * 60))


@bp.post("/<int:queue_id>")
def save(queue_id: int) -> Response:
    me = agent().user
    _ = me.email  # read before the write transaction begins
    defaults = request.form.get("action") == "defaults"
    try:
        first = _parse_hours(request.form.get("first_response", ""), "First response")
        update = _parse_hours(request.form.get("update", ""), "Update")
    except ValueError as exc:
        flash(str(exc))
        return redirect(url_for("targets.index"))
    with db.writing() as writer:
        queue = writer.get(Queue, queue_id)
        if queue is None:
            abort(404)
        row = writer.get(QueueTarget, queue.id)
        if defaults:
            if row is not None:
                writer.delete(row)
            detail = f"response targets of {queue.slug}: back to the defaults"
        else:
            if row is None:
                row = QueueTarget(queue_id=queue.id)
                writer.add(row)
            row.first_response_minutes, row.update_minutes = first, update
            row.updated_at, row.updated_by = utcnow(), me.email
            detail = f"response targets of {queue.slug}: first {first} min, update {update} min"
        writer.flush()
        changed = _redo_due(writer, queue)
        record_staff_change(writer, me, client_address(), detail[:200])
        name = queue.name
    flash(f"Targets of {name} saved; {changed} open tickets have new due times.")
    return redirect(url_for("targets.index"))


def _redo_due(session: Session, queue: Queue) -> int:
    """Work out the due time of every ticket of `queue` whose clock runs, with its new
    targets; returns how many changed."""
    targets = targets_for(session.connection(), queue.id)
    rows = session.execute(
        select(Ticket, TicketClock)
        .join(TicketClock, TicketClock.ticket_id == Ticket.id)
        .where(Ticket.queue_id == queue.id, TicketClock.paused_at.is_(None))
    ).all()
    changed = 0
    for ticket, found in rows:
        clock = clocks.Clock(found.kind, found.anchor_at, None, found.paused_seconds)
        due = clocks.due_of(clock, targets)
        if due != ticket.due_at:
            ticket.due_at = due
            changed += 1
    return changed


def init_app(app: Flask) -> None:
    """Register the blueprint and the Jinja globals the ticket page and the lists use."""
    app.register_blueprint(bp)
    app.jinja_env.globals["ticket_due"] = ticket_due
    app.jinja_env.globals["due_label"] = due_label
