"""The target clock of one ticket: which target runs, since when, how long it has stopped.

A new ticket's clock runs for the first-response target from its arrival. Each reply to the
reporter (an outgoing article) starts the update target afresh from the reply's time. The
clock stops while the ticket is pending (waiting for the reporter) or closed, and goes on
where it stopped when the ticket is open again: due = anchor + target + stopped time. So
a reporter who answers after three days gets the whole of what was left, not an overdue
ticket. Targets are calendar time; the queue's targets apply (queues.targets.policy), also
after a move to another queue.

The functions here are pure (a `Clock` in, a `Clock` out); `load`/`save` read and write the
`ticket_clocks` row with Core statements on the caller's connection, and `due_of` gives the
value for `tickets.due_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, select, update

from queues.models import Ticket, TicketState, table_of
from queues.targets.models import FIRST_RESPONSE, UPDATE, TicketClock
from queues.targets.policy import Targets

# The states in which the clock stands still.
STOPPED_STATES = frozenset({TicketState.PENDING, TicketState.CLOSED})


@dataclass(frozen=True)
class Clock:
    kind: str
    anchor_at: datetime
    paused_at: datetime | None = None
    paused_seconds: int = 0
    first_response_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.paused_at is None


def start(created_at: datetime, state: TicketState = TicketState.NEW) -> Clock:
    """A new ticket's clock: the first-response target from its arrival."""
    clock = Clock(FIRST_RESPONSE, created_at)
    return pause(clock, created_at) if state in STOPPED_STATES else clock


def pause(clock: Clock, at: datetime) -> Clock:
    """The ticket waits for the reporter (pending) or is closed: nothing is due."""
    if clock.paused_at is not None:
        return clock
    return replace(clock, paused_at=max(at, clock.anchor_at))


def resume(clock: Clock, at: datetime) -> Clock:
    """The ticket is open again: the stopped time is added to the due time."""
    if clock.paused_at is None:
        return clock
    stopped = max(0, int((at - clock.paused_at).total_seconds()))
    return replace(clock, paused_at=None, paused_seconds=clock.paused_seconds + stopped)


def answered(clock: Clock, at: datetime) -> Clock:
    """A reply reached the reporter: the update target starts again from now.

    A reply to a stopped ticket (pending or closed) starts a stopped period.
    """
    return Clock(
        UPDATE,
        at,
        paused_at=at if clock.paused_at is not None else None,
        first_response_at=clock.first_response_at or at,
    )


def follow_state(clock: Clock, state: TicketState, at: datetime) -> Clock:
    """The clock after the ticket's state became `state` at `at`."""
    return pause(clock, at) if state in STOPPED_STATES else resume(clock, at)


def due_of(clock: Clock, targets: Targets) -> datetime | None:
    """When the running target falls due; None while stopped or without a target."""
    span = targets.for_kind(clock.kind)
    if span is None or clock.paused_at is not None:
        return None
    return clock.anchor_at + span + timedelta(seconds=clock.paused_seconds)


def left_when_stopped(clock: Clock, targets: Targets) -> timedelta | None:
    """While stopped: how much of the target is left (it is there when the clock goes on)."""
    span = targets.for_kind(clock.kind)
    if span is None or clock.paused_at is None:
        return None
    return clock.anchor_at + span + timedelta(seconds=clock.paused_seconds) - clock.paused_at


# --- storage ---------------------------------------------------------------------------------

_C = table_of(TicketClock)
_T = table_of(Ticket)
_SELECT = select(
    _C.c.kind,
    _C.c.anchor_at,
    _C.c.paused_at,
    _C.c.paused_seconds,
    _C.c.first_response_at,
    _C.c.breached_at,
).where(_C.c.ticket_id == bindparam("tid"))
_INSERT = insert(_C)
_UPDATE = update(_C).where(_C.c.ticket_id == bindparam("tid"))
# A new due time is not an update of the ticket: `updated_at` keeps its value (its
# column's onupdate would otherwise set it to the present).
SET_DUE = (
    update(_T)
    .where(_T.c.id == bindparam("tid"))
    .values(due_at=bindparam("due"), updated_at=_T.c.updated_at)
)


def load(conn: Connection, ticket_id: int) -> Clock | None:
    row = conn.execute(_SELECT, {"tid": ticket_id}).first()
    if row is None:
        return None
    return Clock(
        row.kind,
        row.anchor_at,
        row.paused_at,
        row.paused_seconds or 0,
        row.first_response_at,
        row.breached_at,
    )


def _values(clock: Clock) -> dict[str, object]:
    return {
        "kind": clock.kind,
        "anchor_at": clock.anchor_at,
        "paused_at": clock.paused_at,
        "paused_seconds": clock.paused_seconds,
        "first_response_at": clock.first_response_at,
        "breached_at": clock.breached_at,
    }


def save(conn: Connection, ticket_id: int, clock: Clock, *, new: bool) -> None:
    if new:
        conn.execute(_INSERT, {"ticket_id": ticket_id, **_values(clock)})
    else:
        conn.execute(_UPDATE.values(**_values(clock)), {"tid": ticket_id})
