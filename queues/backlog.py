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

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
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
    first_only: bool = False,
) -> list[int]:
    """Claim up to `limit` due inbound messages; the caller commits, then processes them.

    An attempt is counted when a message is started. `first_only`: the claim counts it for
    the first message alone, and the caller counts each next one in the transaction that
    finishes the one before (queues.ingest.process_stored's `mark_next`), so a runner killed
    with a batch in hand has counted an attempt only for the message it was working on.
    Otherwise every claimed message counts one (callers that start them all at once).

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
    rows = {r.id: r for r in session.scalars(select(InboundMail).where(InboundMail.id.in_(ids)))}
    claimed: list[InboundMail] = []
    for row in (rows[i] for i in ids):  # in the claim's order: the first is started first
        if max_attempts is not None and row.attempts >= max_attempts:
            row.state = InboundState.QUARANTINED
            row.last_error = (
                f"processing never finished in {row.attempts} attempts "
                "(the runner died or ran past its lease each time)"
            )
            continue
        row.next_attempt_at = now + lease
        claimed.append(row)
    # Mail that was in hand when a runner died goes last: if that runner's death was no
    # accident of this message, the others should not wait behind it (stable sort).
    claimed.sort(key=lambda row: row.attempts)
    for row in claimed[:1] if first_only else claimed:
        row.attempts += 1
    return [row.id for row in claimed]


def mark_started(session: Session, inbound_id: int, lease_until: datetime | None = None) -> None:
    """Count an attempt for a claimed message about to be started (see claim_inbound).

    `lease_until`: the lease the caller's claim set; if another runner has claimed the
    message since (the lease ran out), it counted its own attempt and this one is not ours.
    """
    stmt = update(InboundMail).where(InboundMail.id == inbound_id)
    if lease_until is not None:
        stmt = stmt.where(InboundMail.next_attempt_at == lease_until)
    session.execute(stmt.values(attempts=InboundMail.attempts + 1))


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


def release_inbound(
    session: Session,
    ids: list[int],
    now: datetime | None = None,
    counted: Collection[int] | None = None,
) -> None:
    """Give back claimed messages that were not started (a runner stopping cleanly).

    The attempt counted for them is taken back: for all of `ids`, or only for those in
    `counted` (with claim_inbound's `first_only`, just the next one in line).
    """
    now = now or utcnow()
    for row in session.scalars(select(InboundMail).where(InboundMail.id.in_(ids))):
        if counted is None or row.id in counted:
            row.attempts = max(0, row.attempts - 1)
        row.next_attempt_at = now
