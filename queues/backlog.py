"""Claiming work from the inbound and outbox backlogs, for any number of runners at once.

A claim is a lease, in the manner of GNU Mailman's switchboard: in one short transaction
a runner picks due rows (PostgreSQL: FOR UPDATE SKIP LOCKED, so runners never wait on one
another; SQLite: the write lock taken by BEGIN IMMEDIATE serializes claims), counts the
attempt and pushes `next_attempt_at` past the lease, then commits. The row is then worked
on outside that transaction. If the runner dies, nothing is lost: the lease runs out and
another runner takes the row; the attempt already counted keeps a poison message from
crash-looping forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from queues.models import InboundMail, InboundState, OutboxMessage, OutboxState, utcnow

DEFAULT_LEASE = timedelta(minutes=5)


def _lock(session: Session, stmt: Select[int]) -> Select[int]:
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def retry_delay(attempts: int, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Exponential backoff: 30 s, 1 min, 2 min, ... at most an hour."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def claim_inbound(
    session: Session,
    limit: int = 10,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    max_attempts: int | None = None,
) -> list[int]:
    """Claim up to `limit` due inbound messages; the caller commits, then processes them.

    A due message that has already had `max_attempts` attempts is quarantined here instead:
    each of them ended without a recorded outcome, so processing it kills the process (or
    outlives the lease), and a fresh attempt would only do that again.
    """
    now = now or utcnow()
    stmt = (
        select(InboundMail.id)
        .where(
            InboundMail.state.in_((InboundState.NEW, InboundState.FAILED)),
            InboundMail.next_attempt_at <= now,
        )
        .order_by(InboundMail.next_attempt_at, InboundMail.id)
        .limit(limit)
    )
    ids = list(session.scalars(_lock(session, stmt)))
    claimed = []
    for row in session.scalars(select(InboundMail).where(InboundMail.id.in_(ids))):
        if max_attempts is not None and row.attempts >= max_attempts:
            row.state = InboundState.QUARANTINED
            row.last_error = (
                f"processing never finished in {row.attempts} attempts "
                "(the runner died or ran past its lease each time)"
            )
            continue
        row.attempts += 1
        row.next_attempt_at = now + lease
        claimed.append(row.id)
    return sorted(claimed, key=ids.index)


def claim_outbox(
    session: Session, limit: int = 20, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
) -> list[int]:
    """Claim up to `limit` due outgoing messages; the caller commits, then sends them."""
    now = now or utcnow()
    stmt = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state.in_((OutboxState.QUEUED, OutboxState.SENDING)),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    ids = list(session.scalars(_lock(session, stmt)))
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        row.attempts += 1
        row.state = OutboxState.SENDING
        row.next_attempt_at = now + lease
    return ids


def release_inbound(session: Session, ids: list[int], now: datetime | None = None) -> None:
    """Give back claimed messages that were not started (a runner stopping cleanly)."""
    now = now or utcnow()
    for row in session.scalars(select(InboundMail).where(InboundMail.id.in_(ids))):
        row.attempts = max(0, row.attempts - 1)
        row.next_attempt_at = now
