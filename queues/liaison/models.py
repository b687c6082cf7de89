"""The police-liaison tables: partner forces and the countries they cover, each country's
policy, referral cases with their identifiers and approvals, referral templates, and the
disclosure register (migration 0008).

A case is a row here *and* a ticket in the police-liaison queue (`LiaisonCase.ticket_id`),
so that the partner's replies to the referral thread into it like any mail; the ticket the
request was made on (`source_ticket_id`) stays where it was.

Four eyes is also a property of the schema: `liaison_approvals` holds at most one
"approve" and one "confirm" per case, and at most one of either per person, so no race and
no bug in a page can let one person give both (queues.liaison.cases checks it first, with
reasons a person can read).
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from queues.models import Base, BigID, _enum, utcnow


class CaseState(enum.StrEnum):
    """Where a referral stands (queues.liaison.cases has the transitions)."""

    REQUESTED = "requested"  # filed by a specialist or staff member; nobody reviews it yet
    IN_REVIEW = "in-review"  # a staff member reviews it
    APPROVED = "approved"  # approved once; a second staff member must confirm
    CONFIRMED = "confirmed"  # approved twice; too large for mail, waits to be downloaded
    SENT = "sent"  # handed over (queued in the outbox, or downloaded)
    DECLINED = "declined"  # refused, with the reason the requester sees


class CountryBasis(enum.StrEnum):
    """Why we believe the harasser acts from a country."""

    IP = "ip"  # IP addresses looked up, confirmed by a person
    STATEMENT = "statement"  # the reporter says so
    OTHER = "other"  # anything else, explained in the note


class Urgency(enum.StrEnum):
    IMMINENT = "imminent"  # imminent danger to someone
    SERIOUS = "serious"
    OTHER = "other"


class Consent(enum.StrEnum):
    """The reporter's consent to the referral."""

    GIVEN = "given"
    NOT_ASKED = "not-asked"  # with a reason (e.g. no time: imminent danger)
    REFUSED = "refused"  # with the reason the referral goes ahead anyway


class PolicyKind(enum.StrEnum):
    """What the team does about referrals to a country."""

    PARTNER = "partner"  # referrals go to a partner force covering it
    NO_PARTNER = "no-partner"  # nobody to refer to (the default for a country never set)
    NEVER = "never"  # never refer: it would endanger the reporter or the writer


class IdentifierKind(enum.StrEnum):
    """What a harasser identifier is."""

    ACCOUNT = "account"  # an account name on a site
    PROFILE_URL = "profile-url"
    EMAIL = "email"
    IP = "ip"  # an IP address, with the time it was seen
    PHONE = "phone"
    OTHER = "other"


class ApprovalStep(enum.StrEnum):
    APPROVE = "approve"  # the reviewer's approval
    CONFIRM = "confirm"  # the second, different staff member's


class Partner(Base):
    """A partner police force: where referrals go and how victims can report directly."""

    __tablename__ = "liaison_partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    referral_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Where victims can report to this force themselves (named in the reporter's notice).
    report_url: Mapped[str] = mapped_column(Text, default="")
    # ASCII-armored OpenPGP public key; referrals are encrypted to it.
    public_key: Mapped[str] = mapped_column(Text, default="")
    key_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 639-1, preferred first
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")

    countries: Mapped[list[PartnerCountry]] = relationship(
        cascade="all, delete-orphan", order_by="PartnerCountry.country", lazy="selectin"
    )

    @property
    def country_codes(self) -> list[str]:
        return [c.country for c in self.countries]


