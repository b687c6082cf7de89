"""Follow-ups: which existing ticket, if any, an incoming message continues, and whether it
may be written into it.

The trust rules (DESIGN.md "Rules that protect people", issue 8):

1. **Reply token.** Mail to a valid `help+<token>@` address of ours (queues.trust.
   replytokens) continues that ticket, from whichever address: the token is random and was
   sent only to the people we wrote to. A revoked or unknown token counts for nothing: the
   message is mail to the plain address.
2. **Our own Message-IDs.** In-Reply-To/References naming a mail *we* sent (an automatic or
   an agent's article, or the outbox) continue its ticket: our Message-IDs are random and
   were sent only to the recipients of that mail. Once staff revoke a ticket's reply
   addresses, the Message-IDs sent with them lose that standing too (rule 3 applies).
3. **Anything anyone can know**: a Message-ID of a message we *received* (chosen by its
   sender, seen by every server on the way) or our tag in the subject (ticket numbers are
   sequential and quoted in every acknowledgement). Such a match is trusted only when the
   sender is the ticket's requester or a participant *and* may be believed
   (queues.trust.verdict.sender_standing: sender authentication did not fail, and From's
   domain aligns with the envelope sender's or with a domain that authenticated the
   message). Anyone else starts a new ticket that is linked to the old one and never sees
   into it (queues.ingest).

The address compared is `mail.requester` (who wrote it, for answering), else From.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, case, select

from queues.mail import Address, IncomingMail
from queues.models import Article, ArticleKind, OutboxMessage, table_of
from queues.numbers import find_tagged_numbers
from queues.present import TICKET_MARK
from queues.rows import TicketRef, is_participant, ticket_by_id, ticket_by_numbers
from queues.settings import Settings
from queues.trust import replytokens
from queues.trust.models import ReplyToken
from queues.trust.verdict import AuthVerdict, Standing, sender_standing

# A thread longer than this is unusual; the newest references are the relevant ones.
MAX_REFERENCES = 50
# Merges chain (A into B, later B into C); a cycle cannot be made, but never loop on one.
MAX_MERGE_HOPS = 20

_A = table_of(Article)
_O = table_of(OutboxMessage)
_RT = table_of(ReplyToken)
_OURS = (ArticleKind.AUTO, ArticleKind.OUTGOING)
# One statement: the newest of our own articles among the ids if there is one, else the
# newest received one; with whether the reply address sent with it was revoked.
_ARTICLE_BY_MESSAGE_ID = (
    select(_A.c.ticket_id, _A.c.kind, _RT.c.revoked_at)
    .select_from(_A.outerjoin(_RT, _RT.c.message_id == _A.c.message_id))
    .where(_A.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(case((_A.c.kind.in_(_OURS), 0), else_=1), _A.c.id.desc())
    .limit(1)
)
_OUTBOX_BY_MESSAGE_ID = (
    select(_O.c.ticket_id, _RT.c.revoked_at)
    .select_from(_O.outerjoin(_RT, _RT.c.message_id == _O.c.message_id))
    .where(_O.c.message_id.in_(bindparam("ids", expanding=True)), _O.c.ticket_id.is_not(None))
    .limit(1)
)

VIA_TOKEN = "reply address"  # noqa: S105 (not a password)
VIA_OUR_REFERENCES = "references"  # to a mail we sent
VIA_THEIR_REFERENCES = "references to a received message"
VIA_TAG = "tag"


@dataclass(frozen=True)
class FollowupMatch:
    ticket: TicketRef
    via: str  # one of the VIA_* values
    trusted: bool  # may the message be appended to this ticket?
    # When not trusted: why, for the new ticket's history; the ticket is named only by the
    # mark (queues.present.TICKET_MARK), so pages name it only to those who may see it.
    why_not: str = ""


@dataclass(frozen=True)
class Sender:
    """Who a message says it is from, and how far that may be believed."""

    address: Address | None
    standing: Standing

    @property
    def email(self) -> str:
        return self.address.email if self.address else ""


def claimed_sender(
    mail: IncomingMail, envelope_from: str | None, verdict: AuthVerdict | None
) -> Sender:
    address = mail.requester or mail.from_
    if address is None:
        return Sender(None, Standing.UNPROVEN)
    return Sender(address, sender_standing(address.email, envelope_from, verdict))


def referenced_ids(mail: IncomingMail) -> list[str]:
    """Message-IDs this message answers, newest first, without repeats."""
    ids = [*mail.in_reply_to, *reversed(mail.references[-MAX_REFERENCES:])]
    if mail.is_bounce:
        # A bounce names the message that bounced in its enclosed copy, not in its headers.
        ids += [m for f in mail.forwarded for m in ([f.message_id] if f.message_id else [])]
    return list(dict.fromkeys(i for i in ids if i))


@dataclass(frozen=True)
class ReferencedTicket:
    ticket: TicketRef
    ours: bool  # through a mail we sent whose reply address was not revoked


def ticket_by_message_ids(conn: Connection, ids: list[str]) -> ReferencedTicket | None:
    """The ticket of a stored message among `ids`: one we sent first, else one we received."""
    if not ids:
        return None
    article = conn.execute(_ARTICLE_BY_MESSAGE_ID, {"ids": ids}).first()
    if article is not None:
        ticket_id, ours = article.ticket_id, article.kind in _OURS and article.revoked_at is None
    else:
        sent = conn.execute(_OUTBOX_BY_MESSAGE_ID, {"ids": ids}).first()
        if sent is None:
            return None
        ticket_id, ours = sent.ticket_id, sent.revoked_at is None
    ticket = ticket_by_id(conn, ticket_id)
    return ReferencedTicket(ticket, ours) if ticket is not None else None


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


def token_addresses(mail: IncomingMail, recipients: Sequence[str]) -> list[str]:
    """Where a reply token can be: the envelope, then the headers naming the recipient."""
    return [*recipients, *mail.delivered_to, *(a.email for a in (*mail.to, *mail.cc))]


def find_followup(
    conn: Connection,
    mail: IncomingMail,
    settings: Settings,
    *,
    recipients: Sequence[str] = (),
    sender: Sender | None = None,
) -> FollowupMatch | None:
    """The ticket `mail` continues and whether it may be written into (rules above)."""
    tokens = replytokens.tokens_in(token_addresses(mail, recipients), settings.all_own_addresses)
    if tokens:
        found = replytokens.lookup(conn, tokens)
        ticket = ticket_by_id(conn, found.ticket_id) if found.ticket_id is not None else None
        if ticket is not None:
            return FollowupMatch(surviving_ticket(conn, ticket), VIA_TOKEN, trusted=True)
    sender = sender or claimed_sender(mail, None, None)
    referenced = ticket_by_message_ids(conn, referenced_ids(mail))
    if referenced is not None:
        ticket = surviving_ticket(conn, referenced.ticket)
        if referenced.ours:
            return FollowupMatch(ticket, VIA_OUR_REFERENCES, trusted=True)
        return _checked(conn, ticket, VIA_THEIR_REFERENCES, sender)
    numbers = find_tagged_numbers(mail.subject, settings.ticket_tag_prefix)
    if not numbers:
        return None
    ticket = ticket_by_numbers(conn, numbers)
    if ticket is None:
        return None
    # The merge made the old ticket's requester and participants participants of the
    # target, so the trust check works on the target.
    return _checked(conn, surviving_ticket(conn, ticket), VIA_TAG, sender)


def _checked(conn: Connection, ticket: TicketRef, via: str, sender: Sender) -> FollowupMatch:
    """A match anyone could have made: trusted only from a believed requester or participant."""
    what = f"the tag of {TICKET_MARK}" if via == VIA_TAG else f"a message of {TICKET_MARK}"
    if not sender.email or not may_write(conn, ticket, sender.email):
        why = f"the message quoted {what}; the sender is not its requester or a participant"
        return FollowupMatch(ticket, via, trusted=False, why_not=why)
    if not sender.standing.believed:
        why = (
            f"the message quoted {what} from the requester's or a participant's address, "
            f"but the sender is {sender.standing.value} "
            + (
                "(sender authentication failed)"
                if sender.standing is Standing.FAILED
                else "(its envelope sender is another domain's)"
            )
        )
        return FollowupMatch(ticket, via, trusted=False, why_not=why)
    return FollowupMatch(ticket, via, trusted=True)
