"""Status links: `/status/<token>`, where a reporter sees how their report stands.

Every mail to the reporter (the acknowledgement, each status mail, a new link on request)
carries a fresh token: 160 random bits, URL-safe base64 (27 characters), of which only the
SHA-256 is stored (`StatusToken`), as for reply addresses (queues.trust.replytokens). A
token opens its ticket until staff revoke the ticket's links; the next mail then carries a
new one, and a reporter can ask for one (webui.status: the address and the number must
match the ticket's requester, and the link goes only to that address).

The page shows the state as the reporter knows it and nothing else: received, being handled,
waiting for you, closed (`reporter_state`). No content, no names, no queue: whoever holds the
link (someone who read the reporter's mail) learns no more than that. A ticket merged into
another shows the state of the one that now holds its messages, under its own number.

Links are absolute URLs from `web_base_url` (queues.settings); without it, a mail is sent
without a link unless the caller knows the address it was asked on (the public form).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from queues.models import Ticket, TicketState, table_of, utcnow
from queues.reporter.models import StatusToken

TOKEN_BYTES = 20  # 160 bits
TOKEN_LENGTH = 27  # base64url without padding
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_MERGE_HOPS = 20

_ST = table_of(StatusToken)


class ReporterState(enum.StrEnum):
    """A ticket's state as the reporter sees it."""

    RECEIVED = "received"
    HANDLED = "handled"
    WAITING = "waiting"
    CLOSED = "closed"


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def well_formed(token: str) -> bool:
    return len(token) == TOKEN_LENGTH and set(token) <= _ALPHABET


def issue(conn: Connection, ticket_id: int, now: datetime | None = None) -> str:
    """A new token for `ticket_id`, stored hashed; the caller puts it in one mail."""
    token = new_token()
    conn.execute(
        insert(_ST),
        {"ticket_id": ticket_id, "token_sha256": token_hash(token), "created_at": now or utcnow()},
    )
    return token


def status_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/status/{token}"


def link(conn: Connection, ticket_id: int, base_url: str, now: datetime | None = None) -> str:
    """A fresh status link for a mail to the reporter; "" when no base URL is known."""
    if not base_url:
        return ""
    return status_url(base_url, issue(conn, ticket_id, now))


def ticket_of(session: Session, token: str) -> Ticket | None:
    """The ticket a token opens (None when unknown, malformed or revoked)."""
    if not well_formed(token):
        return None
    row = session.execute(
        select(_ST.c.ticket_id, _ST.c.revoked_at).where(_ST.c.token_sha256 == token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return session.get(Ticket, row.ticket_id)


def holding_ticket(session: Session, ticket: Ticket) -> Ticket:
    """The ticket that now holds `ticket`'s messages (itself unless it was merged)."""
    current = ticket
    for _ in range(MAX_MERGE_HOPS):
        if current.merged_into_id is None:
            return current
        target = session.get(Ticket, current.merged_into_id)
        if target is None:
            return current
        current = target
    return current


def reporter_state(ticket: Ticket) -> ReporterState:
    if ticket.state is TicketState.CLOSED:
        return ReporterState.CLOSED
    if ticket.state is TicketState.PENDING:
        return ReporterState.WAITING
    if ticket.owner_id is not None or ticket.state is TicketState.OPEN:
        return ReporterState.HANDLED
    return ReporterState.RECEIVED


@dataclass(frozen=True)
class StatusView:
    """All the status page shows (plain data: no ticket object reaches the template)."""

    ticket_id: int  # the ticket the link was for (messages go there, through its merges)
    number: str  # the reporter's own number
    state: ReporterState
    language: str | None


def view(session: Session, token: str) -> StatusView | None:
    ticket = ticket_of(session, token)
    if ticket is None:
        return None
    holder = holding_ticket(session, ticket)
    return StatusView(ticket.id, ticket.number, reporter_state(holder), ticket.language)


def revoke(conn: Connection, ticket_id: int, actor: str, now: datetime | None = None) -> int:
    """Revoke every live status link of a ticket; returns how many there were."""
    result = conn.execute(
        update(_ST)
        .where(_ST.c.ticket_id == ticket_id, _ST.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow(), revoked_by=actor[:320])
    )
    return int(result.rowcount or 0)


def live_links(conn: Connection, ticket_id: int) -> int:
    rows = conn.execute(
        select(_ST.c.id).where(_ST.c.ticket_id == ticket_id, _ST.c.revoked_at.is_(None))
    ).all()
    return len(rows)
