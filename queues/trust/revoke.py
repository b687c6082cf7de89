"""Staff revoke a ticket's reply addresses (queues.trust.replytokens), with history and audit.

Revoking stops every `help+<token>@` address handed out for the ticket, and the Message-IDs
of the mails that carried them, from opening the ticket by themselves: after it, only the
requester or a participant whose sender standing holds can write into it (queues.followup).
The next mail to the requester carries a new address.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from queues.models import Role, Ticket, User
from queues.tickets import TicketError, add_event, audit_change
from queues.trust.replytokens import revoke


def revoke_reply_addresses(
    session: Session, ticket: Ticket, user: User, now: datetime, *, client: str | None = None
) -> int:
    """Revoke the ticket's live reply addresses (staff only); returns how many there were."""
    if user.role is not Role.STAFF:
        raise TicketError("Only staff can revoke a ticket's reply addresses.")
    count = revoke(session.connection(), ticket.id, user.email, now)
    add_event(
        session,
        ticket,
        user,
        "reply-address-revoked",
        f"{count} reply address{'es' if count != 1 else ''} revoked; the next mail to the "
        "requester carries a new one",
        now,
    )
    audit_change(session, user, ticket, client, "reply addresses revoked")
    ticket.updated_at = now
    return count
