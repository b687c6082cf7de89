"""Ticket lists: filters, sorting and keyset pagination that stay fast at any depth.

A list is `visible_tickets(user)` narrowed by a queue or an owner, then by filters (state,
priority, owner, flagged), sorted by one key with the id as tie-breaker. Pages are found
by seeking (keyset pagination): "the 50 rows after this (value, id)", served by the
indexes of migration 0004 ("queue_id, key, id"), so page 2,000 costs what page 1 does.
The cursor names the last (or first) row of the page in view, never an offset.

`waiting_since` may be empty (nobody waits). Rows without a value always come last, in
both directions, so a list sorted by "waiting" starts with the longest wait: the rows
are read as two segments, those with a value (ordered by value, id) then those without
(ordered by id), each seek served by an index.

Counts are capped (MAX_COUNT): "more than 10,000" needs no full scan.

Due (issue 13, queues.targets): `due_at` sorts like `waiting_since` (soonest first, tickets
with nothing due last), and the due filter keeps the overdue tickets, those due within an
hour or a day, or those with nothing due (pending, closed, or no target), at `now`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from queues.access import visible_tickets
from queues.models import Ticket, TicketState, User, utcnow

PAGE_SIZE = 50
MAX_COUNT = 10_000
ACTIVE_STATES = (TicketState.NEW, TicketState.OPEN, TicketState.PENDING)


class SortKey(enum.StrEnum):
    UPDATED = "updated"
    CREATED = "created"
    PRIORITY = "priority"
    NUMBER = "number"
    WAITING = "waiting"
    DUE = "due"


_COLUMNS: dict[SortKey, Any] = {
    SortKey.UPDATED: Ticket.updated_at,
    SortKey.CREATED: Ticket.created_at,
    SortKey.PRIORITY: Ticket.priority,
    SortKey.NUMBER: Ticket.number,
    SortKey.WAITING: Ticket.waiting_since,
    SortKey.DUE: Ticket.due_at,
}
NULLABLE = frozenset({SortKey.WAITING, SortKey.DUE})
# What a click on a column header shows first: newest, highest, longest waiting.
DEFAULT_DESCENDING: dict[SortKey, bool] = {
    SortKey.UPDATED: True,
    SortKey.CREATED: True,
    SortKey.PRIORITY: True,
    SortKey.NUMBER: True,
    SortKey.WAITING: False,
    SortKey.DUE: False,
}


class StateFilter(enum.StrEnum):
    ACTIVE = "active"  # everything but closed
    ANY = "any"
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class DueFilter(enum.StrEnum):
    ANY = "any"
    OVERDUE = "overdue"  # past its response target
    HOUR = "hour"  # overdue or due within an hour
    DAY = "day"  # overdue or due within a day
    NONE = "none"  # nothing due: pending, closed, or a queue without targets


DUE_WITHIN = {DueFilter.OVERDUE: timedelta(0), DueFilter.HOUR: timedelta(hours=1)}
DUE_WITHIN[DueFilter.DAY] = timedelta(days=1)


class OwnerFilter(enum.StrEnum):
    ANY = "any"
    ME = "me"
    NOBODY = "nobody"
    USER = "user"  # ListFilter.owner_id


@dataclass(frozen=True)
class ListFilter:
    state: StateFilter = StateFilter.ACTIVE
    priority: int | None = None
    owner: OwnerFilter = OwnerFilter.ANY
    owner_id: int | None = None
    flagged: bool | None = None
    due: DueFilter = DueFilter.ANY


@dataclass(frozen=True)
class Sort:
    key: SortKey = SortKey.UPDATED
    descending: bool = True


@dataclass(frozen=True)
class Cursor:
    """A row's place in the order: its segment ("v" has a value, "n" none), value and id."""

    segment: str
    value: Any
    id: int

    def encode(self) -> str:
        if self.segment == "n" or self.value is None:
            return f"n~~{self.id}"
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        return f"v~{value}~{self.id}"

    @classmethod
    def decode(cls, text: str | None, key: SortKey) -> Cursor | None:
        """The cursor in `text`, or None when it is missing or malformed (first page)."""
        if not text or len(text) > 200:
            return None
        segment, sep, rest = text.partition("~")
        raw, sep2, id_text = rest.rpartition("~")
        if not sep or not sep2 or segment not in ("v", "n") or not id_text.isdigit():
            return None
        if segment == "n":
            return cls("n", None, int(id_text)) if key in NULLABLE else None
        try:
            value = _parse_value(key, raw)
        except ValueError:
            return None
        return cls("v", value, int(id_text))


def _parse_value(key: SortKey, raw: str) -> Any:
    if key in (SortKey.UPDATED, SortKey.CREATED, SortKey.WAITING, SortKey.DUE):
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in a cursor")
        return parsed
    if key is SortKey.PRIORITY:
        return int(raw)
    if len(raw) > 32:
        raise ValueError("not a ticket number")
    return raw


@dataclass
class Page:
    tickets: list[Ticket]
    total: int  # at most MAX_COUNT
    capped: bool  # there are more than MAX_COUNT
    next_cursor: str | None = None  # ?after=
    prev_cursor: str | None = None  # ?before=
    owner_ids: set[int] = field(default_factory=set)


