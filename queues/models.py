"""The data model: queues, tickets, articles, attachments, inbound mail, outbox, rules, audit,
web sessions and login throttling.

SQLAlchemy 2.0 typed models. The schema is created only by the Alembic migrations in
`queues/migrations`; `Base.metadata` exists so those migrations and tests can compare
against it. All datetimes are stored and returned UTC-aware.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from queues.coltypes import UTCDateTime

# Stable constraint names so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Base]) -> Table:
    """A model's Table, typed as one (for Core statements on the hot paths)."""
    return cast(Table, model.__table__)


# A BIGINT primary key that is still SQLite's ROWID alias (autoincrementing).
BigID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class TicketState(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class Priority(enum.IntEnum):
    LOW = 1
    NORMAL = 3
    HIGH = 4
    URGENT = 5


class ArticleKind(enum.StrEnum):
    INCOMING = "incoming"  # mail from outside
    OUTGOING = "outgoing"  # a reply an agent sent
    AUTO = "auto"  # automatic mail we sent (acknowledgement)
    NOTE = "note"  # internal note, never mailed


class InboundState(enum.StrEnum):
    NEW = "new"  # stored, not yet processed
    DONE = "done"  # became (part of) a ticket
    DUPLICATE = "duplicate"  # same Message-ID and raw SHA-256 as one already processed
    IGNORED = "ignored"  # a routing rule said so
    FAILED = "failed"  # last attempt failed; will be retried
    QUARANTINED = "quarantined"  # failed ingest_max_attempts times; staff must look


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native ENUM type): adding a value needs no DDL.
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    """Agent roles, in rising order of what they may see (queues.access)."""

    VOLUNTEER = "volunteer"
    SPECIALIST = "specialist"
    STAFF = "staff"


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Restricted queues are invisible to volunteers (specialist-safety, police-liaison).
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The lowest role that may see the queue and its tickets (queues.access); `restricted`
    # stays true exactly when this is above volunteer (migration 0002, queues.seed).
    min_role: Mapped[Role] = mapped_column(
        _enum(Role), default=Role.VOLUNTEER, server_default=Role.VOLUNTEER.value
    )
    # What a follow-up to a closed ticket does: "reopen" it or start a "new" linked ticket.
    followup_closed: Mapped[str] = mapped_column(String(10), default="reopen")
    signature: Mapped[str] = mapped_column(Text, default="")
    sender_address: Mapped[str | None] = mapped_column(String(320))
    # Days a closed ticket is kept before the purge removes its content (0 = for ever);
    # None = the installation's setting for this queue (queues.liaison.retention).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A person who writes to us (requester); one row per address."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An agent account (volunteer, specialist or staff)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout-everywhere, password change and disabling: old sessions stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The agent's profile (migration 0012), shared by vetting and the rota: an IANA time
    # zone name, and the language tags the agent answers in (e.g. ["en", "de"]).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # The agent's day (migration 0010). The name that signs the agent's mail to requesters
    # ("" = the team's name, settings.organisation): a real name never leaves in mail. An
    # account whose password someone else set or saw (added, reset) must choose its own
    # at the next sign-in before anything else opens (webui.account).
    signature_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class Counter(Base):
    """Named monotonic counters (ticket numbers): one atomic UPDATE ... RETURNING each."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # Counts per state, who waits and since when (the overview; migration 0004).
        Index("ix_tickets_queue_state_waiting", "queue_id", "state", "waiting_since"),
        # The ticket lists (migration 0004, queues.ticketlist): one per sort key in a queue.
        Index("ix_tickets_queue_updated", "queue_id", "updated_at", "id"),
        Index("ix_tickets_queue_created", "queue_id", "created_at", "id"),
        Index("ix_tickets_queue_priority", "queue_id", "priority", "id"),
        Index("ix_tickets_queue_number", "queue_id", "number", "id"),
        Index("ix_tickets_queue_waiting", "queue_id", "waiting_since", "id"),
        Index("ix_tickets_queue_state_updated", "queue_id", "state", "updated_at", "id"),
        Index("ix_tickets_owner_updated", "owner_id", "updated_at", "id"),
        # Lists sorted and filtered by due time; a sender's tickets of the day (issue 13,
        # migration 0015: queues.targets, queues.abuse).
        Index("ix_tickets_queue_due", "queue_id", "due_at", "id"),
        Index("ix_tickets_requester_created", "requester_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    state: Mapped[TicketState] = mapped_column(_enum(TicketState), default=TicketState.NEW)
    priority: Mapped[int] = mapped_column(Integer, default=int(Priority.NORMAL))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # Safety triage reasons, e.g. ["threat of harm (en: 'kill you')"]; [] when none.
    triage_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    # Working a ticket (migration 0003). The owner is the agent responsible for it; the lock
    # is who is answering right now (a second agent is warned and cannot send over it).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locked_until: Mapped[datetime | None] = mapped_column()
    # State "pending" until this time, then it counts as open again.
    pending_until: Mapped[datetime | None] = mapped_column()
    # Since when the requester has been waiting for a human answer: set by the first
    # incoming article not yet answered, cleared by an agent's reply. None: nobody waits.
    waiting_since: Mapped[datetime | None] = mapped_column()
    # A ticket merged into another one keeps its row (its number still resolves) and points
    # at the ticket that now holds its articles.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )
    # When the queue's next response target falls due (migration 0015, queues.targets):
    # None while the clock is stopped (pending, closed) or the queue has no target.
    due_at: Mapped[datetime | None] = mapped_column()
    # The language the reporter reads (migration 0014, queues.reporter.language): the
    # form's choice or the one detected in the first message; None = not known (mail to
    # the reporter is then in English with the other languages below).
    language: Mapped[str | None] = mapped_column(String(8))

    queue: Mapped[Queue] = relationship(lazy="joined")
    requester: Mapped[Contact | None] = relationship(lazy="joined")
    articles: Mapped[list[Article]] = relationship(
        back_populates="ticket", order_by="Article.id", cascade="all, delete-orphan"
    )
    participants: Mapped[list[Participant]] = relationship(cascade="all, delete-orphan")
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket",
        order_by="TicketEvent.id",
        cascade="all, delete-orphan",
        foreign_keys="TicketEvent.ticket_id",
    )


class Participant(Base):
    """An address allowed to write into a ticket by subject tag alone (besides the requester)."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("ticket_id", "email"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="cc")


