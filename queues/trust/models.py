"""The tables of mail trust: reply tokens (migration 0005)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow


class ReplyToken(Base):
    """A reply address handed out with one outgoing mail of a ticket (queues.trust.replytokens).

    Only the SHA-256 of the token is kept, so reading this table does not let anyone write
    into a ticket. `message_id` is the outgoing mail's Message-ID: revoking the ticket's
    tokens also stops replies that quote that mail's Message-ID from being trusted by
    themselves.
    """

    __tablename__ = "reply_tokens"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(320))
