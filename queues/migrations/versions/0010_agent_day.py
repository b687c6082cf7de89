"""the agent's day: public signature names, must-change-password, close reasons (issue 10)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 23:45:00.000000

A placeholder in the chain (so that work on several issues can add its schema in its own
file); it changes nothing until its issue's schema is written here.
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
