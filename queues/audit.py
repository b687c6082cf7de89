"""The audit log of restricted tickets: who did what to which ticket, when, from where.

Every view, download, change and export of a ticket in a restricted queue
(specialist-safety, police-liaison: anything above volunteer) is recorded. The log never
holds ticket content: `detail` is a short label such as "attachment 12" or
"state open -> closed", never a subject, body, name or address from the ticket.
"""

from __future__ import annotations

import enum
import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.access import is_restricted
from queues.models import AuditEvent, Ticket, User

MAX_DETAIL = 200


class AuditAction(enum.StrEnum):
    VIEW = "view"  # the ticket's page, thread or history was shown
    DOWNLOAD = "download"  # an attachment or raw message left the system
    CHANGE = "change"  # state, queue, priority, reply, note...
    EXPORT = "export"  # an evidence package
    READ_AUDIT = "read-audit"  # staff read this ticket's audit log
    STAFF = "staff"  # a staff change that belongs to no ticket: templates, rules, mail queues


def _client(remote_addr: str | None) -> str | None:
    if remote_addr is None or remote_addr == "":
        return None
    try:
        return str(ipaddress.ip_address(remote_addr.strip()))
    except ValueError:
        raise ValueError(f"not an IP address: {remote_addr[:60]!r}") from None


def _detail(detail: str) -> str:
    if len(detail) > MAX_DETAIL:
        raise ValueError(f"audit detail longer than {MAX_DETAIL} characters (never content)")
    if any(ord(c) < 32 for c in detail):
        raise ValueError("audit detail must be one line without control characters")
    return detail


def record(
    session: Session,
    user: User,
    action: AuditAction | str,
    ticket: Ticket,
    remote_addr: str | None,
    detail: str = "",
) -> AuditEvent | None:
    """Add an audit event for `ticket` if it is in a restricted queue; None otherwise.

    The event is only added to `session`: it is written with the caller's transaction, so
    a change and its audit event commit together (or not at all).
    """
    action = AuditAction(action)
    event = AuditEvent(
        actor=user.email,
        action=action.value,
        ticket_id=ticket.id,
        client=_client(remote_addr),
        detail=_detail(detail),
    )
    if not is_restricted(ticket.queue):
        return None
    session.add(event)
    session.flush()
    return event


def record_staff_change(
    session: Session, user: User, remote_addr: str | None, detail: str
) -> AuditEvent:
    """Add an audit event for a staff change outside any ticket (a reply template, a routing
    rule, a quarantined message re-run), in the caller's transaction. `detail` names what
    changed ("routing rule 4 disabled"), never mail content."""
    event = AuditEvent(
        actor=user.email,
        action=AuditAction.STAFF.value,
        ticket_id=None,
        client=_client(remote_addr),
        detail=_detail(detail),
    )
    session.add(event)
    session.flush()
    return event


def record_command(session: Session, detail: str) -> AuditEvent:
    """An audit event for an account change made with the `switchboard` command; the actor
    is the operating-system account that ran it (there is no signed-in agent)."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        who = "unknown"
    event = AuditEvent(
        actor=f"command:{who}"[:320],
        action=AuditAction.STAFF.value,
        ticket_id=None,
        client="local",
        detail=_detail(detail),
    )
    session.add(event)
    session.flush()
    return event


def ticket_audit_log(session: Session, ticket: Ticket) -> list[AuditEvent]:
    """The ticket's audit events, oldest first (who, when, what, from where)."""
    stmt = select(AuditEvent).where(AuditEvent.ticket_id == ticket.id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))
