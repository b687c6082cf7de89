"""Handing a confirmed referral over: the package, the referral mail, or a download.

After the second approval (queues.liaison.cases.confirm) the evidence package is built
(queues.liaison.evidence.package: the raw messages, summary, manifest, SHA256SUMS signed by
the organisation's key) and encrypted to the partner's key. Then:

- by mail: a referral mail from the staff-edited template for the partner's language
  (rows of `liaison_referral_templates`, rendered in the sandbox; the English one is seeded
  from templates/mail/referral/), with the encrypted package attached, is written as an
  outgoing article of the case ticket and queued in the outbox. Its Message-ID is ours and
  its subject carries the case ticket's tag, so the partner's replies thread into the case;
  the partner's addresses become participants of it.
- by download, when that mail would be larger than `liaison_max_mail_bytes`: the case
  waits (state "confirmed") until a staff member downloads the encrypted package (webui
  asks for the password again); each download is a hand-over of its own.

Each hand-over is written to the disclosure register and the audit log ("export") of the
source and case tickets, the reporter gets the fixed-wording notice (queues.liaison.notice)
unless staff recorded why not, and the case is "sent". All of it happens in the caller's
transaction: if building, signing or encrypting fails, nothing is recorded as sent.
"""

from __future__ import annotations

import email.policy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.audit import AuditAction, record
from queues.liaison.cases import (
    BASIS_LABELS,
    CONSENT_LABELS,
    IDENTIFIER_LABELS,
    URGENCY_LABELS,
    LiaisonError,
    case_ticket,
    lock_case,
    source_ticket,
    step,
)
from queues.liaison.checks import ReferralRefused, evidence_articles, require_referable
from queues.liaison.countries import country_name
from queues.liaison.disclosure import record_disclosure
from queues.liaison.evidence.keys import KeyringError, encrypt_for, org_key_fingerprint
from queues.liaison.evidence.package import CaseInfo, EvidenceError, build_package
from queues.liaison.evidence.timestamp import TimestampError
from queues.liaison.models import CaseState, LiaisonCase, Partner, ReferralTemplate
from queues.liaison.notice import queue_notice
from queues.models import (
    Article,
    ArticleKind,
    OutboxMessage,
    OutboxState,
    Participant,
    Role,
    Ticket,
    TicketEvent,
    User,
)
from queues.numbers import format_tag, tagged_subject
from queues.outgoing import check_header_value, domain_of, make_message_id
from queues.replies import sender_address
from queues.resources import templates_dir
from queues.sandbox import TemplateError, check_untrusted, render_untrusted
from queues.settings import Settings

DEFAULT_LANGUAGE = "en"
OUTBOX_KIND = "referral"
MAX_TEMPLATE = 50_000
# The referral mail: SMTP line ends and folding (RFC 5322), UTF-8 headers RFC 2047-encoded.
_POLICY = email.policy.SMTP.clone(max_line_length=78)


@dataclass(frozen=True)
class Download:
    filename: str
    data: bytes


# --- templates -------------------------------------------------------------------------------


def default_template() -> tuple[str, str]:
    """(subject, body) of the shipped English referral template."""
    folder = templates_dir() / "mail" / "referral"
    subject = (folder / "subject.txt").read_text(encoding="utf-8")
    body = (folder / "body.txt").read_text(encoding="utf-8")
    return " ".join(subject.split()), body


def seed_referral_templates(session: Session) -> list[str]:
    """Create the English referral template when there is none; the languages created."""
    if session.scalar(select(ReferralTemplate.id).where(ReferralTemplate.language == "en")):
        return []
    subject, body = default_template()
    session.add(
        ReferralTemplate(
            language=DEFAULT_LANGUAGE, subject=subject, body=body, updated_by="switchboard"
        )
    )
    session.flush()
    return [DEFAULT_LANGUAGE]


def template_for(session: Session, partner: Partner) -> ReferralTemplate:
    """The template in the partner's first language we have one for, else English."""
    seed_referral_templates(session)
    rows = {t.language: t for t in session.scalars(select(ReferralTemplate))}
    for language in [*partner.languages, DEFAULT_LANGUAGE]:
        if language in rows:
            return rows[language]
    return rows[DEFAULT_LANGUAGE]


