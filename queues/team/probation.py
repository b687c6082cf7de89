"""Probation with a mentor: a probationary agent's replies wait for the mentor, who approves
and sends them, edits and sends them, or returns them with a comment.

`queues.replies.send_reply` asks `holds_replies` before it writes anything for the
outbox; for an agent on probation it calls `hold` instead, so such a reply never reaches
the outbox before approval: the held row keeps what the agent typed (already checked as a
reply is), and `approve` later sends it through `send_reply` itself, as the agent's
reply, with `reviewed_by` set. Meanwhile the reply keeps the ticket's answering lock for
its author (for `HOLD_LOCK`, long enough for any mentor), so nobody else answers over it;
returning the reply frees the lock.

The mentor is told by mail that a reply waits (templates/mail/mentor_review_waiting/):
who wrote it and where to look, never the ticket's subject or the reporter's words. An
agent without a mentor (theirs left) has their replies reviewed by staff, who are told
instead. Staff may review any waiting reply; nobody reviews their own.

Staff end probation, and only when the agent's training checklist has no open item
(queues.team.checklist). The counts of approved, edited and returned replies stay on the
agent's page for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queues.access import can_see_queue, visible_queue_ids
from queues.models import Role, Ticket, TicketState, User
from queues.settings import Settings
from queues.team.checklist import open_items
from queues.team.models import AgentProfile, HeldReply, HeldState
from queues.team.notices import queue_notice
from queues.team.vetting import profile
from queues.tickets import TicketError, add_event, audit_change, require_visible

if TYPE_CHECKING:
    from queues.replies import Draft, SentReply

HOLD_LOCK = timedelta(days=14)
REVIEW_MAIL = "mentor_review_waiting"  # templates/mail/mentor_review_waiting/
MAX_COMMENT = 5000
MAX_STAFF_TOLD = 20


class ProbationError(ValueError):
    """A probation change that cannot be made; the message is for staff."""


@dataclass(frozen=True)
class Counts:
    waiting: int = 0
    approved: int = 0
    edited: int = 0
    returned: int = 0


def _profile(session: Session, user_id: int) -> AgentProfile | None:
    return session.get(AgentProfile, user_id)


def holds_replies(session: Session, user: User) -> bool:
    """Whether `user`'s replies wait for a mentor (they are on probation)."""
    found = _profile(session, user.id)
    return found is not None and found.on_probation


def _name(user: User) -> str:
    return user.name or user.email


# --- holding ---------------------------------------------------------------------------------


def hold(
    session: Session,
    ticket: Ticket,
    author: User,
    draft: Draft,
    settings: Settings,
    now: datetime,
    *,
    client: str | None = None,
) -> HeldReply:
    """Keep the reply for the mentor instead of the outbox (called by `send_reply`, which has
    checked the draft and the lock, inside its transaction and row lock)."""
    earlier = session.scalar(
        select(HeldReply.id).where(
            HeldReply.ticket_id == ticket.id,
            HeldReply.author_id == author.id,
            HeldReply.state == HeldState.WAITING,
        )
    )
    if earlier is not None:
        raise TicketError(
            "Your earlier reply to this ticket still waits for your mentor's review: "
            "they send it or give it back to you first."
        )
    found = _profile(session, author.id)
    mentor_id = found.mentor_id if found is not None else None
    held = HeldReply(
        ticket_id=ticket.id,
        author_id=author.id,
        mentor_id=mentor_id,
        state=HeldState.WAITING,
        body=draft.body.replace("\0", ""),
        subject=draft.subject,
        to=draft.to,
        cc=draft.cc,
        answer_to_id=draft.answer_to_id,
        ticket_state=draft.state.value if draft.state is not None else None,
        pending_until=draft.pending_until,
        created_at=now,
    )
    session.add(held)
    session.flush()
    # The reply keeps the answering lock while it waits (module docstring).
    keep_until = now + HOLD_LOCK
    ticket.locked_by_id = author.id
    if ticket.locked_until is None or ticket.locked_until < keep_until:
        ticket.locked_until = keep_until
    ticket.updated_at = now
    add_event(session, ticket, author, "reply-held", "reply held for the mentor's review", now)
    audit_change(session, author, ticket, client, f"reply held for review ({held.id})")
    _tell_reviewers(session, author, mentor_id, settings, now)
    session.flush()
    return held


