"""Access control: which agents may sign in, and which queues and tickets each may see.

Need to know (DESIGN.md): every queue has a lowest role that may see it (`Queue.min_role`);
roles rise volunteer < specialist < staff. A ticket in a queue an agent cannot see does not
exist for that agent: `ticket_for` returns None (the web UI answers 404), and lists, counts
and searches start from `visible_tickets`, never from a bare `select(Ticket)`.

Disabled accounts see nothing. Bumping `User.session_version` ends every web session of
the account (password change, disabling), see webui.sessions.
"""

from __future__ import annotations

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from queues.accounts import hash_password
from queues.models import Queue, Role, Ticket, User

ROLE_ORDER = (Role.VOLUNTEER, Role.SPECIALIST, Role.STAFF)

MIN_PASSWORD_LENGTH = 12
# argon2 copes with long input, but a megabyte "password" is an attack, not a password.
MAX_PASSWORD_LENGTH = 1024


def parse_role(value: str) -> Role:
    """The Role named `value` (case-insensitive), or ValueError listing the valid names."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in ROLE_ORDER)
        raise ValueError(f"unknown role {value!r}: use one of {names}") from None


def role_at_least(role: Role, minimum: Role) -> bool:
    return ROLE_ORDER.index(role) >= ROLE_ORDER.index(minimum)


def roles_seen_by(role: Role) -> tuple[Role, ...]:
    """The queue `min_role` values an agent with `role` may see."""
    return ROLE_ORDER[: ROLE_ORDER.index(role) + 1]


def can_see_queue(user_role: Role, queue: Queue) -> bool:
    return role_at_least(user_role, queue.min_role)


def set_min_role(queue: Queue, role: Role) -> None:
    """Set who may see `queue`, keeping `restricted` (= above volunteer) in step."""
    queue.min_role = role
    queue.restricted = role is not Role.VOLUNTEER


def is_restricted(queue: Queue) -> bool:
    """Whether tickets in `queue` are audited on every view (anything above volunteer)."""
    return queue.restricted or queue.min_role is not Role.VOLUNTEER


def visible_queues_query(user: User) -> Select[Queue]:
    stmt = select(Queue).order_by(Queue.id)
    if not user.active:
        return stmt.where(false())
    return stmt.where(Queue.min_role.in_(roles_seen_by(user.role)))


def visible_queues(session: Session, user: User) -> list[Queue]:
    return list(session.scalars(visible_queues_query(user)))


def visible_queue_ids(session: Session, user: User) -> set[int]:
    return set(session.scalars(visible_queues_query(user).with_only_columns(Queue.id)))


def visible_tickets(user: User) -> Select[Ticket]:
    """Tickets `user` may see: the starting point of every list, count and search."""
    visible = visible_queues_query(user).with_only_columns(Queue.id)
    return select(Ticket).where(Ticket.queue_id.in_(visible.scalar_subquery()))


def ticket_for(session: Session, user: User, number: str) -> Ticket | None:
    """The ticket with this number if `user` may see it; None if it is missing or hidden.

    The two cases are deliberately the same: a hidden ticket must look like no ticket.
    """
    number = number.strip()
    if not number or len(number) > 32:
        return None
    return session.scalar(visible_tickets(user).where(Ticket.number == number))


# --- Who may sign in ---------------------------------------------------------------------


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def check_new_password(password: str) -> None:
    """Raise ValueError with a reason the person can act on if `password` is unfit."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise ValueError("the password must not start or end with a space")


def end_sessions(user: User) -> None:
    """End every web session of `user` (they compare their version with this one)."""
    user.session_version += 1


def set_password(session: Session, user: User, password: str, *, one_time: bool = False) -> None:
    """Give `user` a new password and end all of their sessions.

    `one_time`: someone else chose or saw it (a reset by staff or the command): the agent
    must choose their own at the next sign-in (webui.account). The agent's own change
    clears that.
    """
    check_new_password(password)
    user.password_hash = hash_password(password)
    user.must_change_password = one_time
    end_sessions(user)
    session.flush()


def disable_user(session: Session, user: User) -> None:
    """Stop `user` from signing in and end their sessions at once. Idempotent."""
    user.active = False
    end_sessions(user)
    session.flush()


def set_role(session: Session, user: User, role: Role) -> None:
    """Give `user` another role; their sessions end, so the new rights apply from the next
    sign-in on and nothing shown under the old ones stays open in a browser."""
    if user.role is not role:
        user.role = role
        end_sessions(user)
    session.flush()


def enable_user(session: Session, user: User) -> None:
    """Let a disabled account sign in again (with its old password). Idempotent."""
    user.active = True
    session.flush()