class PartnerCountry(Base):
    """A country a partner force takes referrals for (ISO 3166-1 alpha-2)."""

    __tablename__ = "liaison_partner_countries"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("liaison_partners.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True, index=True)


class CountryPolicy(Base):
    """A country's policy; a country without a row has none (no partner)."""

    __tablename__ = "liaison_country_policies"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    policy: Mapped[PolicyKind] = mapped_column(_enum(PolicyKind))
    # Required for "never": the reason shown wherever a referral is refused.
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class LiaisonCase(Base):
    """A referral request and everything decided about it."""

    __tablename__ = "liaison_cases"
    __table_args__ = (Index("ix_liaison_cases_state_requested", "state", "requested_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # The case's own ticket in the police-liaison queue (threads the partner's replies).
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    # The ticket the request was made on (it stays in its queue).
    source_ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[CaseState] = mapped_column(_enum(CaseState), default=CaseState.REQUESTED)
    what_happened: Mapped[str] = mapped_column(Text, default="")
    # Where the harasser is believed to act from, and why (set by the requester or staff).
    country: Mapped[str | None] = mapped_column(String(2))
    country_basis: Mapped[CountryBasis | None] = mapped_column(_enum(CountryBasis))
    country_note: Mapped[str] = mapped_column(Text, default="")
    victim_country: Mapped[str | None] = mapped_column(String(2))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency), default=Urgency.OTHER)
    consent: Mapped[Consent] = mapped_column(_enum(Consent), default=Consent.NOT_ASKED)
    consent_reason: Mapped[str] = mapped_column(Text, default="")
    # Articles of the source ticket chosen as evidence (their raw mail goes in the package).
    evidence_article_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("liaison_partners.id", ondelete="SET NULL")
    )
    # The reporter is told of the referral unless staff record why not.
    notify_reporter: Mapped[bool] = mapped_column(Boolean, default=True)
    no_notice_reason: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_started_at: Mapped[datetime | None] = mapped_column()
    declined_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declined_at: Mapped[datetime | None] = mapped_column()
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[str | None] = mapped_column(String(10))  # "mail" or "download"
    sent_at: Mapped[datetime | None] = mapped_column()
    referral_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    notice_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identifiers: Mapped[list[CaseIdentifier]] = relationship(
        cascade="all, delete-orphan", order_by="CaseIdentifier.id", lazy="selectin"
    )
    approvals: Mapped[list[Approval]] = relationship(
        cascade="all, delete-orphan", order_by="Approval.id", lazy="selectin"
    )


class CaseIdentifier(Base):
    """One identifier of the harasser: an account, a profile URL, an address, an IP..."""

    __tablename__ = "liaison_identifiers"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("liaison_cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IdentifierKind] = mapped_column(_enum(IdentifierKind))
    value: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime | None] = mapped_column()  # for IP addresses: when it was used
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(320), default="")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Approval(Base):
    """One of the two approvals a referral needs (four eyes, enforced by the keys)."""

    __tablename__ = "liaison_approvals"
    __table_args__ = (
        UniqueConstraint("case_id", "user_id", name="uq_liaison_approvals_case_user"),
        UniqueConstraint("case_id", "step", name="uq_liaison_approvals_case_step"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("liaison_cases.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user_email: Mapped[str] = mapped_column(String(320))
    step: Mapped[ApprovalStep] = mapped_column(_enum(ApprovalStep))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralTemplate(Base):
    """The referral mail in one language (staff-edited; rendered in the sandbox)."""

    __tablename__ = "liaison_referral_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(16), unique=True)  # ISO 639-1
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class Disclosure(Base):
    """One hand-over of personal data to a third party: the team's register.

    Kept as text (numbers, names, addresses as they were), so that the register still
    says what happened after a partner is renamed or a ticket is purged.
    """

    __tablename__ = "liaison_disclosures"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("liaison_cases.id", ondelete="SET NULL"), index=True
    )
    case_number: Mapped[str] = mapped_column(String(32), default="")
    source_number: Mapped[str] = mapped_column(String(32), default="")
    what: Mapped[str] = mapped_column(Text)  # e.g. "evidence package: 3 messages, 2 files"
    recipient: Mapped[str] = mapped_column(Text)  # the partner's name
    recipient_address: Mapped[str] = mapped_column(Text, default="")
    basis: Mapped[str] = mapped_column(Text)  # why it was lawful and right
    approved_by: Mapped[str] = mapped_column(Text)  # "a@example.org, b@example.org"
    handed_over_by: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(20))  # "mail" or "download"
    package_sha256: Mapped[str] = mapped_column(String(64), default="")
    package_size: Mapped[int] = mapped_column(BigInteger, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)  # messages handed over
