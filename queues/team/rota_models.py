"""The rota's tables: shifts per queue, who signed up, swaps between agents, the occurrences
handed over by an approved swap, and the on-call alerts of tickets new in a watched queue
(migration 0013).

A shift is defined in wall-clock time of its own time zone: weekly (a weekday) or once (a
date), from `start` to `end` (an end at or before the start ends on the next day), and says
how many agents it needs. A sign-up holds an agent on a shift for a range of dates, as on
duty or as backup. An approved swap never edits sign-ups: it adds `ShiftCover` rows, one
per occurrence that changed hands, so the standing rota stays as agreed and the exception
is on record with the swap that made it (queues.team.rota).

An on-call alert is one entry of a ticket into a watched queue: `is_current` is true while
it is the ticket's present entry and NULL afterwards, so the unique key on (ticket,
is_current) lets at most one runner record an entry, on every backend (NULLs never clash).
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow

DUTY = "duty"  # a sign-up's role: counts as cover, told at once of a new ticket
BACKUP = "backup"  # told when nobody has taken a new ticket in time
ROLES = (DUTY, BACKUP)


class Shift(Base):
    """A recurring weekly shift or a one-off one in a queue, in a stated time zone."""

    __tablename__ = "rota_shifts"
    __table_args__ = (
        CheckConstraint("(weekday IS NULL) <> (on_date IS NULL)", name="weekly_or_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # Weekly: 0 = Monday ... 6 = Sunday (date.weekday()); once: the date it starts on.
    weekday: Mapped[int | None] = mapped_column(Integer)
    on_date: Mapped[date | None] = mapped_column()
    start: Mapped[time] = mapped_column()
    end: Mapped[time] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    needed: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ShiftSignup(Base):
    """An agent on a shift from `first_date` to `last_date` (None: until they leave)."""

    __tablename__ = "rota_signups"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(
        ForeignKey("rota_shifts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default=DUTY)
    first_date: Mapped[date] = mapped_column()
    last_date: Mapped[date | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShiftSwap(Base):
    """One agent asks another to take one occurrence of their shift, optionally in exchange
    for one of the other's; the other agrees, then staff approve (queues.team.rota)."""

    __tablename__ = "rota_swaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    signup_id: Mapped[int] = mapped_column(
        ForeignKey("rota_signups.id", ondelete="CASCADE"), index=True
    )
    on_date: Mapped[date] = mapped_column()
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    counter_signup_id: Mapped[int | None] = mapped_column(
        ForeignKey("rota_signups.id", ondelete="CASCADE")
    )
    counter_date: Mapped[date | None] = mapped_column()
    # asked -> agreed (the other agent) -> approved | declined (staff); or refused (the other
    # agent), withdrawn (the asker), void (an occurrence changed before approval).
    state: Mapped[str] = mapped_column(String(12), default="asked", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_note: Mapped[str] = mapped_column(Text, default="")


class ShiftCover(Base):
    """One occurrence of a shift handed from one agent to another by an approved swap."""

    __tablename__ = "rota_covers"
    __table_args__ = (UniqueConstraint("shift_id", "on_date", "out_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("rota_shifts.id", ondelete="CASCADE"))
    on_date: Mapped[date] = mapped_column()
    out_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    in_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10), default=DUTY)
    swap_id: Mapped[int | None] = mapped_column(ForeignKey("rota_swaps.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnCallAlert(Base):
    """One entry of a ticket into a watched queue and the notifications it has had."""

    __tablename__ = "oncall_alerts"
    __table_args__ = (
        UniqueConstraint("ticket_id", "is_current"),
        Index("ix_oncall_alerts_next_step_at", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    # When the ticket entered the queue (its creation there, or the latest move into it).
    entered_at: Mapped[datetime] = mapped_column()
    # True while this is the ticket's present entry; NULL once it left (see the docstring).
    is_current: Mapped[bool | None] = mapped_column(Boolean, default=True)
    notified_at: Mapped[datetime | None] = mapped_column()  # the first notice: on duty or staff
    steps: Mapped[int] = mapped_column(Integer, default=0)  # notices sent so far
    # When the next step (backup and staff) is due; NULL when no more are.
    next_step_at: Mapped[datetime | None] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()
    settled: Mapped[str] = mapped_column(String(200), default="")  # why no more are due