def save_template(
    session: Session,
    template: ReferralTemplate | None,
    language: str,
    subject: str,
    body: str,
    user: User,
    now: datetime,
) -> ReferralTemplate:
    """Add or change a referral template; LiaisonError with the sandbox's reason."""
    subject = subject.strip()
    body = body.replace("\r\n", "\n")
    if not subject or "\n" in subject or "\r" in subject:
        raise LiaisonError("The subject must be one line.")
    if not body.strip() or len(body) > MAX_TEMPLATE:
        raise LiaisonError(f"Write the text (at most {MAX_TEMPLATE:,} characters).")
    try:
        check_untrusted(subject)
        check_untrusted(body)
    except TemplateError as exc:
        raise LiaisonError(f"The template cannot be used: {exc}") from None
    row = template
    if row is None:
        if session.scalar(select(ReferralTemplate.id).where(ReferralTemplate.language == language)):
            raise LiaisonError("There is a template for that language already: edit it.")
        row = ReferralTemplate(language=language)
        session.add(row)
    row.subject, row.body, row.updated_at, row.updated_by = subject, body, now, user.email
    session.flush()
    return row


SAMPLE_CONTEXT: dict[str, object] = {
    "organisation": "Switchboard help team",
    "case": {
        "number": "2026010100042",
        "tag": "[Ticket#2026010100042]",
        "country": "Germany",
        "country_code": "DE",
        "country_basis": "IP evidence",
        "urgency": "serious",
        "consent": "given",
        "victim_country": "France",
        "requested": "2026-01-01",
    },
    "partner": {"name": "Example Police Cybercrime Unit", "key_fingerprint": "0123…CDEF"},
    "package": {"filename": "evidence-2026010100042.zip.gpg", "sha256": "ab12…", "size": "1234"},
    "signing_key": "89AB…4567",
}


def referral_context(
    case: LiaisonCase,
    ticket: Ticket,
    partner: Partner,
    settings: Settings,
    *,
    filename: str,
    sha256: str,
    size: int,
    signing_key: str,
) -> dict[str, object]:
    """What a referral template may use: plain text only (the shape of SAMPLE_CONTEXT).

    No content of the reports: that is in the encrypted package, not in the mail's text.
    """
    return {
        "organisation": settings.organisation,
        "case": {
            "number": ticket.number,
            "tag": format_tag(settings.ticket_tag_prefix, ticket.number),
            "country": country_name(case.country),
            "country_code": case.country or "",
            "country_basis": BASIS_LABELS[case.country_basis] if case.country_basis else "",
            "urgency": URGENCY_LABELS[case.urgency],
            "consent": CONSENT_LABELS[case.consent],
            "victim_country": country_name(case.victim_country),
            "requested": f"{case.requested_at:%Y-%m-%d}",
        },
        "partner": {"name": partner.name, "key_fingerprint": partner.key_fingerprint},
        "package": {"filename": filename, "sha256": sha256, "size": str(size)},
        "signing_key": signing_key,
    }


def render_template(template: ReferralTemplate, context: dict[str, object]) -> tuple[str, str]:
    try:
        subject = render_untrusted(template.subject, context)
        body = render_untrusted(template.body, context)
    except TemplateError as exc:
        raise LiaisonError(f"The referral template ({template.language}) fails: {exc}") from None
    return " ".join(subject.split()), body


# --- the package -----------------------------------------------------------------------------


def approvers(case: LiaisonCase) -> list[str]:
    return [a.user_email for a in sorted(case.approvals, key=lambda a: a.id)]


def case_info(session: Session, case: LiaisonCase) -> CaseInfo:
    """The case as the evidence package describes it (chain of custody included)."""
    ticket = case_ticket(session, case)
    requester = session.get(User, case.requested_by_id)
    partner = session.get(Partner, case.partner_id) if case.partner_id else None
    events = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("liaison-%"))
        .order_by(TicketEvent.id)
    )
    basis = BASIS_LABELS[case.country_basis] if case.country_basis else ""
    return CaseInfo(
        case_number=ticket.number,
        requested_by=requester.email if requester is not None else "",
        approvers=approvers(case),
        partner=partner.name if partner is not None else None,
        country=case.country,
        country_basis=f"{basis}: {case.country_note}" if case.country_note else basis,
        identifiers=[
            {
                "kind": IDENTIFIER_LABELS[i.kind],
                "value": i.value,
                "seen_at": f"{i.seen_at:%Y-%m-%dT%H:%M:%SZ}" if i.seen_at else "",
                "note": i.note,
            }
            for i in case.identifiers
        ],
        events=[(e.at, e.actor, e.detail) for e in events],
        description=case.what_happened,
        victim_country=case.victim_country,
        urgency=URGENCY_LABELS[case.urgency],
    )


