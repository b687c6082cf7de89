"""Ingest: store raw mail first, then decide what it becomes, one transaction per message.

One path serves every way mail arrives (SMTP, LMTP, IMAP, files), as in Zulip's email
mirror: `store_inbound` keeps the raw bytes and envelope and is committed before anything
can go wrong; `process_inbound` parses and decides (dedupe, follow-up, routing, triage,
ticket, acknowledgement) in one transaction; a failure is recorded on the inbound row and
retried a bounded number of times, then the message is quarantined, never dropped.

The parser is passed in (`Parser`), because the core must not import the mail edge.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from queues.autoreply import queue_acknowledgement
from queues.backlog import DEFAULT_LEASE, retry_delay
from queues.followup import FollowupMatch, find_followup
from queues.mail import Address, IncomingMail, sha256_hex
from queues.models import (
    Article,
    ArticleKind,
    Attachment,
    Blob,
    Contact,
    InboundMail,
    InboundState,
    Participant,
    Priority,
    Queue,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    utcnow,
)
from queues.numbers import allocate_number, clean_subject
from queues.routing import RoutingDecision, route_new
from queues.settings import Settings
from queues.triage import reasons as triage_reasons
from queues.triage import triage

log = logging.getLogger(__name__)

Parser = Callable[[bytes], IncomingMail]
SAFETY_QUEUE = "specialist-safety"


@dataclass(frozen=True)
class Outcome:
    """What became of one inbound message."""

    kind: str  # "new", "followup", "duplicate", "ignored", "failed", "quarantined"
    inbound_id: int
    ticket_number: str | None = None
    detail: str = ""


def store_inbound(
    session: Session,
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    message_id: str | None = None,
    imap_key: str | None = None,
) -> InboundMail:
    """Add the raw message to the inbound backlog; the caller commits (and only then says yes)."""
    row = InboundMail(
        source=source,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
        raw=raw,
        raw_sha256=sha256_hex(raw),
        size=len(raw),
        message_id=message_id,
        imap_key=imap_key,
        state=InboundState.NEW,
        received_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def process_inbound(
    session: Session, inbound: InboundMail, settings: Settings, parse: Parser
) -> Outcome:
    """Parse and decide. Runs inside the caller's transaction; raises on storage errors."""
    mail = parse(inbound.raw)
    inbound.message_id = mail.message_id
    if _is_duplicate(session, inbound):
        return _finish(inbound, InboundState.DUPLICATE, "duplicate", detail="already stored")
    inbound.dedupe_key = _dedupe_key(inbound)
    match = find_followup(session, mail, settings.ticket_tag_prefix)
    if match is not None and match.trusted:
        return _append_followup(session, inbound, mail, match, settings)
    return _create_ticket(session, inbound, mail, settings, quoted=match)


def process_stored(
    factory: sessionmaker[Session],
    inbound_id: int,
    settings: Settings,
    parse: Parser,
    *,
    attempt_counted: bool = False,
) -> Outcome:
    """Process one stored message in its own transaction; record failures, never raise.

    The attempt is counted in a committed transaction *before* processing, so a message
    that crashes the whole process (not just raises) is still quarantined in the end.
    `attempt_counted` says the caller already did that (e.g. when storing it).
    """
    if not attempt_counted:
        with factory.begin() as session:
            inbound = session.get(InboundMail, inbound_id)
            if inbound is None or inbound.state not in (InboundState.NEW, InboundState.FAILED):
                state = inbound.state.value if inbound else "missing"
                return Outcome(kind=state, inbound_id=inbound_id)
            inbound.attempts += 1
    try:
        with factory.begin() as session:
            inbound = session.get_one(InboundMail, inbound_id)
            if inbound.state not in (InboundState.NEW, InboundState.FAILED):
                return Outcome(kind=inbound.state.value, inbound_id=inbound_id)
            return process_inbound(session, inbound, settings, parse)
    except Exception as exc:
        log.warning("inbound %s failed: %s", inbound_id, exc, exc_info=True)
        return _record_failure(factory, inbound_id, exc, settings)


def _record_failure(
    factory: sessionmaker[Session], inbound_id: int, exc: BaseException, settings: Settings
) -> Outcome:
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
    with factory.begin() as session:
        inbound = session.get_one(InboundMail, inbound_id)
        inbound.last_error = error
        give_up = inbound.attempts >= settings.ingest_max_attempts
        inbound.state = InboundState.QUARANTINED if give_up else InboundState.FAILED
        inbound.next_attempt_at = utcnow() + retry_delay(inbound.attempts)
        kind = "quarantined" if give_up else "failed"
    return Outcome(kind=kind, inbound_id=inbound_id, detail=error)


def _dedupe_key(inbound: InboundMail) -> str:
    return f"{inbound.raw_sha256} {(inbound.message_id or '')[:900]}"


def _is_duplicate(session: Session, inbound: InboundMail) -> bool:
    """Same Message-ID and same raw SHA-256 as a message already made into a ticket."""
    found = session.scalar(
        select(InboundMail.id).where(
            InboundMail.dedupe_key == _dedupe_key(inbound), InboundMail.id != inbound.id
        )
    )
    return found is not None


