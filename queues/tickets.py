"""Working a ticket: ownership, the answering lock, state, priority, queue, merges, links, notes.

Every service takes the session first and changes the ticket inside the caller's
transaction; each change writes a TicketEvent (actor: the agent's address) and, for a ticket
in a restricted queue, an audit event (queues.audit; never content). Bad input raises
`TicketError` (a ValueError) whose message can be shown to the agent as it is.

The answering lock says who is writing a reply right now. It lasts `LOCK_DURATION` and is
renewed while its holder works; an expired lock is free. Only its holder may send a reply
while it holds (queues.replies checks this inside the sending transaction); the holder
releases it, staff may break it.

Need to know holds here too: an agent can act only on tickets in queues they may see, can
move a ticket only to such a queue, and merge or link only tickets they may see both of.
Moving a ticket to a queue more people may see is a deliberate act: it needs a reason,
which is recorded in the history and counts as a triage false alarm (queues.triage.feedback).
Closing a ticket nobody has answered needs a reason too (the requester hears nothing).
The history rows of a merge or link name the other ticket by `ref_ticket_id` and a mark in
the text, never by number: others who look later may not see it (queues.present).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from queues.access import ROLE_ORDER, can_see_queue, is_restricted, role_at_least, ticket_for
from queues.audit import AuditAction, record
from queues.models import (
    Article,
    ArticleKind,
    Participant,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketState,
    User,
)
from queues.present import RESTRICTED, TICKET_MARK
from queues.reporter import status as reporter_status

LOCK_DURATION = timedelta(minutes=10)
MIN_PRIORITY = 1
MAX_PRIORITY = 5
MAX_NOTE_CHARS = 100_000
MAX_REASON_CHARS = 2000  # an agent's reason for a wider queue or a close without an answer
# States an agent may choose; "new" is only ever set by incoming mail.
AGENT_STATES = (TicketState.OPEN, TicketState.PENDING, TicketState.CLOSED)


class TicketError(ValueError):
    """A change that cannot be made; the message is meant for the agent."""


class LockHeld(TicketError):
    """Another agent is answering this ticket."""

    def __init__(self, holder: str, until: datetime) -> None:
        self.holder = holder
        self.until = until
        super().__init__(
            f"{holder} is answering this ticket until {until:%Y-%m-%d %H:%M} UTC; "
            "you cannot send a reply while they hold the lock"
        )


@dataclass(frozen=True)
class LockInfo:
    """Who holds a ticket's answering lock, and until when (UTC)."""

    user_id: int
    holder: str  # the holder's name, or address when they have none
    until: datetime


def display_name(user: User) -> str:
    return user.name or user.email


# --- helpers -------------------------------------------------------------------------------


def add_event(
    session: Session,
    ticket: Ticket,
    user: User,
    kind: str,
    detail: str,
    now: datetime,
    ref: Ticket | None = None,
) -> None:
    """One history row; a row about another ticket names it by `ref` and TICKET_MARK in
    `detail`, never by number (queues.present shows it only to those who may see it).

    A change of owner, state or queue may be news for the reporter: it marks the ticket
    for a status mail (queues.reporter.status decides, after the change is committed).
    """
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor=user.email,
            kind=kind,
            detail=detail,
            ref_ticket_id=ref.id if ref is not None else None,
        )
    )
    if kind in reporter_status.EVENT_KINDS:
        reporter_status.mark_due(session, ticket.id, now)


def audit_change(
    session: Session, user: User, ticket: Ticket, client: str | None, detail: str
) -> None:
    record(session, user, AuditAction.CHANGE, ticket, client, detail[:200])


def _change(
    session: Session,
    ticket: Ticket,
    user: User,
    now: datetime,
    kind: str,
    detail: str,
    client: str | None,
    audit_detail: str | None = None,
    ref: Ticket | None = None,
) -> None:
    """History and audit for one change; `audit_detail` when `detail` carries content."""
    ticket.updated_at = now
    add_event(session, ticket, user, kind, detail, now, ref)
    audit_change(
        session, user, ticket, client, audit_detail if audit_detail is not None else detail
    )
    session.flush()


