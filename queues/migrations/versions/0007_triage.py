"""triage: staff lexicon entries (issue 9)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 22:30:00.000000

`triage_entries` (queues/triage/models.py): phrases staff add to the triage lexicon and
switches on the data files' entries and rules, one row per language and entry id. A new
table only, so SQLite needs no batch copy of existing tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "triage_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("entry_id", sa.String(length=80), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("positive", sa.JSON(), nullable=False),
        sa.Column("negative", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_entries")),
        sa.UniqueConstraint("language", "entry_id", name=op.f("uq_triage_entries_language")),
    )


def downgrade() -> None:
    op.drop_table("triage_entries")