def _tell_reviewers(
    session: Session, author: User, mentor_id: int | None, settings: Settings, now: datetime
) -> None:
    """Mail the mentor (or, without one, staff) that a reply waits; never its content."""
    mentor = session.get(User, mentor_id) if mentor_id is not None else None
    if mentor is not None and mentor.active:
        reviewers = [mentor]
    else:
        stmt = (
            select(User)
            .where(User.role == Role.STAFF, User.active.is_(True), User.id != author.id)
            .order_by(User.id)
            .limit(MAX_STAFF_TOLD)
        )
        reviewers = list(session.scalars(stmt))
    base = settings.web_base_url.rstrip("/")
    for reviewer in reviewers:
        queue_notice(
            session,
            REVIEW_MAIL,
            (reviewer.name, reviewer.email),
            {
                "reviewer_name": reviewer.name,
                "agent_name": _name(author),
                "as_mentor": reviewer.id == mentor_id,
                "link": f"{base}/mentor" if base else "",
            },
            settings,
            now,
        )


# --- who sees and reviews what ---------------------------------------------------------------


def may_review(session: Session, reviewer: User, held: HeldReply) -> bool:
    """The author's mentor or staff, who may see the ticket; never the author."""
    if not reviewer.active or reviewer.id == held.author_id:
        return False
    if reviewer.role is not Role.STAFF and held.mentor_id != reviewer.id:
        return False
    ticket = session.get(Ticket, held.ticket_id)
    return ticket is not None and can_see_queue(reviewer.role, ticket.queue)


def may_see(session: Session, viewer: User, held: HeldReply) -> bool:
    """Its author (while they may see the ticket), or whoever may review it."""
    if viewer.id == held.author_id:
        ticket = session.get(Ticket, held.ticket_id)
        return viewer.active and ticket is not None and can_see_queue(viewer.role, ticket.queue)
    return may_review(session, viewer, held)


def waiting_for(session: Session, reviewer: User) -> list[HeldReply]:
    """Replies waiting for `reviewer`: their mentees'; for staff every waiting reply. Only
    on tickets the reviewer may see, oldest first."""
    stmt = (
        select(HeldReply)
        .join(Ticket, Ticket.id == HeldReply.ticket_id)
        .where(
            HeldReply.state == HeldState.WAITING,
            HeldReply.author_id != reviewer.id,
            Ticket.queue_id.in_(visible_queue_ids(session, reviewer)),
        )
        .order_by(HeldReply.created_at, HeldReply.id)
    )
    if reviewer.role is not Role.STAFF:
        stmt = stmt.where(HeldReply.mentor_id == reviewer.id)
    return list(session.scalars(stmt))