def _finish(
    inbound: InboundMail,
    state: InboundState,
    kind: str,
    ticket: Ticket | None = None,
    article: Article | None = None,
    detail: str = "",
) -> Outcome:
    inbound.state = state
    inbound.processed_at = utcnow()
    inbound.last_error = None
    if ticket is not None:
        inbound.ticket_id = ticket.id
    if article is not None:
        inbound.article_id = article.id
    number = ticket.number if ticket is not None else None
    return Outcome(kind=kind, inbound_id=inbound.id, ticket_number=number, detail=detail)


def _queues(session: Session) -> dict[str, Queue]:
    return {q.slug: q for q in session.scalars(select(Queue))}


def _upsert(
    session: Session, model: type[Contact] | type[Blob], values: dict[str, object], key: str
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike (races are harmless)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))


def get_contact(session: Session, address: Address) -> Contact:
    email = address.email.lower()
    contact = session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        _upsert(
            session,
            Contact,
            {"email": email, "name": address.name[:200], "created_at": utcnow()},
            "email",
        )
        contact = session.scalars(select(Contact).where(Contact.email == email)).one()
    elif address.name and not contact.name:
        contact.name = address.name[:200]
    return contact


def article_from_mail(session: Session, mail: IncomingMail, inbound: InboundMail) -> Article:
    article = Article(
        kind=ArticleKind.INCOMING,
        inbound_id=inbound.id,
        from_email=mail.from_.email if mail.from_ else "",
        from_name=mail.from_.name[:200] if mail.from_ else "",
        to=[str(a) for a in mail.to],
        cc=[str(a) for a in mail.cc],
        subject=mail.subject,
        message_id=mail.message_id,
        in_reply_to=mail.in_reply_to[0] if mail.in_reply_to else None,
        references=mail.references[-50:],
        date=mail.date,
        content_type=mail.content_type,
        body_text=mail.body_text,
        body_html=mail.body_html,
        defects=mail.defects[:100],
    )
    for att in mail.attachments:
        _upsert(session, Blob, {"sha256": att.sha256, "size": att.size, "data": att.data}, "sha256")
        article.attachments.append(
            Attachment(
                filename=att.filename,
                content_type=att.content_type,
                size=att.size,
                sha256=att.sha256,
                content_id=att.content_id,
                inline=att.inline,
            )
        )
    return article


def _apply_triage(ticket: Ticket, mail: IncomingMail, queues: dict[str, Queue]) -> None:
    """Serious reports go to specialist-safety at high priority; never out of a restricted queue."""
    hits = triage(mail.subject, mail.body_text)
    if not hits:
        return
    new_reasons = [r for r in triage_reasons(hits) if r not in ticket.triage_reasons]
    if not new_reasons:
        return
    ticket.triage_reasons = [*ticket.triage_reasons, *new_reasons]
    ticket.priority = max(ticket.priority, int(Priority.HIGH))
    ticket.events.append(TicketEvent(kind="triage", detail="; ".join(new_reasons)))
    if not ticket.queue.restricted and SAFETY_QUEUE in queues:
        ticket.events.append(
            TicketEvent(
                kind="moved", detail=f"{ticket.queue.slug} -> {SAFETY_QUEUE} (safety triage)"
            )
        )
        ticket.queue = queues[SAFETY_QUEUE]


def _choose_queue(
    decision: RoutingDecision, queues: dict[str, Queue], settings: Settings
) -> tuple[Queue, list[str]]:
    notes: list[str] = []
    recipient_queue = queues.get(settings.addresses.get(decision.our_address, ""))
    queue = queues.get(decision.queue_slug)
    if queue is None:
        notes.append(
            f"queue {decision.queue_slug!r} does not exist; using {settings.default_queue}"
        )
        queue = queues[settings.default_queue]
    if recipient_queue is not None and recipient_queue.restricted and not queue.restricted:
        # Mail sent to the safety address is a safety report whatever a rule says.
        notes.append(f"kept in {recipient_queue.slug}: a rule may not move it to {queue.slug}")
        queue = recipient_queue
    return queue, notes


