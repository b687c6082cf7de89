"""The retention tables: legal holds on tickets and the tombstones purged tickets leave
(migration 0009; the per-queue period is `Queue.retention_days`).

A hold is a row, not a flag, so that who placed it, why and who released it stay on
record; a ticket is held while any of its holds is unreleased (queues.liaison.retention).
A tombstone keeps what a court or an auditor may ask about a purged ticket without its
content: the number, the dates, the queue, the SHA-256 of every raw message and attachment,
who purged it and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow


class LegalHold(Base):
    """A reason why a ticket must not be purged, from `placed_at` until it is released."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_ticket_released", "ticket_id", "released_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(320))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(320))
    released_at: Mapped[datetime | None] = mapped_column()
    release_reason: Mapped[str | None] = mapped_column(Text)


class TicketTombstone(Base):
    """What is left of a purged ticket: no subject, no addresses, no text; hashes only."""

    __tablename__ = "ticket_tombstones"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    queue: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    purged_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    purged_by: Mapped[str] = mapped_column(String(320))
    articles: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 (hex) of each raw message as received and of each attachment, in thread order.
    raw_sha256: Mapped[list[str]] = mapped_column(default=list)
    attachment_sha256: Mapped[list[str]] = mapped_column(default=list)
