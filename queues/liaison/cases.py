"""Referral cases: the request, the review, four eyes, the decline, and what the source
ticket shows.

    requested --start_review--> in-review --approve (staff A)--> approved
    approved --confirm (staff B)--> sent            (the referral leaves through the outbox)
                                 \\-> confirmed      (too large to mail: waits for download)
    requested / in-review / approved / confirmed --decline (reason)--> declined

- A specialist or staff member files the request on a ticket they can see (volunteers
  escalate to specialists instead). It creates a ticket in the police-liaison queue (so
  the partner's replies thread into it) linked to the source ticket, which stays where it
  is, and the case row with the structured request. Both tickets go on legal hold.
- Staff review: record the country and its basis (a geo lookup only suggests), the
  identifiers, the partner, the evidence, whether the reporter is told. The details are
  frozen once approved, so the second person confirms exactly what the first approved.
- Four eyes: the approver and the confirmer are two different staff members, neither of
  them the requester (checked here with reasons, and by the unique keys of
  `liaison_approvals`). The web asks for the password again at both steps (webui.reauth).
- Every step refuses a "never" country, an inactive partner or one without a usable key
  (queues.liaison.checks), writes the case ticket's history and the audit log; the source
  ticket's history gets a line too, naming the case ticket only by id (pages name it to
  those who may see it).

Every service takes the session first and works inside the caller's transaction, after
re-reading the case under its row lock (`lock_case`). Bad input or a refused step raises
`LiaisonError` (a ValueError) whose message can be shown as it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queues.access import can_see_queue, role_at_least
from queues.audit import AuditAction, record
from queues.liaison.checks import ReferralRefused, refuse_never, require_referable
from queues.liaison.countries import CountryError, country_name, parse_country
from queues.liaison.models import (
    Approval,
    ApprovalStep,
    CaseIdentifier,
    CaseState,
    Consent,
    CountryBasis,
    IdentifierKind,
    LiaisonCase,
    Partner,
    Urgency,
)
from queues.models import (
    Article,
    ArticleKind,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    User,
)
from queues.numbers import allocate_number, clean_subject
from queues.settings import Settings

LIAISON_QUEUE = "police-liaison"
LINK_KIND = "liaison-case"
MAX_TEXT = 50_000
MAX_REASON = 5_000
MAX_IDENTIFIERS = 100
MAX_IDENTIFIER = 2_000
HOLD_REASON = "police liaison case"
# Details may change only while nobody has approved yet.
EDITABLE = (CaseState.REQUESTED, CaseState.IN_REVIEW)
OPEN_STATES = (CaseState.REQUESTED, CaseState.IN_REVIEW, CaseState.APPROVED, CaseState.CONFIRMED)
URGENCY_PRIORITY = {
    Urgency.IMMINENT: int(Priority.URGENT),
    Urgency.SERIOUS: int(Priority.HIGH),
    Urgency.OTHER: int(Priority.NORMAL),
}
URGENCY_LABELS = {
    Urgency.IMMINENT: "imminent danger",
    Urgency.SERIOUS: "serious",
    Urgency.OTHER: "other",
}
CONSENT_LABELS = {
    Consent.GIVEN: "given",
    Consent.NOT_ASKED: "not asked",
    Consent.REFUSED: "refused",
}
BASIS_LABELS = {
    CountryBasis.IP: "IP evidence",
    CountryBasis.STATEMENT: "the reporter's statement",
    CountryBasis.OTHER: "other",
}
IDENTIFIER_LABELS = {
    IdentifierKind.ACCOUNT: "account name",
    IdentifierKind.PROFILE_URL: "profile URL",
    IdentifierKind.EMAIL: "email address",
    IdentifierKind.IP: "IP address",
    IdentifierKind.PHONE: "phone number",
    IdentifierKind.OTHER: "other",
}
# What the source ticket's page says (to whoever may see that ticket).
STATUS_LABELS = {
    CaseState.REQUESTED: "requested",
    CaseState.IN_REVIEW: "in review",
    CaseState.APPROVED: "in review",
    CaseState.CONFIRMED: "in review",
    CaseState.SENT: "sent",
    CaseState.DECLINED: "declined",
}


_E = TypeVar("_E", Urgency, Consent, CountryBasis, IdentifierKind)


class LiaisonError(ValueError):
    """A request or step that cannot be made; the message is meant for the person."""


@dataclass
class IdentifierInput:
    kind: str
    value: str
    seen_at: datetime | None = None
    note: str = ""


@dataclass
class RequestInput:
    """What the "Report to police" form holds."""

    what_happened: str
    article_ids: Sequence[int]
    urgency: str
    consent: str
    consent_reason: str = ""
    country: str = ""  # "" = not known yet (staff record it in review)
    country_basis: str = ""
    country_note: str = ""
    victim_country: str = ""
    identifiers: list[IdentifierInput] = field(default_factory=list)


# --- helpers ---------------------------------------------------------------------------------


def _text(value: str, what: str, limit: int, *, required: bool = False) -> str:
    text = value.replace("\r\n", "\n").replace("\0", "").strip()
    if required and not text:
        raise LiaisonError(f"{what}: please fill this in.")
    if len(text) > limit:
        raise LiaisonError(f"{what} can have at most {limit:,} characters.")
    return text


def _choice(kind: type[_E], value: str, what: str) -> _E:
    try:
        return kind(value.strip())
    except ValueError:
        raise LiaisonError(f"Choose {what}.") from None


def _country(value: str, what: str) -> str | None:
    if not value.strip():
        return None
    try:
        return parse_country(value)
    except CountryError as exc:
        raise LiaisonError(f"{what}: {exc}") from None


def _event(
    session: Session,
    ticket_id: int,
    actor: str,
    kind: str,
    detail: str,
    now: datetime,
    ref_ticket_id: int | None = None,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket_id,
            at=now,
            actor=actor,
            kind=kind,
            detail=detail[:2000],
            ref_ticket_id=ref_ticket_id,
        )
    )


def case_ticket(session: Session, case: LiaisonCase) -> Ticket:
    return session.get_one(Ticket, case.ticket_id)


def source_ticket(session: Session, case: LiaisonCase) -> Ticket | None:
    return session.get(Ticket, case.source_ticket_id) if case.source_ticket_id else None


def step(
    session: Session,
    case: LiaisonCase,
    user: User,
    kind: str,
    detail: str,
    now: datetime,
    client: str | None,
    *,
    source_detail: str | None = None,
) -> None:
    """One step on record: the case ticket's history and audit log (and the source's)."""
    ticket = case_ticket(session, case)
    source = source_ticket(session, case)
    _event(session, ticket.id, user.email, kind, detail, now, source.id if source else None)
    ticket.updated_at = now
    record(session, user, AuditAction.CHANGE, ticket, client, f"liaison case {case.id}: {kind}")
    if source is not None and source_detail is not None:
        _event(session, source.id, user.email, kind, source_detail, now, ticket.id)
        record(session, user, AuditAction.CHANGE, source, client, f"liaison case {case.id}: {kind}")
    case.updated_at = now
    session.flush()


def _require_staff(user: User) -> None:
    if not user.active or user.role is not Role.STAFF:
        raise LiaisonError("Only staff work on police-liaison cases.")


def lock_case(session: Session, case: LiaisonCase | int) -> LiaisonCase:
    """Re-read the case holding its row lock until the end of the transaction (PostgreSQL:
    FOR UPDATE; SQLite's write transaction already serializes writers)."""
    case_id = case if isinstance(case, int) else case.id
    session.execute(select(LiaisonCase.id).where(LiaisonCase.id == case_id).with_for_update())
    fresh = session.get(LiaisonCase, case_id, populate_existing=True)
    if fresh is None:
        raise LiaisonError("There is no such case.")
    return fresh


def _editable(case: LiaisonCase) -> None:
    if case.state not in EDITABLE:
        raise LiaisonError(
            "The case is approved or closed: its details can no longer change "
            "(decline it and file a new request if they must)."
        )


def _hold(session: Session, ticket_id: int, actor: str) -> None:
    from queues.liaison.retention import place_hold

    place_hold(session, ticket_id, HOLD_REASON, actor)


# --- the request -----------------------------------------------------------------------------


def may_request(user: User) -> bool:
    """Specialists and staff may report to police; volunteers escalate to specialists."""
    return user.active and role_at_least(user.role, Role.SPECIALIST)


def parse_identifiers(items: Iterable[IdentifierInput]) -> list[IdentifierInput]:
    """Checked identifiers (blank rows dropped); LiaisonError naming the bad one."""
    checked = []
    for item in items:
        value = " ".join(item.value.split())
        if not value and not item.note.strip():
            continue
        kind = _choice(IdentifierKind, item.kind, "what kind of identifier each one is")
        if not value:
            raise LiaisonError("An identifier row has a note but no value.")
        if len(value) > MAX_IDENTIFIER:
            raise LiaisonError(f"An identifier can have at most {MAX_IDENTIFIER} characters.")
        if kind is IdentifierKind.IP:
            try:
                value = str(ipaddress.ip_address(value))
            except ValueError:
                raise LiaisonError(f"{value[:60]!r} is not an IP address.") from None
            if item.seen_at is None:
                raise LiaisonError(f"Give the time {value} was seen (IP addresses change hands).")
        if kind is IdentifierKind.EMAIL and ("@" not in value or " " in value):
            raise LiaisonError(f"{value[:60]!r} is not an email address.")
        if kind is IdentifierKind.PROFILE_URL and not value.lower().startswith(
            ("https://", "http://")
        ):
            raise LiaisonError(f"{value[:60]!r} is not a web address (https://...).")
        note = _text(item.note, "An identifier's note", 1000)
        checked.append(IdentifierInput(kind.value, value, item.seen_at, note))
    if len(checked) > MAX_IDENTIFIERS:
        raise LiaisonError(f"At most {MAX_IDENTIFIERS} identifiers.")
    return checked


def _evidence_ids(session: Session, source: Ticket, article_ids: Sequence[int]) -> list[int]:
    wanted = {int(i) for i in article_ids}
    if not wanted:
        raise LiaisonError("Choose at least one message of the ticket as evidence.")
    found = set(
        session.scalars(
            select(Article.id).where(
                Article.id.in_(wanted),
                Article.ticket_id == source.id,
                Article.kind == ArticleKind.INCOMING,
            )
        )
    )
    if found != wanted:
        raise LiaisonError("Evidence must be incoming messages of this ticket.")
    return sorted(found)


def file_request(
    session: Session,
    source: Ticket,
    user: User,
    data: RequestInput,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> LiaisonCase:
    """A specialist or staff member reports the harassment on `source` to police."""
    if not user.active or not can_see_queue(user.role, source.queue):
        raise LiaisonError("There is no such ticket.")
    if not may_request(user):
        raise LiaisonError(
            "Volunteers cannot report to police: escalate the ticket to a specialist."
        )
    what = _text(data.what_happened, "What happened", MAX_TEXT, required=True)
    urgency = _choice(Urgency, data.urgency, "how urgent it is")
    consent = _choice(Consent, data.consent, "whether the reporter consents")
    consent_reason = _text(data.consent_reason, "The reason about consent", MAX_REASON)
    if consent is not Consent.GIVEN and not consent_reason:
        raise LiaisonError("Say why the reporter was not asked, or why they refused.")
    country = _country(data.country, "The harasser's country")
    basis = (
        _choice(CountryBasis, data.country_basis, "on what basis the country is believed")
        if country
        else None
    )
    note = _text(data.country_note, "The note on the country", MAX_REASON)
    if basis is CountryBasis.OTHER and not note:
        raise LiaisonError("Explain the basis for the country in the note.")
    victim = _country(data.victim_country, "The reporter's country")
    identifiers = parse_identifiers(data.identifiers)
    evidence = _evidence_ids(session, source, data.article_ids)
    try:
        refuse_never(session, country)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    queue = session.scalar(select(Queue).where(Queue.slug == LIAISON_QUEUE))
    if queue is None:
        raise LiaisonError("There is no police-liaison queue: run `switchboard init`.")

    number = allocate_number(session, now)
    subject = clean_subject(source.subject, settings.ticket_tag_prefix) or "(no subject)"
    ticket = Ticket(
        number=number,
        subject=f"Police referral: {subject}"[:2000],
        queue_id=queue.id,
        state=TicketState.NEW,
        priority=URGENCY_PRIORITY[urgency],
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    case = LiaisonCase(
        ticket_id=ticket.id,
        source_ticket_id=source.id,
        requested_by_id=user.id,
        requested_at=now,
        state=CaseState.REQUESTED,
        what_happened=what,
        country=country,
        country_basis=basis,
        country_note=note,
        victim_country=victim,
        urgency=urgency,
        consent=consent,
        consent_reason=consent_reason,
        evidence_article_ids=evidence,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    for item in identifiers:
        session.add(_identifier(case, item, user, now))
    session.add(
        TicketLink(source_id=source.id, target_id=ticket.id, kind=LINK_KIND, created_at=now)
    )
    session.add(
        Article(
            ticket_id=ticket.id,
            kind=ArticleKind.NOTE,
            from_email=user.email,
            from_name=user.name,
            subject="Report to police: the request",
            date=now,
            body_text=_request_note(case, identifiers),
            created_at=now,
        )
    )
    session.flush()
    step(
        session,
        case,
        user,
        "liaison-request",
        f"report to police requested by {user.email} on the linked ticket "
        f"({URGENCY_LABELS[urgency]})",
        now,
        client,
        source_detail=f"report to police requested by {user.email}",
    )
    _hold(session, source.id, user.email)
    _hold(session, ticket.id, user.email)
    return case


def _identifier(
    case: LiaisonCase, item: IdentifierInput, user: User, now: datetime
) -> CaseIdentifier:
    return CaseIdentifier(
        case_id=case.id,
        kind=IdentifierKind(item.kind),
        value=item.value,
        seen_at=item.seen_at,
        note=item.note,
        added_by=user.email,
        added_at=now,
    )


def _request_note(case: LiaisonCase, identifiers: list[IdentifierInput]) -> str:
    lines = [
        f"Urgency: {URGENCY_LABELS[case.urgency]}",
        f"Reporter's consent: {CONSENT_LABELS[case.consent]}"
        + (f" ({case.consent_reason})" if case.consent_reason else ""),
        f"Harasser believed to act from: {country_name(case.country)}"
        + (f" ({BASIS_LABELS[case.country_basis]})" if case.country_basis else ""),
        f"Reporter's country: {country_name(case.victim_country)}",
        "",
        "What happened:",
        case.what_happened,
    ]
    if identifiers:
        lines += ["", "Identifiers:"]
        for item in identifiers:
            when = f", seen {item.seen_at:%Y-%m-%d %H:%M} UTC" if item.seen_at else ""
            lines.append(f"- {IDENTIFIER_LABELS[IdentifierKind(item.kind)]}: {item.value}{when}")
    return "\n".join(lines)


# --- review ----------------------------------------------------------------------------------


def start_review(
    session: Session, case: LiaisonCase, user: User, now: datetime, *, client: str | None = None
) -> None:
    """A staff member takes the case for review (the requester's status: "in review")."""
    _require_staff(user)
    case = lock_case(session, case)
    if case.state is not CaseState.REQUESTED:
        raise LiaisonError("This case is already being reviewed or is closed.")
    case.state = CaseState.IN_REVIEW
    case.reviewer_id = user.id
    case.review_started_at = now
    step(
        session,
        case,
        user,
        "liaison-review",
        f"review started by {user.email}",
        now,
        client,
        source_detail="report to police: in review",
    )


def set_country(
    session: Session,
    case: LiaisonCase,
    user: User,
    country: str,
    basis: str,
    note: str,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    """Record where the harasser is believed to act from, and why (a person's decision: a
    geo lookup's suggestion reaches here only when someone submits it)."""
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    code = _country(country, "The harasser's country")
    if code is None:
        raise LiaisonError("Choose the country.")
    kind = _choice(CountryBasis, basis, "on what basis the country is believed")
    text = _text(note, "The note on the country", MAX_REASON)
    if kind is CountryBasis.OTHER and not text:
        raise LiaisonError("Explain the basis for the country in the note.")
    try:
        refuse_never(session, code)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    case.country, case.country_basis, case.country_note = code, kind, text
    partner = session.get(Partner, case.partner_id) if case.partner_id else None
    if partner is not None and code not in partner.country_codes:
        case.partner_id = None  # the partner chosen before does not cover the new country
    step(
        session,
        case,
        user,
        "liaison-country",
        f"country set to {code} ({BASIS_LABELS[kind]})",
        now,
        client,
    )


def add_identifiers(
    session: Session,
    case: LiaisonCase,
    user: User,
    items: Iterable[IdentifierInput],
    now: datetime,
    *,
    client: str | None = None,
) -> int:
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    checked = parse_identifiers(items)
    if not checked:
        raise LiaisonError("Give at least one identifier.")
    if len(case.identifiers) + len(checked) > MAX_IDENTIFIERS:
        raise LiaisonError(f"At most {MAX_IDENTIFIERS} identifiers.")
    for item in checked:
        session.add(_identifier(case, item, user, now))
    step(
        session, case, user, "liaison-identifiers", f"{len(checked)} identifiers added", now, client
    )
    session.expire(case, ["identifiers"])
    return len(checked)


def remove_identifier(
    session: Session,
    case: LiaisonCase,
    user: User,
    identifier_id: int,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    found = session.get(CaseIdentifier, identifier_id)
    if found is None or found.case_id != case.id:
        raise LiaisonError("That identifier is not part of this case.")
    session.delete(found)
    step(
        session,
        case,
        user,
        "liaison-identifiers",
        f"identifier {identifier_id} removed",
        now,
        client,
    )
    session.expire(case, ["identifiers"])


def choose_partner(
    session: Session,
    case: LiaisonCase,
    user: User,
    partner_id: int,
    now: datetime,
    *,
    client: str | None = None,
) -> Partner:
    """Choose the partner force; it must cover the case's country and be usable."""
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise LiaisonError("There is no such partner force.")
    if not case.country:
        raise LiaisonError("Record the harasser's country first.")
    try:
        refuse_never(session, case.country)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    if case.country not in partner.country_codes:
        raise LiaisonError(
            f"{partner.name} does not take referrals for {country_name(case.country)}."
        )
    from queues.liaison.partners import usability_problems

    problems = usability_problems(partner)
    if problems:
        raise LiaisonError(" ".join(problems))
    case.partner_id = partner.id
    step(session, case, user, "liaison-partner", f"partner force {partner.id} chosen", now, client)
    return partner


def set_evidence(
    session: Session,
    case: LiaisonCase,
    user: User,
    article_ids: Sequence[int],
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    source = source_ticket(session, case)
    if source is None:
        raise LiaisonError("The ticket the request was made on no longer exists.")
    case.evidence_article_ids = _evidence_ids(session, source, article_ids)
    count = len(case.evidence_article_ids)
    step(
        session, case, user, "liaison-evidence", f"{count} messages chosen as evidence", now, client
    )


def set_notice(
    session: Session,
    case: LiaisonCase,
    user: User,
    notify: bool,
    reason: str,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    """Whether the reporter is told of the referral; not telling them needs a reason."""
    _require_staff(user)
    case = lock_case(session, case)
    _editable(case)
    why = _text(reason, "The reason", MAX_REASON)
    if not notify and not why:
        raise LiaisonError("Record why the reporter is not told of the referral.")
    case.notify_reporter = notify
    case.no_notice_reason = "" if notify else why
    detail = "the reporter will be told" if notify else "the reporter will not be told"
    step(session, case, user, "liaison-notice", detail, now, client)


# --- four eyes -------------------------------------------------------------------------------


def _approve_row(session: Session, case: LiaisonCase, user: User, kind: ApprovalStep) -> None:
    """Insert the approval; the unique keys refuse a second one by the same person or for
    the same step even when two requests race past the checks."""
    try:
        with session.begin_nested():
            session.add(
                Approval(case_id=case.id, user_id=user.id, user_email=user.email, step=kind)
            )
    except IntegrityError:
        raise LiaisonError("This case already has that approval, or yours.") from None
    session.expire(case, ["approvals"])


def approver_id(case: LiaisonCase) -> int | None:
    return next((a.user_id for a in case.approvals if a.step is ApprovalStep.APPROVE), None)


def approve(
    session: Session, case: LiaisonCase, user: User, now: datetime, *, client: str | None = None
) -> None:
    """The first staff approval (the reviewer's). The requester cannot give it."""
    _require_staff(user)
    case = lock_case(session, case)
    if case.state not in EDITABLE:
        raise LiaisonError("This case cannot be approved now: it is already approved or closed.")
    if user.id == case.requested_by_id:
        raise LiaisonError("You made this request: two other staff members must approve it.")
    try:
        require_referable(session, case)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    _approve_row(session, case, user, ApprovalStep.APPROVE)
    case.state = CaseState.APPROVED
    if case.reviewer_id is None:
        case.reviewer_id, case.review_started_at = user.id, now
    step(
        session,
        case,
        user,
        "liaison-approve",
        f"approved by {user.email}; a second staff member must confirm",
        now,
        client,
        source_detail="report to police: in review",
    )


def confirm(
    session: Session,
    case: LiaisonCase,
    user: User,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> LiaisonCase:
    """The second staff approval; then the referral is handed over (queues.liaison.referral):
    by mail through the outbox, or, when too large, it waits for a staff download."""
    _require_staff(user)
    case = lock_case(session, case)
    if case.state is not CaseState.APPROVED:
        raise LiaisonError("Only an approved case can be confirmed.")
    if user.id == case.requested_by_id:
        raise LiaisonError("You made this request: two other staff members must approve it.")
    if user.id == approver_id(case):
        raise LiaisonError("You approved this case: a different staff member must confirm it.")
    try:
        require_referable(session, case)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    _approve_row(session, case, user, ApprovalStep.CONFIRM)
    case.state = CaseState.CONFIRMED
    step(session, case, user, "liaison-confirm", f"confirmed by {user.email}", now, client)
    from queues.liaison.referral import send_by_mail

    send_by_mail(session, case, user, settings, now, client=client)
    return case


def decline(
    session: Session,
    case: LiaisonCase,
    user: User,
    reason: str,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    """Refuse the referral, with the reason the requester sees on the ticket."""
    _require_staff(user)
    case = lock_case(session, case)
    if case.state not in OPEN_STATES:
        raise LiaisonError("This case is closed already.")
    if user.id == case.requested_by_id:
        raise LiaisonError("You made this request: another staff member decides on it.")
    why = _text(reason, "The reason for declining", MAX_REASON, required=True)
    case.state = CaseState.DECLINED
    case.declined_by_id, case.declined_at, case.decline_reason = user.id, now, why
    step(
        session,
        case,
        user,
        "liaison-decline",
        f"declined by {user.email}: {why}",
        now,
        client,
        source_detail=f"report to police declined: {why}",
    )


# --- what the source ticket and the requester see ---------------------------------------------


@dataclass(frozen=True)
class RequestStatus:
    """A request as the source ticket's page and "my requests" show it.

    `case_number` and `case_id` are set only for a viewer who may see the case ticket.
    """

    label: str  # requested, in review, declined, sent
    requested_at: datetime
    requested_by: str
    reason: str  # the decline's reason, else ""
    source_number: str | None
    case_id: int | None = None
    case_number: str | None = None


def _status(session: Session, case: LiaisonCase, viewer: User) -> RequestStatus:
    requester = session.get(User, case.requested_by_id)
    ticket = case_ticket(session, case)
    source = source_ticket(session, case)
    sees_case = viewer.active and can_see_queue(viewer.role, ticket.queue)
    return RequestStatus(
        label=STATUS_LABELS[case.state],
        requested_at=case.requested_at,
        requested_by=requester.email if requester is not None else "a former account",
        reason=case.decline_reason if case.state is CaseState.DECLINED else "",
        source_number=source.number if source is not None else None,
        case_id=case.id if sees_case else None,
        case_number=ticket.number if sees_case else None,
    )


def statuses_for_source(session: Session, source: Ticket, viewer: User) -> list[RequestStatus]:
    """The requests made on `source`, newest first, as `viewer` may see them (the caller has
    checked that `viewer` may see `source`)."""
    cases = session.scalars(
        select(LiaisonCase)
        .where(LiaisonCase.source_ticket_id == source.id)
        .order_by(LiaisonCase.id.desc())
    )
    return [_status(session, case, viewer) for case in cases]


def requests_by(session: Session, user: User) -> list[RequestStatus]:
    """The requests `user` made, on tickets they may still see, newest first."""
    from queues.access import visible_tickets

    visible = visible_tickets(user).with_only_columns(Ticket.id)
    cases = session.scalars(
        select(LiaisonCase)
        .where(
            LiaisonCase.requested_by_id == user.id,
            LiaisonCase.source_ticket_id.in_(visible.scalar_subquery()),
        )
        .order_by(LiaisonCase.id.desc())
    )
    return [_status(session, case, user) for case in cases]


def case_list(session: Session, *, open_only: bool = False) -> list[LiaisonCase]:
    """Cases for staff, newest first."""
    stmt = select(LiaisonCase).order_by(LiaisonCase.id.desc())
    if open_only:
        stmt = stmt.where(LiaisonCase.state.in_(OPEN_STATES))
    return list(session.scalars(stmt))