class TicketLink(Base):
    """A relation between two tickets, e.g. a stranger's mail that quoted another ticket."""

    __tablename__ = "ticket_links"
    __table_args__ = (UniqueConstraint("source_id", "target_id", "kind"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30), default="related")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMail(Base):
    """Raw mail as received, stored before anything else happens (the inbound backlog).

    The raw bytes are kept unchanged for evidence; `raw_sha256` was computed at acceptance.
    """

    __tablename__ = "inbound"
    __table_args__ = (
        Index("ix_inbound_state_next", "state", "next_attempt_at"),
        Index("ix_inbound_sha_msgid", "raw_sha256", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(200))  # "smtp", "lmtp", "imap:...", "file:..."
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(998))
    # "<sha256> <message-id>", set only on the row that was processed into a ticket, so a
    # second delivery of the same message fails this unique key even under concurrency.
    dedupe_key: Mapped[str | None] = mapped_column(String(1100), unique=True)
    state: Mapped[InboundState] = mapped_column(_enum(InboundState), default=InboundState.NEW)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not before this time: a retry's backoff, or the lease of a runner that claimed it
    # (a runner killed mid-message leaves the lease to expire, then another takes over).
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column()
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    article_id: Mapped[int | None] = mapped_column(BigInteger)
    # IMAP provenance (issue 3): the same (mailbox, uidvalidity, uid) is never imported twice.
    imap_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    # Sender authentication (issue 8, migration 0005): the client as the gateway saw it, and
    # the verdict of its checks or of our own Authentication-Results (queues.trust.verdict);
    # None for mail without an envelope (files, IMAP).
    client_ip: Mapped[str | None] = mapped_column(String(64))
    client_helo: Mapped[str | None] = mapped_column(String(255))
    auth: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Article(Base):
    """One message in a ticket's thread: incoming, outgoing, automatic or an internal note."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ArticleKind] = mapped_column(_enum(ArticleKind))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id", ondelete="SET NULL"))
    from_email: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    date: Mapped[datetime | None] = mapped_column()
    content_type: Mapped[str] = mapped_column(String(100), default="text/plain")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    defects: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Incoming mail (issue 8, migration 0005): the envelope sender as received (pages show it
    # when it differs from From) and the sender authentication verdict, "pass", "fail" or
    # "none", with its reasons in a line; None where there was no envelope to check.
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    auth_verdict: Mapped[str | None] = mapped_column(String(10))
    auth_summary: Mapped[str | None] = mapped_column(String(500))
    # Who wrote it, for answering, when From was empty or broken: the address and the field
    # it came from ("reply-to", "sender", "envelope", "from:2"...; mailgate.requester).
    requester_email: Mapped[str | None] = mapped_column(String(320))
    requester_source: Mapped[str | None] = mapped_column(String(20))

    ticket: Mapped[Ticket] = relationship(back_populates="articles")
    attachments: Mapped[list[Attachment]] = relationship(
        order_by="Attachment.id", cascade="all, delete-orphan"
    )


class Blob(Base):
    """Attachment content, stored once per SHA-256 whatever the number of messages carrying it."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    content_id: Mapped[str | None] = mapped_column(String(998))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketEvent(Base):
    """A ticket's history: what happened, by whom, why (routing hits, caps, reopenings)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320), default="system")
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    # The other ticket this row is about (a link, a merge, a quoted number), by id and never
    # by number in `detail`: a page names it only to those who may see it (migration 0006).
    ref_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))

    ticket: Mapped[Ticket] = relationship(back_populates="events", foreign_keys=[ticket_id])


class RoutingRule(Base):
    """An ordered rule: when `field` matches `pattern`, apply the actions; first match wins.

    field: "subject", "from", "to", "body", or "header:<Name>".
    match: "words" (all of the words, any order, whole words, case-insensitive),
           "contains" (substring, case-insensitive) or "regex" (Python syntax, time-limited).
    Actions (any combination): set_queue (slug), set_priority (1-5), flag, ignore.
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    field: Mapped[str] = mapped_column(String(200))
    match: Mapped[str] = mapped_column(String(10))
    pattern: Mapped[str] = mapped_column(Text)
    set_queue: Mapped[str | None] = mapped_column(String(64))
    set_priority: Mapped[int | None] = mapped_column(Integer)
    flag: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore: Mapped[bool] = mapped_column(Boolean, default=False)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A mail waiting to leave (the outbox backlog). Its Message-ID never changes on retry."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))  # "acknowledgement", "reply", ...
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    envelope_from: Mapped[str] = mapped_column(String(320), default="")  # "" = null path
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class ReplyTemplate(Base):
    """A reply template staff edit in the browser (rendered in a sandbox, queues.sandbox).

    `queue_id` None: offered in every queue. `subject` may be empty: the reply then keeps
    the ticket's subject (with its tag). Templates under templates/mail/ are trusted files;
    these rows are not, which is why they are rendered in the sandbox.
    """

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class AutoReplyLog(Base):
    """One row per automatic reply queued, for the per-sender and global daily caps."""

    __tablename__ = "autoreply_log"
    __table_args__ = (Index("ix_autoreply_log_email_at", "email", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEvent(Base):
    """Who did what to which ticket, when and from where. Never the content."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    client: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")


class WebSession(Base):
    """A signed-in web UI session, kept on the server so that it can be ended there.

    The browser holds a random token; only its SHA-256 is stored, so reading this table does
    not hand out live sessions. A session is dead when its row is gone (logout), when its
    `session_version` differs from the user's (password change, disabling), or when it
    has been idle or alive too long (webui.sessions).
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    client: Mapped[str | None] = mapped_column(String(100))


class LoginThrottle(Base):
    """Failed sign-ins per account or per client in the current window (webui.throttle).

    `key` is "account:<keyed hash of the address typed>" or "client:<address or network>",
    whether or not such an account exists, so throttling reveals nothing about accounts.
    Kept in the database so that every web process sees the same counts.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# Tables of capabilities that live in their own packages (the metadata must be complete).
import queues.abuse.models  # noqa: E402
import queues.liaison.models  # noqa: E402
import queues.liaison.retention_models  # noqa: E402
import queues.reporter.models  # noqa: E402
import queues.targets.models  # noqa: E402
import queues.team.models  # noqa: E402
import queues.team.rota_models  # noqa: E402
import queues.triage.feedback_models  # noqa: E402
import queues.triage.models  # noqa: E402
import queues.trust.models  # noqa: E402, F401
