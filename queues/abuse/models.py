"""The tables of the abuse controls (issue 13, migration 0015).

- `sender_rules`: block, allow and abusive entries for an address or a whole domain, with a
  reason, an optional expiry, who added it and, once removed, who removed it (rows are kept:
  the list's history is the record).
- `abuse_actions`: one row per thing a control did to a message (held, ignored, capped,
  collapsed) and per staff decision on it (released, discarded, split out).
- `report_fingerprints`: the similarity key of each new report (64-bit simhash) and of each
  report collapsed into a flood, read back over a sliding window.
- `floods`: a ticket that near-identical reports from many senders were collapsed into,
  with their count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from queues.models import Base, BigID, utcnow

BLOCK, ALLOW, ABUSIVE = "block", "allow", "abusive"
RULE_KINDS = (BLOCK, ALLOW, ABUSIVE)
ADDRESS, DOMAIN = "address", "domain"

# What a control did to a message, and what staff decided about it.
HELD, IGNORED, CAPPED, COLLAPSED = "held", "ignored", "capped", "collapsed"
RELEASED, DISCARDED, SPLIT = "released", "discarded", "split"
# An action waits for staff ("open"), or was decided ("done").
OPEN, DONE = "open", "done"


class SenderRule(Base):
    """One entry of the block, allow or abusive list."""

    __tablename__ = "sender_rules"
    __table_args__ = (Index("ix_sender_rules_value", "value", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # BLOCK, ALLOW or ABUSIVE
    scope: Mapped[str] = mapped_column(String(10))  # ADDRESS or DOMAIN
    value: Mapped[str] = mapped_column(String(320))  # lower-cased address or domain
    reason: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    # The ticket an agent marked the sender abusive on.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_by: Mapped[str | None] = mapped_column(String(320))


class AbuseAction(Base):
    """What a control did to one message, or what staff decided about it."""

    __tablename__ = "abuse_actions"
    __table_args__ = (Index("ix_abuse_actions_state_at", "state", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default=DONE)
    actor: Mapped[str] = mapped_column(String(320), default="system")
    sender: Mapped[str] = mapped_column(String(320), default="")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id", ondelete="SET NULL"))
    # The ticket the message went into (capped, collapsed), or was split out into.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    article_id: Mapped[int | None] = mapped_column(BigInteger)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("sender_rules.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")
    # The action this one decided (a release of a hold, a split of a collapse).
    decides_id: Mapped[int | None] = mapped_column(BigInteger)


class ReportFingerprint(Base):
    """The similarity key of a new report, for finding floods of near-identical ones."""

    __tablename__ = "report_fingerprints"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    simhash: Mapped[int] = mapped_column(BigInteger)  # signed 64-bit


class Flood(Base):
    """A ticket that near-identical reports from many senders were collapsed into."""

    __tablename__ = "floods"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    reports: Mapped[int] = mapped_column(Integer, default=1)  # the ticket's own included
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