def require_visible(user: User, ticket: Ticket) -> None:
    """Refuse an agent acting on a ticket they may not see (it does not exist for them)."""
    if not user.active or not can_see_queue(user.role, ticket.queue):
        raise TicketError("There is no such ticket.")


def _require_not_merged(session: Session, ticket: Ticket, user: User) -> None:
    """Refuse work on a merged ticket, naming where it went only if `user` may see it."""
    if ticket.merged_into_id is not None:
        target = session.get(Ticket, ticket.merged_into_id)
        if target is not None and user.active and can_see_queue(user.role, target.queue):
            where = f"ticket {target.number}: work on that one"
        else:
            where = f"{RESTRICTED}, which you cannot see"
        raise TicketError(f"This ticket was merged into {where}.")


def lock_for_update(session: Session, ticket: Ticket | int) -> Ticket:
    """Re-read `ticket` (or the ticket with this id) holding its row lock until the end of
    the transaction.

    PostgreSQL: SELECT ... FOR UPDATE, so two agents' transactions on one ticket take turns.
    SQLite has no row locks: its write transaction (BEGIN IMMEDIATE in the web UI and the
    runners) already serializes every writer.
    """
    ticket_id = ticket if isinstance(ticket, int) else ticket.id
    session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
    fresh = session.get(Ticket, ticket_id, populate_existing=True)
    if fresh is None:
        raise TicketError("There is no such ticket.")
    return fresh


def clean_reason(reason: str, what: str) -> str:
    """An agent's reason, trimmed; TicketError naming `what` needs it when it is empty."""
    text = reason.replace("\r\n", "\n").replace("\0", "").strip()
    if not text:
        raise TicketError(f"{what} needs a reason: say why.")
    if len(text) > MAX_REASON_CHARS:
        raise TicketError(f"The reason can have at most {MAX_REASON_CHARS:,} characters.")
    return text


