"""Staff undoing what the abuse controls did, and agents marking a sender abusive.

- `release`: a held (or ignored) message goes back to the inbound backlog; its release is
  recorded first, so the controls let it through when the runner processes it (a ticket of
  its own, an acknowledgement unless its sender is still listed).
- `discard`: a held message stays stored but nothing more happens to it (recorded).
- `split_out`: a message the cap or a flood added to another ticket gets a ticket of its
  own, in the same queue, with its requester; the article moves there (the message is not
  copied) and both tickets' histories say so; a flood's count goes down.
- `mark_abusive`: an agent on a ticket marks its requester abusive (queues.abuse.lists).

Each is an `abuse_actions` row naming the actor, and the caller writes the staff audit
event. Everything works in the caller's transaction and takes `now`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from queues.abuse.lists import ListError, abusive_entry_for, add_rule
from queues.abuse.models import (
    ABUSIVE,
    CAPPED,
    COLLAPSED,
    DISCARDED,
    DONE,
    HELD,
    IGNORED,
    OPEN,
    RELEASED,
    SPLIT,
    AbuseAction,
    Flood,
    SenderRule,
)
from queues.access import can_see_queue
from queues.models import (
    Article,
    Contact,
    InboundMail,
    InboundState,
    Ticket,
    TicketEvent,
    TicketState,
    User,
)
from queues.numbers import allocate_number, clean_subject
from queues.present import TICKET_MARK
from queues.settings import Settings


class ActionError(ValueError):
    """Something staff asked that cannot be done; the message can be shown as it is."""


def _decision(
    session: Session, action: AbuseAction, kind: str, actor: User, now: datetime, detail: str
) -> AbuseAction:
    action.state = DONE
    row = AbuseAction(
        at=now,
        kind=kind,
        state=DONE,
        actor=actor.email,
        sender=action.sender,
        inbound_id=action.inbound_id,
        ticket_id=action.ticket_id,
        rule_id=action.rule_id,
        detail=detail,
        decides_id=action.id,
    )
    session.add(row)
    session.flush()
    return row


def release(session: Session, action: AbuseAction, actor: User, now: datetime) -> AbuseAction:
    """Let a held or ignored message through: back to the inbound backlog, recorded."""
    if action.kind not in (HELD, IGNORED) or action.inbound_id is None:
        raise ActionError("Only a held or ignored message can be released.")
    if _decided(session, action):
        raise ActionError("This message was released or discarded already.")
    inbound = session.get(InboundMail, action.inbound_id)
    if inbound is None:
        raise ActionError("The message is no longer stored.")
    row = _decision(session, action, RELEASED, actor, now, "released: processed as usual")
    # Back to the backlog, due now, with a fresh set of attempts, like a quarantined message
    # that staff run again (queues.ingest.requeue_quarantined).
    inbound.state = InboundState.NEW
    inbound.attempts = 0
    inbound.next_attempt_at = now
    session.flush()
    return row


def discard(session: Session, action: AbuseAction, actor: User, now: datetime) -> AbuseAction:
    """Decide that a held message stays held: stored, no ticket, nothing sent."""
    if action.kind != HELD or action.state != OPEN:
        raise ActionError("Only a message waiting for a decision can be discarded.")
    return _decision(session, action, DISCARDED, actor, now, "discarded: kept, no ticket")


def _decided(session: Session, action: AbuseAction) -> bool:
    found = session.scalar(
        select(AbuseAction.id).where(
            AbuseAction.decides_id == action.id,
            AbuseAction.kind.in_((RELEASED, DISCARDED, SPLIT)),
        )
    )
    return found is not None


def split_out(
    session: Session, action: AbuseAction, actor: User, settings: Settings, now: datetime
) -> Ticket:
    """Give a capped or collapsed message a ticket of its own; returns the new ticket."""
    if action.kind not in (CAPPED, COLLAPSED) or action.article_id is None:
        raise ActionError("Only a message the cap or a flood added to a ticket can be split out.")
    if _decided(session, action):
        raise ActionError("This message was split out already.")
    article = session.get(Article, action.article_id)
    host = session.get(Ticket, action.ticket_id) if action.ticket_id is not None else None
    if article is None or host is None or article.ticket_id != host.id:
        raise ActionError("The message is no longer in the ticket it was added to.")
    if not can_see_queue(actor.role, host.queue):
        raise ActionError("There is no such ticket.")
    requester = session.scalar(select(Contact).where(Contact.email == action.sender.lower()))
    ticket = Ticket(
        number=allocate_number(session),
        subject=clean_subject(article.subject, settings.ticket_tag_prefix)[:2000],
        queue_id=host.queue_id,
        state=TicketState.NEW,
        priority=host.priority,
        requester_id=requester.id if requester is not None else None,
        triage_reasons=list(host.triage_reasons),
        created_at=now,
        updated_at=now,
        waiting_since=now,
    )
    session.add(ticket)
    session.flush()
    article.ticket_id = ticket.id
    if action.kind == COLLAPSED:
        session.execute(
            update(Flood).where(Flood.ticket_id == host.id).values(reports=Flood.reports - 1)
        )
    what = "the cap" if action.kind == CAPPED else "a flood"
    for mine, other, detail in (
        (host, ticket, f"a message added here by {what} was split out into {TICKET_MARK}"),
        (ticket, host, f"split out of {TICKET_MARK}, where {what} had added it"),
    ):
        session.add(
            TicketEvent(
                ticket_id=mine.id,
                at=now,
                actor=actor.email,
                kind="split",
                detail=detail,
                ref_ticket_id=other.id,
            )
        )
    row = _decision(session, action, SPLIT, actor, now, f"split out into ticket {ticket.number}")
    row.ticket_id = ticket.id
    session.flush()
    return ticket


def mark_abusive(
    session: Session, ticket: Ticket, actor: User, reason: str, now: datetime
) -> SenderRule:
    """Mark the ticket's requester abusive: no more automatic mail, new reports held."""
    if ticket.requester is None:
        raise ListError("This ticket has no requester address to mark.")
    email = ticket.requester.email
    if abusive_entry_for(session, email, now) is not None:
        raise ListError("This sender is marked abusive already.")
    rule = add_rule(session, ABUSIVE, email, reason, actor.email, now, ticket_id=ticket.id)
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor=actor.email,
            kind="abusive",
            detail="sender marked abusive: no automatic mail, new reports held for staff",
        )
    )
    session.flush()
    return rule


def open_actions(session: Session, limit: int = 200) -> list[AbuseAction]:
    """Held messages waiting for staff, oldest first."""
    stmt = (
        select(AbuseAction)
        .where(AbuseAction.state == OPEN)
        .order_by(AbuseAction.at, AbuseAction.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def recent_actions(session: Session, limit: int = 100) -> list[AbuseAction]:
    """The record, newest first."""
    stmt = select(AbuseAction).order_by(AbuseAction.at.desc(), AbuseAction.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def decided_ids(session: Session, ids: list[int]) -> set[int]:
    """Which of these actions staff already decided (released, discarded, split out)."""
    if not ids:
        return set()
    return set(
        session.scalars(
            select(AbuseAction.decides_id).where(
                AbuseAction.decides_id.in_(ids),
                AbuseAction.kind.in_((RELEASED, DISCARDED, SPLIT)),
            )
        )
    )