def of_author(session: Session, author: User, limit: int = 50) -> list[HeldReply]:
    """The author's held replies, waiting first, then the latest decided."""
    stmt = (
        select(HeldReply)
        .join(Ticket, Ticket.id == HeldReply.ticket_id)
        .where(
            HeldReply.author_id == author.id,
            Ticket.queue_id.in_(visible_queue_ids(session, author)),
        )
        .order_by((HeldReply.state == HeldState.WAITING).desc(), HeldReply.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def counts(session: Session, author_id: int) -> Counts:
    stmt = (
        select(HeldReply.state, func.count())
        .where(HeldReply.author_id == author_id)
        .group_by(HeldReply.state)
    )
    by_state = {HeldState(state): int(n) for state, n in session.execute(stmt)}
    return Counts(
        waiting=by_state.get(HeldState.WAITING, 0),
        approved=by_state.get(HeldState.APPROVED, 0),
        edited=by_state.get(HeldState.EDITED, 0),
        returned=by_state.get(HeldState.RETURNED, 0),
    )


# --- deciding --------------------------------------------------------------------------------


def _decidable(session: Session, held: HeldReply, reviewer: User) -> tuple[Ticket, User]:
    if held.state is not HeldState.WAITING:
        raise TicketError(f"This reply was already {held.state.value} by {held.decided_by}.")
    if not may_review(session, reviewer, held):
        raise TicketError("There is no such reply waiting for you.")
    ticket = session.get(Ticket, held.ticket_id)
    author = session.get(User, held.author_id)
    if ticket is None or author is None:
        raise TicketError("There is no such reply waiting for you.")
    require_visible(reviewer, ticket)
    return ticket, author


def approve(
    session: Session,
    held: HeldReply,
    reviewer: User,
    settings: Settings,
    now: datetime,
    *,
    body: str | None = None,
    subject: str | None = None,
    client: str | None = None,
) -> SentReply:
    """Send the held reply as its author's (edited when `body` or `subject` differ from what
    the author wrote); TicketError (LockHeld) when it cannot be sent now."""
    # Imported here: queues.replies imports this module for its hook in send_reply.
    from queues.replies import Draft, HeldForReview, send_reply

    ticket, author = _decidable(session, held, reviewer)
    new_body = body.replace("\r\n", "\n") if body is not None else held.body
    new_subject = " ".join(subject.split()) if subject is not None else held.subject
    edited = new_body.strip() != held.body.replace("\r\n", "\n").strip() or (
        new_subject != held.subject
    )
    state = TicketState(held.ticket_state) if held.ticket_state else None
    pending_until = held.pending_until
    if state is TicketState.PENDING and (pending_until is None or pending_until <= now):
        # The date the author chose has passed while the reply waited: send it all the
        # same and leave the ticket open, rather than refuse the mentor.
        state, pending_until = None, None
    draft = Draft(
        body=new_body,
        subject=new_subject,
        to=held.to,
        cc=held.cc,
        answer_to_id=held.answer_to_id,
        state=state,
        pending_until=pending_until,
    )
    sent = send_reply(
        session, ticket, author, draft, settings, now, client=client, reviewed_by=reviewer
    )
    if isinstance(sent, HeldForReview):  # cannot happen: reviewed replies are never held
        raise TicketError("The reply was held again instead of sent.")
    held.state = HeldState.EDITED if edited else HeldState.APPROVED
    held.decided_at = now
    held.decided_by = reviewer.email
    held.article_id = sent.article_id
    how = "edited and sent" if edited else "approved and sent"
    add_event(session, ticket, reviewer, "reply-reviewed", f"reply of {_name(author)} {how}", now)
    audit_change(session, reviewer, ticket, client, f"held reply {held.id} {how}")
    session.flush()
    return sent


def return_reply(
    session: Session,
    held: HeldReply,
    reviewer: User,
    comment: str,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    """Give the reply back to its author with a comment; it is never sent, and the ticket's
    answering lock is freed (the author may write again)."""
    ticket, author = _decidable(session, held, reviewer)
    comment = comment.replace("\r\n", "\n").replace("\0", "").strip()
    if not comment:
        raise TicketError("Say what the agent should change: the comment is for them.")
    if len(comment) > MAX_COMMENT:
        raise TicketError(f"A comment can have at most {MAX_COMMENT:,} characters.")
    held.state = HeldState.RETURNED
    held.comment = comment
    held.decided_at = now
    held.decided_by = reviewer.email
    if ticket.locked_by_id == author.id:
        ticket.locked_by_id = None
        ticket.locked_until = None
    ticket.updated_at = now
    add_event(
        session, ticket, reviewer, "reply-returned", f"reply of {_name(author)} returned", now
    )
    audit_change(session, reviewer, ticket, client, f"held reply {held.id} returned")
    session.flush()


def withdraw_waiting(session: Session, author: User, by: str, now: datetime) -> int:
    """Withdraw the author's waiting replies (they are leaving); how many. Never sent."""
    found = list(
        session.scalars(
            select(HeldReply).where(
                HeldReply.author_id == author.id, HeldReply.state == HeldState.WAITING
            )
        )
    )
    for held in found:
        held.state = HeldState.WITHDRAWN
        held.decided_at = now
        held.decided_by = by
    session.flush()
    return len(found)


# --- probation itself ------------------------------------------------------------------------


def set_mentor(session: Session, agent: User, mentor: User | None) -> None:
    """Give `agent` a mentor (or none); their waiting replies go to the new mentor."""
    if mentor is not None and (mentor.id == agent.id or not mentor.active):
        raise ProbationError("Choose an active mentor other than the agent.")
    found = profile(session, agent.id)
    found.mentor_id = mentor.id if mentor is not None else None
    for held in session.scalars(
        select(HeldReply).where(
            HeldReply.author_id == agent.id, HeldReply.state == HeldState.WAITING
        )
    ):
        held.mentor_id = found.mentor_id
    session.flush()


def start(session: Session, agent: User, now: datetime) -> None:
    """Put `agent` on probation (their replies wait for a mentor from now on)."""
    found = profile(session, agent.id)
    if found.on_probation:
        raise ProbationError(f"{agent.email} is already on probation.")
    if found.mentor_id is None:
        raise ProbationError("Choose a mentor first: probation needs one.")
    found.on_probation = True
    found.probation_started_at = now
    found.probation_ended_at = None
    found.probation_ended_by = ""
    session.flush()


def end(session: Session, agent: User, by: User, now: datetime) -> None:
    """Staff end `agent`'s probation; refused while a checklist item is open for them or a
    reply of theirs still waits."""
    if by.role is not Role.STAFF:
        raise ProbationError("Only staff end probation.")
    found = _profile(session, agent.id)
    if found is None or not found.on_probation:
        raise ProbationError(f"{agent.email} is not on probation.")
    missing = open_items(session, agent.id)
    if missing:
        titles = ", ".join(item.title for item in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ProbationError(f"Probation cannot end while training items are open: {titles}{more}.")
    if counts(session, agent.id).waiting:
        raise ProbationError("A reply of theirs still waits for review: decide on it first.")
    found.on_probation = False
    found.probation_ended_at = now
    found.probation_ended_by = by.email
    session.flush()
