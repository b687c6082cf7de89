"""The tables of response targets (issue 13, migration 0015).

- `queue_targets`: what staff set for a queue (minutes; None = no such target). A queue
  without a row keeps the defaults of queues/targets/defaults.toml.
- `ticket_clocks`: one row per ticket: which target runs (first response, then update after
  each reply), since when, how long it has been stopped (pending, closed), and whether its
  breach was recorded (once per breach). The due time itself is `tickets.due_at`, so lists
  sort and filter by it with an index.
- `target_breaches`: one row per breach, for the dashboard.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow

FIRST_RESPONSE = "first-response"
UPDATE = "update"
KINDS = (FIRST_RESPONSE, UPDATE)


class QueueTarget(Base):
    """A queue's targets as staff set them (calendar minutes; None: no such target)."""

    __tablename__ = "queue_targets"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    update_minutes: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class TicketClock(Base):
    """The target clock of one ticket.

    Due = `anchor_at` + the queue's target for `kind` + `paused_seconds`; while `paused_at`
    is set (the ticket is pending or closed) nothing is due.
    """

    __tablename__ = "ticket_clocks"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), default=FIRST_RESPONSE)
    anchor_at: Mapped[datetime] = mapped_column()
    paused_at: Mapped[datetime | None] = mapped_column()
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    first_response_at: Mapped[datetime | None] = mapped_column()
    breached_at: Mapped[datetime | None] = mapped_column()


class TargetBreach(Base):
    """A target that passed unanswered: counted on the dashboard."""

    __tablename__ = "target_breaches"
    __table_args__ = (Index("ix_target_breaches_queue_at", "queue_id", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)


# Every session keeps the clocks in step with ticket changes (queues.targets.tracking).
import queues.targets.tracking  # noqa: E402, F401
