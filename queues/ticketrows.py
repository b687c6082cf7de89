"""The ticket list of `switchboard tickets`, read with SQLAlchemy Core alone.

Its one job: list tickets (newest first, by queue and state) as the plain data of the
command contract, without importing the ORM models. Mapping some sixty model classes costs
a command about a third of a second before it reads a row, which the operator's quickest
look at the queue should not pay. The few columns read here are declared as light
`table()` constructs; tests/unit/queues/test_ticketrows.py checks them against the models'
tables and checks that every row equals `queues.present.ticket_summary` of the same ticket,
whose shape is `queues.ticketsummary.summary` (one definition for every read path).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Connection, Integer, String, Text, column, select, table

from queues.coltypes import UTCDateTime
from queues.ticketsummary import UnknownQueue, summary

__all__ = ["CONTACTS", "QUEUES", "TICKETS", "UnknownQueue", "summary", "ticket_rows"]

TICKETS = table(
    "tickets",
    column("id", Integer),
    column("number", String),
    column("subject", Text),
    column("queue_id", Integer),
    column("state", String),
    column("priority", Integer),
    column("requester_id", Integer),
    column("triage_reasons", JSON),
    column("created_at", UTCDateTime()),
)
QUEUES = table("queues", column("id", Integer), column("slug", String))
CONTACTS = table("contacts", column("id", Integer), column("email", String), column("name", String))


def ticket_rows(
    conn: Connection, queue_slug: str | None = None, state: str | None = None, limit: int = 0
) -> list[dict[str, Any]]:
    """The tickets, newest first; only `queue_slug`'s and in `state` when given, at most
    `limit` (0: all). UnknownQueue when no queue has `queue_slug`."""
    t, q, c = TICKETS.c, QUEUES.c, CONTACTS.c
    stmt = (
        select(
            t.number,
            t.subject,
            q.slug,
            t.state,
            t.priority,
            t.created_at,
            c.email,
            c.name,
            t.triage_reasons,
        )
        .select_from(
            TICKETS.join(QUEUES, q.id == t.queue_id).outerjoin(CONTACTS, c.id == t.requester_id)
        )
        .order_by(t.id.desc())
    )
    if queue_slug:
        if conn.execute(select(q.id).where(q.slug == queue_slug)).first() is None:
            raise UnknownQueue(queue_slug)
        stmt = stmt.where(q.slug == queue_slug)
    if state:
        stmt = stmt.where(t.state == state)
    if limit > 0:
        stmt = stmt.limit(limit)
    return [
        summary(
            number=row.number,
            subject=row.subject,
            queue=row.slug,
            state=row.state,
            priority=row.priority,
            created_at=row.created_at,
            requester_email=row.email,
            requester_name=row.name,
            reasons=row.triage_reasons,
        )
        for row in conn.execute(stmt)
    ]
