"""Follow-ups: which existing ticket, if any, an incoming message continues.

Two kinds of evidence (DESIGN.md "Rules that protect people"):
- In-Reply-To/References naming a Message-ID we stored (incoming or outgoing). Our own
  outgoing Message-IDs are random, so knowing one means having received our mail.
- Our tag in the subject. Ticket numbers can be guessed or quoted, so a match by tag alone
  is trusted only from the requester or a participant; anyone else starts a new ticket that
  is linked to the old one and never sees into it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.mail import IncomingMail
from queues.models import Article, OutboxMessage, Participant, Ticket
from queues.numbers import find_tagged_numbers

# A thread longer than this is unusual; the newest references are the relevant ones.
MAX_REFERENCES = 50


@dataclass(frozen=True)
class FollowupMatch:
    ticket: Ticket
    via: str  # "references" or "tag"
    trusted: bool  # may the message be appended to this ticket?


def referenced_ids(mail: IncomingMail) -> list[str]:
    """Message-IDs this message answers, newest first, without repeats."""
    ids = [*mail.in_reply_to, *reversed(mail.references[-MAX_REFERENCES:])]
    if mail.is_bounce:
        # A bounce names the message that bounced in its enclosed copy, not in its headers.
        ids += [m for f in mail.forwarded for m in ([f.message_id] if f.message_id else [])]
    return list(dict.fromkeys(i for i in ids if i))


def ticket_by_message_ids(session: Session, ids: list[str]) -> Ticket | None:
    if not ids:
        return None
    article = session.scalars(
        select(Article).where(Article.message_id.in_(ids)).order_by(Article.id.desc()).limit(1)
    ).first()
    if article is not None:
        return article.ticket
    out = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.message_id.in_(ids), OutboxMessage.ticket_id.is_not(None))
        .limit(1)
    ).first()
    return session.get(Ticket, out.ticket_id) if out is not None and out.ticket_id else None


def is_participant(session: Session, ticket: Ticket, email: str) -> bool:
    email = email.lower()
    if ticket.requester is not None and ticket.requester.email.lower() == email:
        return True
    found = session.scalar(
        select(Participant.id).where(Participant.ticket_id == ticket.id, Participant.email == email)
    )
    return found is not None


def find_followup(session: Session, mail: IncomingMail, tag_prefix: str) -> FollowupMatch | None:
    ticket = ticket_by_message_ids(session, referenced_ids(mail))
    if ticket is not None:
        return FollowupMatch(ticket=ticket, via="references", trusted=True)
    numbers = find_tagged_numbers(mail.subject, tag_prefix)
    if not numbers:
        return None
    ticket = session.scalars(select(Ticket).where(Ticket.number.in_(numbers)).limit(1)).first()
    if ticket is None:
        return None
    sender = mail.from_.email if mail.from_ else ""
    trusted = bool(sender) and is_participant(session, ticket, sender)
    return FollowupMatch(ticket=ticket, via="tag", trusted=trusted)
