"""evidence and retention: legal hold, purge tombstones, queue retention periods (issue 11)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 22:30:00.000000

`queues.retention_days`: days a closed ticket of the queue is kept (0 = for ever; NULL =
the installation's setting for the queue, queues/settings.py `retention_days`). New tables
`legal_holds` (why a ticket must not be purged, by whom, until released) and
`ticket_tombstones` (what is left of a purged ticket: number, dates, queue, hashes, who
purged it). `queues` has no full-text triggers, so `op.add_column` needs no batch copy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("queues", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_table(
        "legal_holds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=320), nullable=False),
        sa.Column("placed_at", _WHEN, nullable=False),
        sa.Column("released_by", sa.String(length=320), nullable=True),
        sa.Column("released_at", _WHEN, nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_legal_holds_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index("ix_legal_holds_ticket_released", "legal_holds", ["ticket_id", "released_at"])
    op.create_table(
        "ticket_tombstones",
        sa.Column("id", _ID, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.Column("purged_at", _WHEN, nullable=False),
        sa.Column("purged_by", sa.String(length=320), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("raw_sha256", sa.JSON(), nullable=False),
        sa.Column("attachment_sha256", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_tombstones")),
        sa.UniqueConstraint("number", name=op.f("uq_ticket_tombstones_number")),
    )
    op.create_index(op.f("ix_ticket_tombstones_purged_at"), "ticket_tombstones", ["purged_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_tombstones_purged_at"), table_name="ticket_tombstones")
    op.drop_table("ticket_tombstones")
    op.drop_index("ix_legal_holds_ticket_released", table_name="legal_holds")
    op.drop_table("legal_holds")
    # SQLite before 3.35 cannot drop a column in place: the batch copies `queues` (no
    # full-text triggers on it).
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("retention_days")
