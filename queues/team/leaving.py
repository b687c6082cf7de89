"""Leaving: suspending or removing an agent, at once and on the record.

Either way, in one transaction: the account stops signing in and every session of it ends
(`session_version`, webui.sessions: the next request of an open browser gets the sign-in
page); the answering locks it holds are released; the tickets it owns that are not closed
go back to their queue (owner cleared, a history row on each); its replies waiting for a
mentor are withdrawn (never sent); the agents it mentored lose their mentor, so staff
review their replies until a new one is chosen; and a departure row records why, who
decided, and what was handed back. The change is in the audit log.

Suspending can be undone (`enable`). Removing is for good: the password, two-factor
secret, recovery codes and set-password links are wiped, and the account cannot be
enabled again; its rows stay, because tickets' histories name it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from queues.access import disable_user, enable_user, is_restricted
from queues.accounts import hash_password
from queues.audit import AuditAction, record, record_command, record_staff_change
from queues.models import Ticket, TicketEvent, TicketState, User
from queues.team import twofactor
from queues.team.models import (
    AgentProfile,
    Departure,
    DepartureKind,
    HeldReply,
    HeldState,
    SetPasswordToken,
)
from queues.team.probation import withdraw_waiting
from queues.team.vetting import profile

MAX_REASON = 2000


class LeavingError(ValueError):
    """The agent cannot leave this way; the message is for staff."""


def suspend(
    session: Session,
    agent: User,
    by: User | str,
    reason: str,
    now: datetime,
    *,
    client: str | None = None,
    audit: bool = True,
) -> Departure:
    """Suspend `agent` (`by`: the staff member, or a label for the command line). `audit`
    False: the caller writes the audit event itself (the departure row has the details)."""
    return _leave(session, agent, by, reason, now, DepartureKind.SUSPENDED, client, audit)


def remove(
    session: Session,
    agent: User,
    by: User | str,
    reason: str,
    now: datetime,
    *,
    client: str | None = None,
    audit: bool = True,
) -> Departure:
    """Remove `agent` for good (their credentials are wiped; see the module docstring)."""
    departure = _leave(session, agent, by, reason, now, DepartureKind.REMOVED, client, audit)
    agent.password_hash = hash_password(secrets.token_urlsafe(32))  # nobody knows it
    twofactor.remove(session, agent)
    session.execute(
        update(SetPasswordToken)
        .where(SetPasswordToken.user_id == agent.id, SetPasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    profile(session, agent.id).removed = True
    session.flush()
    return departure


def enable(session: Session, agent: User) -> None:
    """Let a suspended agent sign in again; refused for a removed one."""
    found = session.get(AgentProfile, agent.id)
    if found is not None and found.removed:
        raise LeavingError(f"{agent.email} was removed: add them again as a new agent.")
    enable_user(session, agent)


def is_removed(session: Session, user_id: int) -> bool:
    found = session.get(AgentProfile, user_id)
    return found is not None and found.removed


def departures(session: Session, user_id: int) -> list[Departure]:
    stmt = select(Departure).where(Departure.user_id == user_id).order_by(Departure.id.desc())
    return list(session.scalars(stmt))


def _leave(
    session: Session,
    agent: User,
    by: User | str,
    reason: str,
    now: datetime,
    kind: DepartureKind,
    client: str | None,
    audit: bool,
) -> Departure:
    actor = by.email if isinstance(by, User) else by
    reason = reason.replace("\r\n", "\n").replace("\0", "").strip()
    if not reason:
        raise LeavingError("Say why: the reason is kept on the record.")
    if len(reason) > MAX_REASON:
        raise LeavingError(f"The reason can have at most {MAX_REASON:,} characters.")
    if isinstance(by, User) and by.id == agent.id:
        raise LeavingError("You cannot suspend or remove your own account.")
    if is_removed(session, agent.id):
        raise LeavingError(f"{agent.email} was already removed.")
    disable_user(session, agent)  # ends every session at once
    locks, returned = _hand_back_tickets(session, agent, by, actor, now, client)
    withdrawn = withdraw_waiting(session, agent, actor, now)
    _orphan_mentees(session, agent)
    departure = Departure(
        user_id=agent.id,
        kind=kind,
        reason=reason,
        at=now,
        by=actor,
        tickets_returned=returned,
        locks_released=locks,
        replies_withdrawn=withdrawn,
    )
    session.add(departure)
    detail = f"account {agent.email} {kind.value}: {returned} tickets back, {locks} locks freed"
    if audit and isinstance(by, User):
        record_staff_change(session, by, client, detail[:200])
    elif audit:
        record_command(session, detail[:200])
    session.flush()
    return departure


def _hand_back_tickets(
    session: Session,
    agent: User,
    by: User | str,
    actor: str,
    now: datetime,
    client: str | None,
) -> tuple[int, int]:
    """Release the agent's locks and put their open tickets back in the queue."""
    tickets = list(
        session.scalars(
            select(Ticket)
            .where((Ticket.locked_by_id == agent.id) | (Ticket.owner_id == agent.id))
            .order_by(Ticket.id)
            .with_for_update(of=Ticket)
        )
    )
    who = agent.name or agent.email
    locks = returned = 0
    for ticket in tickets:
        changes = []
        if ticket.locked_by_id == agent.id:
            if ticket.locked_until is not None and ticket.locked_until > now:
                locks += 1
            ticket.locked_by_id = None
            ticket.locked_until = None
            changes.append(("lock-released", f"answering lock of {who} released: they left"))
        if ticket.owner_id == agent.id and ticket.state is not TicketState.CLOSED:
            ticket.owner_id = None
            returned += 1
            changes.append(("owner", f"back in the queue: {who} left (was owner)"))
        if not changes:
            continue
        ticket.updated_at = now
        for kind, detail in changes:
            session.add(
                TicketEvent(ticket_id=ticket.id, at=now, actor=actor, kind=kind, detail=detail)
            )
            if isinstance(by, User) and is_restricted(ticket.queue):
                record(session, by, AuditAction.CHANGE, ticket, client, f"{kind}: agent left")
    session.flush()
    return locks, returned


def _orphan_mentees(session: Session, mentor: User) -> None:
    """The leaving agent's mentees have no mentor until staff choose one; staff review
    their waiting replies meanwhile (queues.team.probation)."""
    session.execute(
        update(AgentProfile).where(AgentProfile.mentor_id == mentor.id).values(mentor_id=None)
    )
    session.execute(
        update(HeldReply)
        .where(HeldReply.mentor_id == mentor.id, HeldReply.state == HeldState.WAITING)
        .values(mentor_id=None)
    )