def build_encrypted(
    session: Session,
    case: LiaisonCase,
    partner: Partner,
    exporter: str,
    settings: Settings,
    now: datetime,
) -> tuple[bytes, bytes]:
    """(the signed zip, the same encrypted to the partner's key); LiaisonError saying why
    when it cannot be built, signed, timestamped or encrypted."""
    if case.source_ticket_id is None:
        raise LiaisonError("The ticket the request was made on no longer exists.")
    try:
        package = build_package(
            session,
            case.source_ticket_id,
            article_ids=[a.id for a in evidence_articles(session, case)],
            exporter=exporter,
            case=case_info(session, case),
            settings=settings,
            now=now,
        )
    except (EvidenceError, KeyringError, TimestampError) as exc:
        raise LiaisonError(f"The evidence package cannot be built: {exc}") from None
    try:
        encrypted = encrypt_for(package, partner.public_key, settings)
    except ValueError as exc:
        raise LiaisonError(f"The package cannot be encrypted to {partner.name}: {exc}") from None
    return package, encrypted


def package_filename(ticket: Ticket) -> str:
    return f"evidence-{ticket.number}.zip.gpg"


# --- hand-over -------------------------------------------------------------------------------


def _partner(session: Session, case: LiaisonCase) -> Partner:
    try:
        require_referable(session, case)
    except ReferralRefused as exc:
        raise LiaisonError(str(exc)) from None
    return session.get_one(Partner, case.partner_id)


def _signing_key(settings: Settings) -> str:
    return org_key_fingerprint(settings) or ""


