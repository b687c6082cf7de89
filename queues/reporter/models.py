"""The reporter's tables (issue 13, migration 0014).

- `ack_templates`: an acknowledgement staff wrote for one queue in one language (rendered in
  the sandbox, queues.sandbox); without a row the shipped file is used
  (templates/mail/acknowledgement/<queue-slug>/, else templates/mail/acknowledgement/).
- `status_tokens`: the status links' tokens (queues.reporter.statuslink), stored hashed.
- `status_mail`: per ticket, what the reporter was last told (a snapshot of the ticket as
  they know it) and every status mail sent or held back, for "once per change" and the
  daily cap (queues.reporter.status); rows with outcome "due" mark a ticket to look at.
- `form_posts`: one row per public form post per client, for the per-client limits
  (queues.reporter.limits); old rows are pruned as new ones come.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow


class AckTemplate(Base):
    """A queue's acknowledgement in one language, as staff wrote it (untrusted text)."""

    __tablename__ = "ack_templates"
    __table_args__ = (UniqueConstraint("queue_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class StatusToken(Base):
    """One status link handed out with one mail to the reporter; only its SHA-256 is kept."""

    __tablename__ = "status_tokens"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(320))


class StatusMail(Base):
    """The reporter's view of a ticket, and each status mail (queues.reporter.status).

    outcome: "start" (the ticket as its acknowledgement described it), "due" (the ticket
    changed: look at it), "seen" (a change with nothing to tell, e.g. reopened), "sent"
    (a status mail is in the outbox), "held" (one was due but not sent: `detail` says why).
    Every row but "due" carries the snapshot: state, owned, specialists.
    """

    __tablename__ = "status_mail"
    __table_args__ = (
        Index("ix_status_mail_ticket_id", "ticket_id", "id"),
        Index("ix_status_mail_outcome_at", "outcome", "at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(10))
    change: Mapped[str] = mapped_column(String(20), default="")
    state: Mapped[str] = mapped_column(String(20), default="")
    owned: Mapped[bool] = mapped_column(Boolean, default=False)
    specialists: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(Text, default="")


class FormPost(Base):
    """A post to a public form (the report form, a status page's message, a new link)."""

    __tablename__ = "form_posts"
    __table_args__ = (Index("ix_form_posts_client_kind_at", "client", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    client: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