def user_label(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return display_name(user) if user is not None else None


# --- ownership ------------------------------------------------------------------------------


def take(
    session: Session, ticket: Ticket, user: User, now: datetime, *, client: str | None = None
) -> None:
    """Make `user` the owner. Taking over from another agent is for staff only."""
    require_visible(user, ticket)
    if ticket.owner_id == user.id:
        raise TicketError("You already own this ticket.")
    previous = user_label(session, ticket.owner_id)
    if previous is not None and user.role is not Role.STAFF:
        raise TicketError(f"{previous} owns this ticket: ask them or staff to release it.")
    ticket.owner_id = user.id
    if ticket.state is TicketState.NEW:
        ticket.state = TicketState.OPEN
    detail = f"owner {previous} -> {display_name(user)}" if previous else "taken"
    _change(session, ticket, user, now, "owner", detail, client, "owner taken")


def release(
    session: Session, ticket: Ticket, user: User, now: datetime, *, client: str | None = None
) -> None:
    """Give up ownership (the owner, or staff for anyone); the owner's lock goes with it."""
    require_visible(user, ticket)
    if ticket.owner_id is None:
        raise TicketError("Nobody owns this ticket.")
    if ticket.owner_id != user.id and user.role is not Role.STAFF:
        raise TicketError("Only the owner or staff can release this ticket.")
    previous = user_label(session, ticket.owner_id) or "a former account"
    if ticket.locked_by_id == ticket.owner_id:
        ticket.locked_by_id = None
        ticket.locked_until = None
    ticket.owner_id = None
    _change(
        session,
        ticket,
        user,
        now,
        "owner",
        f"released by {display_name(user)} (was {previous})",
        client,
        "owner released",
    )


# --- the answering lock ---------------------------------------------------------------------


def current_lock(session: Session, ticket: Ticket, now: datetime) -> LockInfo | None:
    """The lock if someone holds it now; an expired lock counts as free."""
    if ticket.locked_by_id is None or ticket.locked_until is None or ticket.locked_until <= now:
        return None
    holder = user_label(session, ticket.locked_by_id) or "a former account"
    return LockInfo(ticket.locked_by_id, holder, ticket.locked_until)


def acquire_lock(
    session: Session,
    ticket: Ticket,
    user: User,
    now: datetime,
    *,
    duration: timedelta = LOCK_DURATION,
    client: str | None = None,
) -> datetime:
    """Take or renew the answering lock for `user`; LockHeld if another agent holds it.

    Returns until when it holds. Renewing writes no history; taking it does.
    """
    require_visible(user, ticket)
    _require_not_merged(session, ticket, user)
    held = current_lock(session, ticket, now)
    if held is not None and held.user_id != user.id:
        raise LockHeld(held.holder, held.until)
    ticket.locked_by_id = user.id
    ticket.locked_until = now + duration
    if held is None:
        _change(
            session,
            ticket,
            user,
            now,
            "lock",
            f"answering until {ticket.locked_until:%H:%M} UTC",
            client,
            "lock taken",
        )
    else:
        session.flush()
    return ticket.locked_until


def release_lock(
    session: Session, ticket: Ticket, user: User, now: datetime, *, client: str | None = None
) -> None:
    """Free the answering lock: its holder releases it, staff may break another's."""
    require_visible(user, ticket)
    held = current_lock(session, ticket, now)
    if held is None:
        if ticket.locked_by_id is not None:  # expired: tidy up quietly
            ticket.locked_by_id = None
            ticket.locked_until = None
            session.flush()
            return
        raise TicketError("Nobody is answering this ticket.")
    if held.user_id == user.id:
        kind, detail, audit_detail = "lock-released", "answering lock released", "lock released"
    elif user.role is Role.STAFF:
        kind, detail, audit_detail = "lock-broken", f"lock of {held.holder} broken", "lock broken"
    else:
        raise TicketError(f"{held.holder} holds the lock: only they or staff can release it.")
    ticket.locked_by_id = None
    ticket.locked_until = None
    _change(session, ticket, user, now, kind, detail, client, audit_detail)


# --- state and priority ---------------------------------------------------------------------


def parse_state(value: str) -> TicketState:
    try:
        state = TicketState(value.strip().lower())
    except ValueError:
        state = None
    if state not in AGENT_STATES:
        raise TicketError("Choose a state: open, pending or closed.")
    return state


def set_state(
    session: Session,
    ticket: Ticket,
    user: User,
    state: TicketState | str,
    now: datetime,
    *,
    pending_until: datetime | None = None,
    no_answer_reason: str = "",
    client: str | None = None,
) -> None:
    """Open (also: reopen), pending until a future date, or closed (with closed_at).

    Closing a ticket whose requester has had no answer from us (no reply sent; the
    automatic acknowledgement does not count) needs `no_answer_reason`, recorded in the
    history (not in the audit log: it may quote the report).
    """
    require_visible(user, ticket)
    new = parse_state(state) if isinstance(state, str) else state
    if new not in AGENT_STATES:
        raise TicketError("Choose a state: open, pending or closed.")
    if ticket.merged_into_id is not None and new is not TicketState.CLOSED:
        _require_not_merged(session, ticket, user)
    old = ticket.state
    why = ""
    if new is TicketState.CLOSED and old is not new and not answered(session, ticket):
        why = clean_reason(
            no_answer_reason, "Closing a ticket whose requester has had no answer from us"
        )
    if new is TicketState.PENDING:
        if pending_until is None:
            raise TicketError("Pending needs a date until which the ticket waits.")
        if pending_until.tzinfo is None:
            raise TicketError("The pending date needs a time zone.")
        if pending_until <= now:
            raise TicketError("The pending date must be in the future.")
        ticket.pending_until = pending_until
        ticket.closed_at = None
        detail = f"state {old.value} -> pending until {pending_until:%Y-%m-%d %H:%M} UTC"
    else:
        if new is old:
            raise TicketError(f"The ticket is already {new.value}.")
        ticket.pending_until = None
        ticket.closed_at = now if new is TicketState.CLOSED else None
        if new is TicketState.CLOSED:
            ticket.waiting_since = None  # closed: nobody is waiting for an answer any more
        if new is TicketState.CLOSED and ticket.locked_by_id is not None:
            ticket.locked_by_id = None
            ticket.locked_until = None
        detail = f"state {old.value} -> {new.value}"
    ticket.state = new
    if why:
        said = f"{detail} without an answer to the requester: {why}"
        _change(session, ticket, user, now, "state", said, client, f"{detail} (no answer)")
        return
    _change(session, ticket, user, now, "state", detail, client)


def answered(session: Session, ticket: Ticket) -> bool:
    """Whether an agent has written to the requester: a reply, whatever its delivery."""
    stmt = select(Article.id).where(
        Article.ticket_id == ticket.id, Article.kind == ArticleKind.OUTGOING
    )
    return session.scalar(stmt.limit(1)) is not None


def reopen(
    session: Session, ticket: Ticket, user: User, now: datetime, *, client: str | None = None
) -> None:
    set_state(session, ticket, user, TicketState.OPEN, now, client=client)


def parse_priority(value: str | int) -> int:
    try:
        priority = int(str(value).strip())
    except ValueError:
        priority = 0
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise TicketError(f"Priority must be a number from {MIN_PRIORITY} to {MAX_PRIORITY}.")
    return priority


def set_priority(
    session: Session,
    ticket: Ticket,
    user: User,
    priority: int | str,
    now: datetime,
    *,
    client: str | None = None,
) -> None:
    require_visible(user, ticket)
    new = parse_priority(priority)
    if new == ticket.priority:
        raise TicketError(f"The priority is already {new}.")
    old = ticket.priority
    ticket.priority = new
    _change(session, ticket, user, now, "priority", f"priority {old} -> {new}", client)


# --- queue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Who may see a queue: the active agents of each role that may (queues.access)."""

    queue: Queue
    counts: dict[Role, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        """E.g. "all volunteers, specialists and staff (12 agents)"."""
        roles = [f"{role.value}s" if role is not Role.STAFF else "staff" for role in self.counts]
        named = roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} and {roles[-1]}"
        total = self.total
        return f"all {named} ({total} agent{'' if total == 1 else 's'})"


def audience(session: Session, queue: Queue) -> Audience:
    """The active agents who may see `queue`, counted per role (lowest role first)."""
    roles = [r for r in ROLE_ORDER if role_at_least(r, queue.min_role)]
    rows = session.execute(
        select(User.role, func.count())
        .where(User.active.is_(True), User.role.in_(roles))
        .group_by(User.role)
    )
    found = {role: count for role, count in rows}
    return Audience(queue, {role: found.get(role, 0) for role in roles})


def widens(old: Queue, target: Queue) -> bool:
    """Whether moving from `old` to `target` lets more people see the ticket."""
    return not role_at_least(target.min_role, old.min_role)


def move(
    session: Session,
    ticket: Ticket,
    user: User,
    queue: Queue | str,
    now: datetime,
    *,
    reason: str = "",
    client: str | None = None,
) -> None:
    """Move to another queue `user` may see (never to one they cannot see).

    Moving to a queue more people may see (`widens`) is deliberate: it needs `reason`,
    recorded in the history and as a triage false alarm (queues.triage.feedback), and
    needs the old queue's role (a specialist or staff out of specialist-safety); it is in
    the audit log of the ticket. An owner or lock holder who cannot see the new queue
    loses the ticket.
    """
    require_visible(user, ticket)
    target = queue if isinstance(queue, Queue) else _queue_named(session, queue)
    if target is None or not can_see_queue(user.role, target):
        raise TicketError("There is no such queue.")
    old = ticket.queue
    if target.id == old.id:
        raise TicketError(f"The ticket is already in {old.name}.")
    if not role_at_least(user.role, old.min_role):  # cannot happen for a visible ticket
        raise TicketError("You may not move tickets out of this queue.")
    wider = widens(old, target)
    why = (
        clean_reason(reason, f"Moving to {target.name}, which more people may see,")
        if wider
        else ""
    )
    detail = f"queue {old.slug} -> {target.slug}"
    out_of_restricted = is_restricted(old) and wider
    kind = "queue-out-of-restricted" if out_of_restricted else "queue"
    audit_change(session, user, ticket, client, detail)  # under the old queue's rules
    ticket.queue = target
    ticket.queue_id = target.id
    if not is_restricted(old):
        audit_change(session, user, ticket, client, detail)  # and under the new one's
    for attr in ("owner_id", "locked_by_id"):
        holder_id = getattr(ticket, attr)
        holder = session.get(User, holder_id) if holder_id is not None else None
        if holder is not None and not can_see_queue(holder.role, target):
            setattr(ticket, attr, None)
            if attr == "locked_by_id":
                ticket.locked_until = None
    ticket.updated_at = now
    add_event(session, ticket, user, kind, detail, now)
    session.flush()
    if wider:
        # Imported here: the feedback module builds on this one (it moves tickets too).
        from queues.triage.feedback import record_false_alarm

        record_false_alarm(session, ticket, user, why, from_queue=old, now=now)


def _queue_named(session: Session, slug_or_id: str) -> Queue | None:
    value = slug_or_id.strip()
    if not value or len(value) > 64:
        return None
    if value.isdigit():
        return session.get(Queue, int(value))
    return session.scalar(select(Queue).where(Queue.slug == value))


# --- merge and link --------------------------------------------------------------------------


def _other_ticket(session: Session, user: User, number: str, ticket: Ticket) -> Ticket:
    number = number.strip().lstrip("#")
    if not number:
        raise TicketError("Give the number of the other ticket.")
    other = ticket_for(session, user, number)
    if other is None:
        raise TicketError(f"There is no ticket {number[:32]}.")
    if other.id == ticket.id:
        raise TicketError("That is this ticket.")
    return other


def merge(
    session: Session,
    source: Ticket,
    target_number: str,
    user: User,
    now: datetime,
    *,
    client: str | None = None,
) -> Ticket:
    """Merge `source` into the ticket numbered `target_number`; returns the target.

    The articles move to the target (ordered by id, so the thread stays in time order), the
    source's requester and participants may write into the target, and the source is
    closed with `merged_into_id` pointing at the target; both histories record it. A ticket
    cannot be merged into one that fewer people may see (its content would reach them).
    """
    require_visible(user, source)
    _require_not_merged(session, source, user)
    target = _other_ticket(session, user, target_number, source)
    if target.merged_into_id is not None:
        _require_not_merged(session, target, user)
    if not role_at_least(target.queue.min_role, source.queue.min_role):
        raise TicketError(
            f"Ticket {target.number} is in a queue more people may see: move it to "
            f"{source.queue.name} first, or merge the other way."
        )
    moved = list(session.scalars(select(Article).where(Article.ticket_id == source.id)))
    for article in moved:
        article.ticket_id = target.id
    session.expire(source, ["articles"])
    session.expire(target, ["articles"])
    emails = {p.email for p in target.participants}
    if target.requester is not None:
        emails.add(target.requester.email)
    incoming = [p.email for p in source.participants]
    if source.requester is not None:
        incoming.insert(0, source.requester.email)
    for email in incoming:
        if email not in emails:
            emails.add(email)
            session.add(Participant(ticket_id=target.id, email=email, role="merged"))
    waits = [w for w in (source.waiting_since, target.waiting_since) if w is not None]
    target.waiting_since = min(waits) if waits else None
    old_state = source.state
    source.state = TicketState.CLOSED
    source.closed_at = now
    source.pending_until = None
    source.waiting_since = None
    source.locked_by_id = None
    source.locked_until = None
    source.merged_into_id = target.id
    if target.state is TicketState.CLOSED:
        target.state = TicketState.OPEN
        target.closed_at = None
    target.updated_at = now
    _change(
        session,
        source,
        user,
        now,
        "merged",
        f"merged into {TICKET_MARK} ({len(moved)} articles moved; was {old_state.value})",
        client,
        f"merged into ticket id {target.id}",
        ref=target,
    )
    _change(
        session,
        target,
        user,
        now,
        "merged-from",
        f"{TICKET_MARK} merged into this one ({len(moved)} articles)",
        client,
        f"ticket id {source.id} merged in",
        ref=source,
    )
    return target


def link(
    session: Session,
    ticket: Ticket,
    other_number: str,
    user: User,
    now: datetime,
    *,
    client: str | None = None,
) -> Ticket:
    """Link two tickets as related (both must be visible to `user`); returns the other."""
    require_visible(user, ticket)
    other = _other_ticket(session, user, other_number, ticket)
    exists = session.scalar(
        select(TicketLink.id).where(
            TicketLink.kind == "related",
            or_(
                (TicketLink.source_id == ticket.id) & (TicketLink.target_id == other.id),
                (TicketLink.source_id == other.id) & (TicketLink.target_id == ticket.id),
            ),
        )
    )
    if exists is not None:
        raise TicketError(f"This ticket is already linked to {other.number}.")
    session.add(TicketLink(source_id=ticket.id, target_id=other.id, kind="related", created_at=now))
    _change(
        session,
        ticket,
        user,
        now,
        "link",
        f"linked to {TICKET_MARK}",
        client,
        f"linked to ticket id {other.id}",
        ref=other,
    )
    _change(
        session,
        other,
        user,
        now,
        "link",
        f"linked to {TICKET_MARK}",
        client,
        f"linked to ticket id {ticket.id}",
        ref=ticket,
    )
    return other


def related(session: Session, ticket: Ticket, user: User) -> list[Ticket]:
    """Tickets linked to `ticket` that `user` may see (hidden ones are left out)."""
    ids = set(
        session.scalars(select(TicketLink.target_id).where(TicketLink.source_id == ticket.id))
    ) | set(session.scalars(select(TicketLink.source_id).where(TicketLink.target_id == ticket.id)))
    if not ids:
        return []
    found = session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))
    return [t for t in found if user.active and can_see_queue(user.role, t.queue)]