def referral_message(
    *,
    our_address: str,
    settings: Settings,
    to: list[str],
    subject: str,
    body: str,
    message_id: str,
    now: datetime,
    filename: str,
    encrypted: bytes,
) -> bytes:
    """The referral mail: the template's text and the encrypted package as an attachment."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = formataddr((check_header_value("From", settings.organisation), our_address))
    msg["To"] = ", ".join(check_header_value("To", a) for a in to)
    msg["Subject"] = check_header_value("Subject", subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{check_header_value('Message-ID', message_id)}>"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    # An OpenPGP message file (RFC 4880), opaque to the mail system.
    msg.add_attachment(encrypted, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes()


def send_by_mail(
    session: Session,
    case: LiaisonCase,
    user: User,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> int | None:
    """Queue the referral in the outbox; its id, or None when it must be downloaded."""
    if case.state is not CaseState.CONFIRMED:
        raise LiaisonError("Only a confirmed case can be handed over.")
    partner = _partner(session, case)
    ticket = case_ticket(session, case)
    package, encrypted = build_encrypted(session, case, partner, user.email, settings, now)
    filename = package_filename(ticket)
    sha256 = hashlib.sha256(encrypted).hexdigest()
    context = referral_context(
        case,
        ticket,
        partner,
        settings,
        filename=filename,
        sha256=sha256,
        size=len(encrypted),
        signing_key=_signing_key(settings),
    )
    subject_text, body = render_template(template_for(session, partner), context)
    subject = tagged_subject(subject_text, settings.ticket_tag_prefix, ticket.number, reply=False)
    our_address = sender_address(ticket.queue, settings)
    message_id = make_message_id(domain_of(our_address) or settings.hostname)
    to = list(partner.referral_addresses)
    raw = referral_message(
        our_address=our_address,
        settings=settings,
        to=to,
        subject=subject,
        body=body,
        message_id=message_id,
        now=now,
        filename=filename,
        encrypted=encrypted,
    )
    if len(raw) > settings.liaison_max_mail_bytes:
        case.delivery = "download"
        step(
            session,
            case,
            user,
            "liaison-download-needed",
            f"the referral mail would be {len(raw):,} bytes (limit "
            f"{settings.liaison_max_mail_bytes:,}): staff hand the package over by download",
            now,
            client,
        )
        return None
    article = Article(
        ticket_id=ticket.id,
        kind=ArticleKind.OUTGOING,
        from_email=our_address,
        from_name=settings.organisation,
        to=to,
        subject=subject,
        message_id=message_id,
        date=now,
        content_type="text/plain",
        body_text=f"{body.rstrip()}\n\n[attached: {filename}, {len(encrypted):,} bytes, "
        f"sha256 {sha256}]\n",
        created_at=now,
    )
    session.add(article)
    session.flush()
    outbox = OutboxMessage(
        ticket_id=ticket.id,
        article_id=article.id,
        kind=OUTBOX_KIND,
        message_id=message_id,
        envelope_from=our_address,
        recipients=to,
        raw=raw,
        state=OutboxState.QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        deadline=now + timedelta(hours=settings.outbox_deadline_hours),
    )
    session.add(outbox)
    known = {p.email.lower() for p in ticket.participants}
    for address in to:  # the partner may answer into the case by its tag, too
        if address.lower() not in known:
            session.add(Participant(ticket_id=ticket.id, email=address, role="partner"))
    session.flush()
    case.delivery = "mail"
    case.referral_outbox_id = outbox.id
    _handed_over(session, case, partner, user, "mail", package, encrypted, settings, now, client)
    return outbox.id


def download(
    session: Session,
    case: LiaisonCase,
    user: User,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> Download:
    """The encrypted package of a case too large for mail, for a staff member to hand over;
    each download is on the register. The rules are checked again, as at every step."""
    if not user.active or user.role is not Role.STAFF:
        raise LiaisonError("Only staff hand over evidence packages.")
    case = lock_case(session, case)
    if case.delivery != "download" or case.state not in (CaseState.CONFIRMED, CaseState.SENT):
        raise LiaisonError("This case has no package to download: it needs two approvals first.")
    partner = _partner(session, case)
    ticket = case_ticket(session, case)
    package, encrypted = build_encrypted(session, case, partner, user.email, settings, now)
    _handed_over(
        session, case, partner, user, "download", package, encrypted, settings, now, client
    )
    return Download(package_filename(ticket), encrypted)


def _handed_over(
    session: Session,
    case: LiaisonCase,
    partner: Partner,
    user: User,
    channel: str,
    package: bytes,
    encrypted: bytes,
    settings: Settings,
    now: datetime,
    client: str | None,
) -> None:
    ticket = case_ticket(session, case)
    source = source_ticket(session, case)
    messages = len(case.evidence_article_ids)
    digest = hashlib.sha256(package).hexdigest()
    consent = CONSENT_LABELS[case.consent] + (
        f" ({case.consent_reason})" if case.consent_reason else ""
    )
    basis = BASIS_LABELS[case.country_basis] if case.country_basis else "unknown"
    record_disclosure(
        session,
        at=now,
        what=(
            f"evidence package: {messages} messages as received with their attachments, "
            f"{len(case.identifiers)} identifiers of the harasser, summary and manifest "
            f"(encrypted to key {partner.key_fingerprint})"
        ),
        recipient=partner.name,
        recipient_address=", ".join(partner.referral_addresses) if channel == "mail" else "",
        basis=(
            f"police referral ({URGENCY_LABELS[case.urgency]}) of harassment believed to come "
            f"from {country_name(case.country)} ({basis}); four-eyes approval; "
            f"reporter's consent: {consent}"
        ),
        approved_by=approvers(case),
        handed_over_by=user.email,
        channel=channel,
        case_id=case.id,
        case_number=ticket.number,
        source_number=source.number if source is not None else "",
        package_sha256=digest,
        package_size=len(package),
        message_count=messages,
    )
    detail = f"evidence package {digest[:16]}… handed over by {channel} to partner {partner.id}"
    record(session, user, AuditAction.EXPORT, ticket, client, detail[:200])
    if source is not None:
        record(session, user, AuditAction.EXPORT, source, client, f"evidence for case {case.id}")
    first = case.state is not CaseState.SENT
    if first:
        case.state, case.sent_at = CaseState.SENT, now
        if source is not None:
            case.notice_outbox_id = queue_notice(
                session, case, source, partner, user.email, settings, now
            )
    step(
        session,
        case,
        user,
        "liaison-sent",
        f"evidence handed over by {channel} to {partner.name} (sha256 {digest})",
        now,
        client,
        source_detail="report to police: sent" if first else None,
    )
