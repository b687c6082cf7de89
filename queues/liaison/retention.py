"""Retention and legal hold: closed tickets are purged after their queue's period, unless held.

Each queue keeps closed tickets for a number of days (`Queue.retention_days`, else the
installation's `retention_days` setting for its slug, else `retention_default_days`; 0 =
for ever). `purge` then removes what the ticket holds about people: the raw mail as received
and as sent, the articles with their bodies and HTML, attachments (and blobs no other
ticket uses), history, participants, links, search entries (SQLite's FTS5 rows follow the
tables through the triggers of migration 0004; PostgreSQL's search vectors are columns of
the deleted rows) and the requester's contact row when no other ticket needs it. What stays
is a tombstone: number, dates, queue, the SHA-256 of every raw message and attachment, who
purged it and when; and the audit log, which never held content.

A ticket is held while it has an unreleased legal hold (a police-liaison case places one; a
staff member may too); a hold on a ticket merged into another holds that other ticket as
well, since its messages live there now. Held tickets are never purged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from queues.audit import AuditAction
from queues.liaison.retention_models import LegalHold, TicketTombstone
from queues.models import (
    Article,
    Attachment,
    AuditEvent,
    Blob,
    Contact,
    InboundMail,
    OutboxMessage,
    OutboxState,
    Participant,
    Queue,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    utcnow,
)
from queues.settings import Settings

MAX_REASON = 2000


@dataclass(frozen=True)
class PurgeItem:
    """A ticket that was (or, in a dry run, would be) purged."""

    number: str
    queue: str
    closed_at: datetime | None
    articles: int
    attachments: int


@dataclass
class PurgeReport:
    dry_run: bool
    purged: list[PurgeItem] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # due, but on legal hold: kept
    postponed: list[tuple[str, str]] = field(default_factory=list)  # (number, why) for later
    more: bool = False  # stopped at the limit; run again for the rest


def retention_days(queue: Queue, settings: Settings) -> int:
    """Days closed tickets of `queue` are kept; 0 = for ever."""
    if queue.retention_days is not None:
        return max(0, queue.retention_days)
    return settings.retention_days.get(queue.slug, settings.retention_default_days)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValueError("give the reason for the legal hold")
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def _ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket with id {ticket_id}")
    return ticket


def _audit(session: Session, actor: str, ticket: Ticket, detail: str) -> None:
    # The hold's reason may name a case or a person: the log says only what happened.
    session.add(
        AuditEvent(
            actor=actor[:320], action=AuditAction.CHANGE.value, ticket_id=ticket.id, detail=detail
        )
    )


def place_hold(session: Session, ticket_id: int, reason: str, actor: str) -> LegalHold:
    """Put `ticket_id` on legal hold: it is not purged until every hold is released.

    The ticket's history says "legal hold placed" without the reason, because whoever may
    see the ticket sees its history, and the reason may name a police case.
    """
    ticket = _ticket(session, ticket_id)
    hold = LegalHold(ticket_id=ticket.id, reason=_reason(reason), placed_by=actor[:320])
    session.add(hold)
    session.add(TicketEvent(ticket_id=ticket.id, actor=actor[:320], kind="legal-hold"))
    _audit(session, actor, ticket, "legal hold placed")
    session.flush()
    return hold


def release_hold(session: Session, ticket_id: int, reason: str, actor: str) -> list[LegalHold]:
    """Release every active hold on `ticket_id`; LookupError when it has none."""
    ticket = _ticket(session, ticket_id)
    why = _reason(reason)
    holds = active_holds(session, ticket.id)
    if not holds:
        raise LookupError(f"ticket {ticket.number} is not on legal hold")
    now = utcnow()
    for hold in holds:
        hold.released_at, hold.released_by, hold.release_reason = now, actor[:320], why
    session.add(TicketEvent(ticket_id=ticket.id, actor=actor[:320], kind="legal-hold-released"))
    _audit(session, actor, ticket, "legal hold released")
    session.flush()
    return holds


def active_holds(session: Session, ticket_id: int) -> list[LegalHold]:
    stmt = (
        select(LegalHold)
        .where(LegalHold.ticket_id == ticket_id, LegalHold.released_at.is_(None))
        .order_by(LegalHold.id)
    )
    return list(session.scalars(stmt))


def is_held(session: Session, ticket_id: int) -> bool:
    return ticket_id in held_ticket_ids(session)


def held_ticket_ids(session: Session) -> set[int]:
    """Tickets on hold: those with an active hold, and every ticket one of them was merged
    into (the held messages moved there)."""
    held = set(session.scalars(select(LegalHold.ticket_id).where(LegalHold.released_at.is_(None))))
    frontier = set(held)
    while frontier:
        targets = set(
            session.scalars(
                select(Ticket.merged_into_id).where(
                    Ticket.id.in_(frontier), Ticket.merged_into_id.is_not(None)
                )
            )
        )
        frontier = {t for t in targets if t is not None} - held
        held |= frontier
    return held


def purge(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool,
    actor: str,
    limit: int | None = None,
) -> PurgeReport:
    """Purge closed tickets past their queue's retention period, never held ones.

    Works in the caller's transaction, each ticket in a savepoint (a ticket that cannot be
    removed now is postponed with the reason, the others go on). `limit` bounds the number
    of tickets purged in one call; `more` then says whether any are left. A dry run changes
    nothing and reports what would go.
    """
    report = PurgeReport(dry_run=dry_run)
    held = held_ticket_ids(session)
    blobs: set[str] = set()
    for queue in session.scalars(select(Queue).order_by(Queue.id)):
        days = retention_days(queue, settings)
        if days <= 0:
            continue
        cutoff = now - timedelta(days=days)
        closed = func.coalesce(Ticket.closed_at, Ticket.updated_at)
        due = session.scalars(
            select(Ticket)
            .where(
                Ticket.queue_id == queue.id, Ticket.state == TicketState.CLOSED, closed <= cutoff
            )
            .order_by(Ticket.id)
        ).all()
        for ticket in due:
            if ticket.id in held:
                report.held.append(ticket.number)
                continue
            if limit is not None and len(report.purged) >= limit:
                report.more = True
                break
            if ticket.merged_into_id is not None:
                # Its messages live in the ticket it was merged into, and mail quoting its
                # number is routed there: it goes when that ticket goes (the foreign key
                # then clears merged_into_id).
                report.postponed.append((ticket.number, "merged into a ticket that is kept"))
                continue
            busy = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.ticket_id == ticket.id,
                    OutboxMessage.state.in_([OutboxState.QUEUED, OutboxState.SENDING]),
                )
            )
            if busy:
                report.postponed.append((ticket.number, "mail of it is still in the outbox"))
                continue
            try:
                with session.begin_nested():
                    item, hashes = _purge_ticket(session, ticket, queue, actor, now, dry_run)
            except (IntegrityError, OperationalError) as exc:
                report.postponed.append((ticket.number, f"could not be removed: {exc.orig}"))
                continue
            report.purged.append(item)
            blobs |= hashes
    if not dry_run and report.purged:
        _drop_unused_blobs(session, blobs)
        session.add(
            AuditEvent(
                actor=actor[:320],
                action=AuditAction.STAFF.value,
                detail=f"retention purge: {len(report.purged)} tickets removed, tombstones kept",
            )
        )
        session.flush()
    return report


def _purge_ticket(
    session: Session, ticket: Ticket, queue: Queue, actor: str, now: datetime, dry_run: bool
) -> tuple[PurgeItem, set[str]]:
    articles = session.execute(
        select(Article.id, Article.inbound_id).where(Article.ticket_id == ticket.id)
    ).all()
    article_ids = [a.id for a in articles]
    inbound_ids = {a.inbound_id for a in articles if a.inbound_id is not None}
    inbound_rows = session.execute(
        select(InboundMail.id, InboundMail.raw_sha256)
        .where(or_(InboundMail.ticket_id == ticket.id, InboundMail.id.in_(inbound_ids)))
        .order_by(InboundMail.id)
    ).all()
    attachment_hashes = list(
        session.scalars(
            select(Attachment.sha256)
            .where(Attachment.article_id.in_(article_ids))
            .order_by(Attachment.article_id, Attachment.id)
        )
    )
    item = PurgeItem(
        number=ticket.number,
        queue=queue.slug,
        closed_at=ticket.closed_at,
        articles=len(article_ids),
        attachments=len(attachment_hashes),
    )
    if dry_run:
        return item, set()
    session.add(
        TicketTombstone(
            number=ticket.number,
            queue=queue.slug,
            created_at=ticket.created_at,
            closed_at=ticket.closed_at,
            purged_at=now,
            purged_by=actor[:320],
            articles=len(article_ids),
            raw_sha256=[r.raw_sha256 for r in inbound_rows],
            attachment_sha256=attachment_hashes,
        )
    )
    requester_id = ticket.requester_id
    ticket_id = ticket.id
    session.expunge(ticket)  # deleted below with SQL; the ORM must not write it back
    # Children first, explicitly (the delete triggers keep SQLite's search index in step);
    # rows that only point at the ticket (audit log, liaison cases' source) are SET NULL by
    # their foreign keys.
    session.execute(delete(Attachment).where(Attachment.article_id.in_(article_ids)))
    session.execute(delete(Article).where(Article.ticket_id == ticket_id))
    session.execute(delete(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id))
    session.execute(delete(InboundMail).where(InboundMail.id.in_([r.id for r in inbound_rows])))
    session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ticket_id))
    session.execute(delete(Participant).where(Participant.ticket_id == ticket_id))
    session.execute(
        delete(TicketLink).where(
            or_(TicketLink.source_id == ticket_id, TicketLink.target_id == ticket_id)
        )
    )
    session.execute(delete(Ticket).where(Ticket.id == ticket_id))
    if requester_id is not None:
        _drop_unused_contact(session, requester_id)
    session.flush()
    return item, set(attachment_hashes)


def _drop_unused_contact(session: Session, contact_id: int) -> None:
    """The requester's address and name go with their last ticket, unless they are blocked
    (the block must outlive the tickets that led to it)."""
    used = session.scalar(select(exists().where(Ticket.requester_id == contact_id)))
    if not used:
        session.execute(delete(Contact).where(Contact.id == contact_id, Contact.blocked.is_(False)))


def _drop_unused_blobs(session: Session, hashes: set[str]) -> None:
    for sha in sorted(hashes):
        used = session.scalar(select(exists().where(Attachment.sha256 == sha)))
        if not used:
            session.execute(delete(Blob).where(Blob.sha256 == sha))