# --- notes ---------------------------------------------------------------------------------


def add_note(
    session: Session,
    ticket: Ticket,
    user: User,
    text: str,
    now: datetime,
    *,
    client: str | None = None,
) -> Article:
    """An internal note: an article of kind "note", shown to agents, never mailed."""
    require_visible(user, ticket)
    body = text.replace("\r\n", "\n").replace("\0", "").strip()
    if not body:
        raise TicketError("Write something in the note.")
    if len(body) > MAX_NOTE_CHARS:
        raise TicketError(f"A note can have at most {MAX_NOTE_CHARS:,} characters.")
    note = Article(
        ticket_id=ticket.id,
        kind=ArticleKind.NOTE,
        from_email=user.email,
        from_name=user.name,
        subject="Internal note",
        date=now,
        content_type="text/plain",
        body_text=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    _change(session, ticket, user, now, "note", "internal note added", client)
    return note


# --- time-driven changes -------------------------------------------------------------------


def reopen_due_pending(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Pending tickets whose date has come are open again (as OTRS's "pending reminder").

    Run periodically by `switchboard work` and `serve`; returns the numbers reopened. Each
    gets a history entry by "system". The date is cleared, so a ticket reopens only once.
    """
    due = session.scalars(
        select(Ticket)
        .where(Ticket.state == TicketState.PENDING, Ticket.pending_until <= now)
        .order_by(Ticket.pending_until)
        .limit(limit)
    ).all()
    for ticket in due:
        when = ticket.pending_until
        ticket.state = TicketState.OPEN
        ticket.pending_until = None
        ticket.updated_at = now
        detail = f"state pending -> open (pending until {when:%Y-%m-%d %H:%M} UTC has come)"
        session.add(
            TicketEvent(ticket_id=ticket.id, at=now, actor="system", kind="state", detail=detail)
        )
        reporter_status.mark_due(session, ticket.id, now)
    session.flush()
    return [ticket.number for ticket in due]