def _create_ticket(
    session: Session,
    inbound: InboundMail,
    mail: IncomingMail,
    settings: Settings,
    quoted: FollowupMatch | None,
) -> Outcome:
    queues = _queues(session)
    decision = route_new(
        session,
        inbound.envelope_to,
        mail,
        settings,
        restricted_queues={s for s, q in queues.items() if q.restricted},
    )
    requester = get_contact(session, mail.from_) if mail.from_ else None
    if decision.ignore:
        return _finish(inbound, InboundState.IGNORED, "ignored", detail="; ".join(decision.hits))
    if requester is not None and requester.blocked and not settings.blocked_sender_tickets:
        return _finish(inbound, InboundState.IGNORED, "ignored", detail="sender is blocked")
    queue, notes = _choose_queue(decision, queues, settings)
    if quoted is not None and quoted.ticket.queue.restricted and SAFETY_QUEUE in queues:
        # Someone else quoting a safety case's number is itself a safety matter.
        notes.append(f"quotes restricted ticket {quoted.ticket.number}")
        queue = queue if queue.restricted else queues[SAFETY_QUEUE]
    ticket = Ticket(
        number=allocate_number(session),
        subject=clean_subject(mail.subject, settings.ticket_tag_prefix)[:2000],
        queue=queue,
        state=TicketState.NEW,
        priority=decision.priority,
        flagged=decision.flagged,
        requester=requester,
        triage_reasons=[],
    )
    session.add(ticket)
    ticket.events.append(
        TicketEvent(kind="created", detail=f"from {inbound.source} to {queue.slug}")
    )
    for detail in [*decision.hits, *notes]:
        ticket.events.append(TicketEvent(kind="routing", detail=detail))
    _apply_triage(ticket, mail, queues)
    article = article_from_mail(session, mail, inbound)
    ticket.articles.append(article)
    _add_participants(ticket, mail, settings)
    session.flush()
    if quoted is not None:
        _link_quoted(session, ticket, quoted)
    if requester is not None and requester.blocked:
        ticket.events.append(
            TicketEvent(
                kind="autoreply-suppressed", detail="acknowledgement not sent: sender is blocked"
            )
        )
    else:
        queue_acknowledgement(
            session, ticket, mail, inbound.envelope_from, decision.our_address, settings
        )
    return _finish(inbound, InboundState.DONE, "new", ticket, article)


def _link_quoted(session: Session, ticket: Ticket, quoted: FollowupMatch) -> None:
    old = quoted.ticket
    session.add(TicketLink(source_id=ticket.id, target_id=old.id, kind="quoted-number"))
    why = (
        f"subject named ticket {old.number} but the sender is not a participant"
        if old.state != TicketState.CLOSED or quoted.trusted
        else f"follow-up to closed ticket {old.number}"
    )
    ticket.events.append(TicketEvent(kind="linked", detail=why))


def _add_participants(ticket: Ticket, mail: IncomingMail, settings: Settings) -> None:
    """The requester and the people they copied may write into the ticket by its tag."""
    own = settings.all_own_addresses
    known = {p.email for p in ticket.participants}
    people = [mail.from_] if mail.from_ else []
    people += mail.cc
    for address in people:
        email = address.email.lower()
        if email in own or email in known:
            continue
        known.add(email)
        role = "requester" if address is mail.from_ else "cc"
        ticket.participants.append(Participant(email=email, role=role))


def _append_followup(
    session: Session,
    inbound: InboundMail,
    mail: IncomingMail,
    match: FollowupMatch,
    settings: Settings,
) -> Outcome:
    ticket = match.ticket
    if ticket.state == TicketState.CLOSED and ticket.queue.followup_closed == "new":
        return _create_ticket(
            session, inbound, mail, settings, quoted=FollowupMatch(ticket, match.via, trusted=False)
        )
    article = article_from_mail(session, mail, inbound)
    ticket.articles.append(article)
    ticket.events.append(TicketEvent(kind="followup", detail=f"matched by {match.via}"))
    if ticket.state == TicketState.CLOSED:
        ticket.state = TicketState.OPEN
        ticket.closed_at = None
        ticket.events.append(TicketEvent(kind="reopened", detail="follow-up to a closed ticket"))
    elif ticket.state == TicketState.PENDING:
        ticket.state = TicketState.OPEN
        ticket.events.append(TicketEvent(kind="state", detail="pending -> open (follow-up)"))
    ticket.updated_at = utcnow()
    _apply_triage(ticket, mail, _queues(session))
    session.flush()
    return _finish(inbound, InboundState.DONE, "followup", ticket, article)


def ingest_bytes(
    factory: sessionmaker[Session],
    raw: bytes,
    settings: Settings,
    parse: Parser,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
) -> Outcome:
    """Store, commit, then process: the whole path for one message (file import, tests).

    The first attempt is counted in the same commit that stores the message.
    """
    with factory.begin() as session:
        row = store_inbound(
            session, raw, source=source, envelope_from=envelope_from, envelope_to=envelope_to
        )
        # Count the first attempt and lease the row to ourselves in the same commit: if we
        # die before processing, a runner takes it over when the lease runs out.
        row.attempts = 1
        row.next_attempt_at = utcnow() + DEFAULT_LEASE
        inbound_id = row.id
    return process_stored(factory, inbound_id, settings, parse, attempt_counted=True)


def retry_quarantined(factory: sessionmaker[Session], inbound_id: int) -> None:
    """Staff: give a quarantined message a fresh set of attempts."""
    with factory.begin() as session:
        inbound = session.get(InboundMail, inbound_id)
        if inbound is None:
            raise LookupError(f"no inbound message {inbound_id}")
        if inbound.state not in (InboundState.QUARANTINED, InboundState.FAILED):
            raise ValueError(f"inbound {inbound_id} is {inbound.state.value}, not quarantined")
        inbound.state = InboundState.NEW
        inbound.attempts = 0
        inbound.next_attempt_at = utcnow()