def base_query(
    user: User, *, queue_id: int | None = None, owner_id: int | None = None
) -> Select[Ticket]:
    """The visible tickets of one queue, or owned by one user, or all visible ones."""
    stmt = visible_tickets(user)
    if queue_id is not None:
        stmt = stmt.where(Ticket.queue_id == queue_id)
    if owner_id is not None:
        stmt = stmt.where(Ticket.owner_id == owner_id)
    return stmt


def apply_filter(
    stmt: Select[Ticket], flt: ListFilter, me: User, now: datetime | None = None
) -> Select[Ticket]:
    if flt.state is StateFilter.ACTIVE:
        # IN rather than != closed: the indexes can seek to each state.
        stmt = stmt.where(Ticket.state.in_(ACTIVE_STATES))
    elif flt.state is not StateFilter.ANY:
        stmt = stmt.where(Ticket.state == TicketState(flt.state.value))
    if flt.priority is not None:
        stmt = stmt.where(Ticket.priority == flt.priority)
    if flt.owner is OwnerFilter.ME:
        stmt = stmt.where(Ticket.owner_id == me.id)
    elif flt.owner is OwnerFilter.NOBODY:
        stmt = stmt.where(Ticket.owner_id.is_(None))
    elif flt.owner is OwnerFilter.USER and flt.owner_id is not None:
        stmt = stmt.where(Ticket.owner_id == flt.owner_id)
    if flt.flagged is not None:
        stmt = stmt.where(Ticket.flagged.is_(flt.flagged))
    if flt.due is DueFilter.NONE:
        stmt = stmt.where(Ticket.due_at.is_(None))
    elif flt.due in DUE_WITHIN:
        stmt = stmt.where(Ticket.due_at <= (now or utcnow()) + DUE_WITHIN[flt.due])
    return stmt


def count(session: Session, stmt: Select[Ticket]) -> tuple[int, bool]:
    """How many rows `stmt` has, counting no further than MAX_COUNT + 1."""
    limited = stmt.with_only_columns(Ticket.id).order_by(None).limit(MAX_COUNT + 1).subquery()
    n = session.scalar(select(func.count()).select_from(limited)) or 0
    return min(n, MAX_COUNT), n > MAX_COUNT


def _cursor_of(ticket: Ticket, key: SortKey) -> Cursor:
    value = getattr(ticket, _COLUMNS[key].key)
    return Cursor("n" if value is None else "v", value, ticket.id)


def _segment(
    session: Session,
    stmt: Select[Ticket],
    key: SortKey,
    segment: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[Ticket]:
    """Up to `limit` rows of one segment in the given direction, after `after` if given."""
    col = _COLUMNS[key]
    if segment == "n":
        stmt = stmt.where(col.is_(None))
        keys: list[Any] = [Ticket.id]
        if after is not None:
            cond = Ticket.id < after.id if descending else Ticket.id > after.id
            stmt = stmt.where(cond)
    else:
        if key in NULLABLE:
            stmt = stmt.where(col.is_not(None))
        keys = [col, Ticket.id]
        if after is not None:
            row = tuple_(col, Ticket.id)
            mark = tuple_(_bind(col, after.value), _bind(Ticket.id, after.id))
            stmt = stmt.where(row < mark if descending else row > mark)
    order = [k.desc() for k in keys] if descending else [k.asc() for k in keys]
    return list(session.scalars(stmt.order_by(*order).limit(limit)).unique())


def _bind(col: Any, value: Any) -> ColumnElement[Any]:
    return literal(value, type_=col.type)


def _walk(
    session: Session,
    stmt: Select[Ticket],
    sort: Sort,
    start: Cursor | None,
    forward: bool,
    limit: int,
) -> list[Ticket]:
    """Up to `limit` rows from `start` (exclusive) in display order, or against it."""
    # Display order: segment "v" in the sort's direction, then segment "n" (nulls last).
    segments = ["v", "n"] if sort.key in NULLABLE else ["v"]
    descending = sort.descending if forward else not sort.descending
    if not forward:
        segments.reverse()
    if start is not None:
        segments = segments[segments.index(start.segment) :]
    rows: list[Ticket] = []
    for i, segment in enumerate(segments):
        after = start if (start is not None and i == 0) else None
        # The "n" segment is ordered by id in the sort's direction as well.
        rows += _segment(session, stmt, sort.key, segment, descending, after, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def list_page(
    session: Session,
    stmt: Select[Ticket],
    sort: Sort,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    last: bool = False,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of `stmt` in `sort` order: the first, the one after/before a cursor, the last."""
    total, capped = count(session, stmt)
    if before is not None or last:
        rows = _walk(session, stmt, sort, before, forward=False, limit=size + 1)
        if len(rows) > size:
            page = _page(
                rows[:size][::-1],
                total,
                capped,
                sort,
                more_before=True,
                more_after=before is not None,
            )
            return page
        after = None  # going back reached the start: that is the first page
    rows = _walk(session, stmt, sort, after, forward=True, limit=size + 1)
    return _page(
        rows[:size], total, capped, sort, more_before=after is not None, more_after=len(rows) > size
    )


def _page(
    rows: list[Ticket],
    total: int,
    capped: bool,
    sort: Sort,
    *,
    more_before: bool,
    more_after: bool,
) -> Page:
    page = Page(rows, total, capped)
    if rows and more_after:
        page.next_cursor = _cursor_of(rows[-1], sort.key).encode()
    if rows and more_before:
        page.prev_cursor = _cursor_of(rows[0], sort.key).encode()
    page.owner_ids = {t.owner_id for t in rows if t.owner_id is not None}
    return page
