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

from sqlalchemy import Connection, bindparam, select

from queues.mail import IncomingMail
from queues.models import Article, OutboxMessage, table_of
from queues.numbers import find_tagged_numbers
from queues.rows import TicketRef, is_participant, ticket_by_id, ticket_by_numbers

# A thread longer than this is unusual; the newest references are the relevant ones.
MAX_REFERENCES = 50
# Merges chain (A into B, later B into C); a cycle cannot be made, but never loop on one.
MAX_MERGE_HOPS = 20

_A = table_of(Article)
_O = table_of(OutboxMessage)
_ARTICLE_BY_MESSAGE_ID = (
    select(_A.c.ticket_id)
    .where(_A.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(_A.c.id.desc())
    .limit(1)
)
_OUTBOX_BY_MESSAGE_ID = (
    select(_O.c.ticket_id)
    .where(_O.c.message_id.in_(bindparam("ids", expanding=True)), _O.c.ticket_id.is_not(None))
    .limit(1)
)


@dataclass(frozen=True)
class FollowupMatch:
    ticket: TicketRef
    via: str  # "references" or "tag"
    trusted: bool  # may the message be appended to this ticket?


def referenced_ids(mail: IncomingMail) -> list[str]:
    """Message-IDs this message answers, newest first, without repeats."""
    ids = [*mail.in_reply_to, *reversed(mail.references[-MAX_REFERENCES:])]
    if mail.is_bounce:
        # A bounce names the message that bounced in its enclosed copy, not in its headers.
        ids += [m for f in mail.forwarded for m in ([f.message_id] if f.message_id else [])]
    return list(dict.fromkeys(i for i in ids if i))


def ticket_by_message_ids(conn: Connection, ids: list[str]) -> TicketRef | None:
    """The ticket of the newest stored message (incoming or outgoing) among `ids`."""
    if not ids:
        return None
    ticket_id = conn.execute(_ARTICLE_BY_MESSAGE_ID, {"ids": ids}).scalar()
    if ticket_id is None:
        ticket_id = conn.execute(_OUTBOX_BY_MESSAGE_ID, {"ids": ids}).scalar()
    return ticket_by_id(conn, ticket_id) if ticket_id is not None else None


def may_write(conn: Connection, ticket: TicketRef, email: str) -> bool:
    """Is `email` the requester of `ticket` or one of its participants?"""
    email = email.lower()
    if ticket.requester_email is not None and ticket.requester_email.lower() == email:
        return True
    return is_participant(conn, ticket.id, email)


def surviving_ticket(conn: Connection, ticket: TicketRef) -> TicketRef:
    """The ticket that holds `ticket`'s thread now: itself, or where it was merged into."""
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into_id is None:
            break
        target = ticket_by_id(conn, ticket.merged_into_id)
        if target is None:
            break
        ticket = target
    return ticket


def find_followup(conn: Connection, mail: IncomingMail, tag_prefix: str) -> FollowupMatch | None:
    ticket = ticket_by_message_ids(conn, referenced_ids(mail))
    if ticket is not None:
        ticket = surviving_ticket(conn, ticket)
        return FollowupMatch(ticket=ticket, via="references", trusted=True)
    numbers = find_tagged_numbers(mail.subject, tag_prefix)
    if not numbers:
        return None
    ticket = ticket_by_numbers(conn, numbers)
    if ticket is None:
        return None
    # The merge made the old ticket's requester and participants participants of the
    # target, so the trust check below works on the target.
    ticket = surviving_ticket(conn, ticket)
    sender = mail.from_.email if mail.from_ else ""
    trusted = bool(sender) and may_write(conn, ticket, sender)
    return FollowupMatch(ticket=ticket, via="tag", trusted=trusted)
