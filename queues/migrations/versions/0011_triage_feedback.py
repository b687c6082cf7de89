"""triage feedback: escalations (misses) and false alarms (issue 9)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 23:45:00.000000

`triage_feedback` (queues/triage/feedback_models.py): one row per escalation of a ticket to
specialist-safety (a triage miss) and per move back to a wider queue (a false alarm), with
what the live figures count by. A new table only, so SQLite needs no batch copy of existing
tables (and the full-text triggers of 0004 stay as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "triage_feedback",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("from_queue", sa.String(length=64), nullable=False),
        sa.Column("to_queue", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_triage_feedback_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_triage_feedback_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_feedback")),
    )
    op.create_index(
        op.f("ix_triage_feedback_ticket_id"), "triage_feedback", ["ticket_id"], unique=False
    )
    op.create_index("ix_triage_feedback_kind_at", "triage_feedback", ["kind", "at"], unique=False)
    op.create_index(
        "ix_triage_feedback_actor_at", "triage_feedback", ["actor_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_triage_feedback_actor_at", table_name="triage_feedback")
    op.drop_index("ix_triage_feedback_kind_at", table_name="triage_feedback")
    op.drop_index(op.f("ix_triage_feedback_ticket_id"), table_name="triage_feedback")
    op.drop_table("triage_feedback")
