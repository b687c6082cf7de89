"""the team: applications, vetting, training checklist, probation, two-factor (issue 12)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 23:45:00.000000

The agent's profile shared with the rota (issue 12, items 6 and 7): `users.timezone`, an
IANA zone name ("UTC" for existing accounts), and `users.languages`, a JSON list of
language tags ([] for existing accounts). `users` has no full-text triggers, so
`op.add_column` needs no batch copy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"),
    )
    op.add_column(
        "users", sa.Column("languages", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )


def downgrade() -> None:
    # SQLite (3.35 and later) and PostgreSQL both drop a plain column in place.
    op.drop_column("users", "languages")
    op.drop_column("users", "timezone")
