"""web trust: history rows name other tickets by id; sign-in device cookies (issue 8)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:30:00.000000

`ticket_events.ref_ticket_id`: the other ticket a history row is about (a link, a merge, a
quoted number). Pages name it only to agents who may see it, so a row on a visible ticket
never reveals that a restricted ticket exists.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_constraint("fk_ticket_events_ref_ticket_id_tickets", type_="foreignkey")
        batch.drop_column("ref_ticket_id")
