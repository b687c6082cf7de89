"""The team's tables (migration 0012): applications and the texts applicants accept, agent
profiles (who vetted them, mentor, probation), set-password links, the training checklist,
replies held for a mentor, two-factor credentials and recovery codes, and departures.

An application is not an account: approving one creates the `users` row and its profile.
Secrets are never stored as they are: set-password tokens and recovery codes by their
SHA-256, TOTP secrets encrypted (queues.team.twofactor).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, _enum, utcnow


class TextKind(enum.StrEnum):
    """The texts an applicant must accept; staff edit them, each edit is a new version."""

    PLEDGE = "pledge"  # the confidentiality pledge
    CONDUCT = "conduct"  # the code of conduct


class ApplicationState(enum.StrEnum):
    WAITING = "waiting"  # nobody has decided yet
    APPROVED = "approved"  # an account was made (`Application.user_id`)
    DECLINED = "declined"  # with the reason staff gave (never mailed)


class HeldState(enum.StrEnum):
    """Where a probationary agent's reply stands (queues.team.probation)."""

    WAITING = "waiting"  # waits for the mentor; never in the outbox
    APPROVED = "approved"  # sent as the agent wrote it
    EDITED = "edited"  # the mentor changed it, then sent it
    RETURNED = "returned"  # sent back to the agent with a comment; never sent
    WITHDRAWN = "withdrawn"  # the agent left before anyone decided; never sent


class DepartureKind(enum.StrEnum):
    SUSPENDED = "suspended"  # may be enabled again
    REMOVED = "removed"  # for good: credentials wiped, never enabled again


class TeamText(Base):
    """One version of the pledge or the code of conduct; the newest is the one shown."""

    __tablename__ = "team_texts"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TextKind] = mapped_column(_enum(TextKind))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class Application(Base):
    """Someone's application to volunteer, from the public page /apply."""

    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_email_created", "email", "created_at"),
        Index("ix_applications_client_created", "client_key", "created_at"),
        Index("ix_applications_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    hours: Mapped[str] = mapped_column(Text, default="")
    experience: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")
    # The versions of the texts the applicant accepted (TeamText.version).
    pledge_version: Mapped[int] = mapped_column(Integer)
    conduct_version: Mapped[int] = mapped_column(Integer)
    # A keyed hash of the client's address (the web edge makes it), for the per-client
    # limit: the address itself is not kept.
    client_key: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[ApplicationState] = mapped_column(
        _enum(ApplicationState), default=ApplicationState.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why declined (staff only)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AgentProfile(Base):
    """What the team knows about an account beyond signing in: vetting, mentor, probation."""

    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Who vetted the agent: a staff member's address, or "command:<os user>" with the name
    # given to `switchboard user add --vetted-by`.
    vetted_by: Mapped[str] = mapped_column(String(320), default="")
    vetted_at: Mapped[datetime | None] = mapped_column()
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="SET NULL")
    )
    mentor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    on_probation: Mapped[bool] = mapped_column(Boolean, default=False)
    probation_started_at: Mapped[datetime | None] = mapped_column()
    probation_ended_at: Mapped[datetime | None] = mapped_column()
    probation_ended_by: Mapped[str] = mapped_column(String(320), default="")
    # Staff require a second factor of this agent although their role does not need one.
    twofactor_required: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class SetPasswordToken(Base):
    """A single-use link to set one's password (an approved application); only its hash."""

    __tablename__ = "set_password_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class ChecklistItem(Base):
    """One step of the training checklist ("read the guidance", "shadowed 5 tickets")."""

    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Retired items stay for the record of who did them but no longer count as open.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class ChecklistTick(Base):
    """An agent has done a checklist item, confirmed by their mentor or staff."""

    __tablename__ = "checklist_ticks"
    __table_args__ = (UniqueConstraint("user_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_items.id", ondelete="CASCADE"))
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_by: Mapped[str] = mapped_column(String(320), default="")


class HeldReply(Base):
    """A probationary agent's reply, waiting for the mentor instead of the outbox.

    It keeps what the agent typed (the reply form's fields, checked when it was held) and
    is sent with `queues.replies.send_reply` only when the mentor approves it.
    """

    __tablename__ = "held_replies"
    __table_args__ = (
        Index("ix_held_replies_mentor_state", "mentor_id", "state"),
        Index("ix_held_replies_author_state", "author_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[HeldState] = mapped_column(_enum(HeldState), default=HeldState.WAITING)
    body: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    to: Mapped[str] = mapped_column(Text, default="")
    cc: Mapped[str] = mapped_column(Text, default="")
    answer_to_id: Mapped[int | None] = mapped_column(BigInteger)
    # The ticket state the agent chose with the reply (None: the usual), and its date.
    ticket_state: Mapped[str | None] = mapped_column(String(20))
    pending_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    comment: Mapped[str] = mapped_column(Text, default="")  # the mentor's, when returned
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))


class TotpCredential(Base):
    """An agent's TOTP secret (RFC 6238), encrypted; unconfirmed until a first good code."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + AES-GCM ciphertext
    confirmed_at: Mapped[datetime | None] = mapped_column()
    # The last time step a code was accepted for: a code works once (RFC 6238 section 5.2).
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code, by its SHA-256 (random codes: a fast hash is enough)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


class Departure(Base):
    """An agent suspended or removed: why, by whom, and what was handed back."""

    __tablename__ = "departures"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DepartureKind] = mapped_column(_enum(DepartureKind))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(320))
    tickets_returned: Mapped[int] = mapped_column(Integer, default=0)
    locks_released: Mapped[int] = mapped_column(Integer, default=0)
    replies_withdrawn: Mapped[int] = mapped_column(Integer, default=0)
