"""The triage feedback table: what people said triage got wrong (issue 9, migration 0011).

One row per event:

- kind "miss": an agent escalated a ticket from a queue volunteers see to specialist-safety
  (triage should have sent it there);
- kind "false-alarm": a ticket left a restricted queue for one more people may see, with a
  reason (triage, the safety address or an escalation sent it too far).

Each row keeps what the live figures count by (queues.triage.feedback): when, the queues
from and to, the report's language and the risk categories, and what had put the ticket in
the restricted queue (`source`). `reason` is the agent's own words: ticket content for the
need-to-know rules (shown only with the ticket), never copied into the audit log. The rows
go with their ticket (a purged ticket takes its feedback with it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow

MISS = "miss"
FALSE_ALARM = "false-alarm"
KINDS = (MISS, FALSE_ALARM)

# Why a ticket was in the restricted queue when it was moved back (a false alarm's source).
SOURCES = ("triage", "safety-address", "escalation", "other")


class TriageFeedback(Base):
    """One escalation (a triage miss) or one move back to a wider queue (a false alarm)."""

    __tablename__ = "triage_feedback"
    __table_args__ = (
        Index("ix_triage_feedback_kind_at", "kind", "at"),
        Index("ix_triage_feedback_actor_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # MISS or FALSE_ALARM
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))  # the agent's address, kept if they go
    reason: Mapped[str] = mapped_column(Text, default="")
    from_queue: Mapped[str] = mapped_column(String(64))
    to_queue: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="")  # "" when unknown
    categories: Mapped[list[str]] = mapped_column(default=list)
    # What had put the ticket in the restricted queue (SOURCES); "" for a miss.
    source: Mapped[str] = mapped_column(String(20), default="")
