"""web trust: history rows name other tickets by id, not by number (issue 8)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:30:00.000000

`ticket_events.ref_ticket_id`: the other ticket a history row is about (a link, a merge, a
quoted number). Pages name it only to agents who may see it, so a row on a visible ticket
never reveals that a restricted ticket exists (queues.present).

Rows written before this revision had the other ticket's number in `detail` ("merged into
2026112200002 (...)", "linked to 2026...", "subject named ticket 2026... but ...", "quotes
restricted ticket 2026..."). The upgrade moves each such number into `ref_ticket_id` and
leaves the mark `{ticket}` in its place; a number that names no ticket becomes "another
ticket". The downgrade puts the numbers back.

Sign-in device cookies (webui.devices) need no schema: they are signed, and their failure
counts live in `login_throttle` beside the other throttle keys.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MARK = "{ticket}"  # queues.present.TICKET_MARK, frozen here as migrations must be
# Per kind, the sentences that named another ticket by number before this revision; the
# group "ref" is replaced by the mark. Written by queues.tickets (merged, merged-from, link)
# and queues.ingest (linked, routing).
LEGACY = {
    "merged": re.compile(r"^merged into (?P<ref>(?P<number>\d{1,32}))(?= \(|$)"),
    "merged-from": re.compile(r"^(?P<ref>ticket (?P<number>\d{1,32})) merged into this one"),
    "link": re.compile(r"^linked to (?P<ref>(?P<number>\d{1,32}))$"),
    "linked": re.compile(
        r"^(?:subject named|follow-up to closed) (?P<ref>ticket (?P<number>\d{1,32}))\b"
    ),
    "routing": re.compile(r"^quotes (?P<ref>restricted ticket (?P<number>\d{1,32}))$"),
}
# What the mark stood for in each kind's sentence, for the downgrade.
SPELLED = {"merged": "{n}", "link": "{n}", "routing": "restricted ticket {n}"}

events = sa.table(
    "ticket_events",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("detail", sa.Text),
    sa.column("ref_ticket_id", sa.Integer),
)
tickets = sa.table("tickets", sa.column("id", sa.Integer), sa.column("number", sa.String))


def upgrade() -> None:
    # ticket_events has no full-text triggers, so SQLite's batch copy is safe here.
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(
            sa.Column(
                "ref_ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            batch.f("fk_ticket_events_ref_ticket_id_tickets"),
            "tickets",
            ["ref_ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _move_numbers_into_refs(op.get_bind())


def _move_numbers_into_refs(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(events.c.id, events.c.kind, events.c.detail).where(
            events.c.kind.in_(list(LEGACY)), events.c.ref_ticket_id.is_(None)
        )
    ).all()
    found = [(row.id, row.kind, m) for row in rows if (m := LEGACY[row.kind].match(row.detail))]
    numbers = {m.group("number") for _, _, m in found}
    ids: dict[str, int] = {}
    for start in range(0, len(numbers), 500):
        chunk = sorted(numbers)[start : start + 500]
        stmt = sa.select(tickets.c.number, tickets.c.id).where(tickets.c.number.in_(chunk))
        ids.update({number: ticket_id for number, ticket_id in conn.execute(stmt)})
    for event_id, _kind, match in found:
        ref = ids.get(match.group("number"))
        # A number that names no ticket tells nothing: plain words, no mark and no reference.
        text = MARK if ref is not None else "another ticket"
        detail = match.string[: match.start("ref")] + text + match.string[match.end("ref") :]
        conn.execute(
            sa.update(events)
            .where(events.c.id == event_id)
            .values(detail=detail, ref_ticket_id=ref)
        )


def _put_numbers_back(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(events.c.id, events.c.kind, events.c.detail, tickets.c.number)
        .join(tickets, tickets.c.id == events.c.ref_ticket_id)
        .where(events.c.detail.contains(MARK))
    ).all()
    for row in rows:
        spelled = SPELLED.get(row.kind, "ticket {n}").format(n=row.number)
        conn.execute(
            sa.update(events)
            .where(events.c.id == row.id)
            .values(detail=row.detail.replace(MARK, spelled))
        )


def downgrade() -> None:
    _put_numbers_back(op.get_bind())
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_constraint("fk_ticket_events_ref_ticket_id_tickets", type_="foreignkey")
        batch.drop_column("ref_ticket_id")
