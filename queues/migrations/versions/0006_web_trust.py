"""web trust: device cookies for the sign-in throttle, history rows that name tickets by id (issue 8)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:30:00.000000

A placeholder in the chain (so that work on several issues can add its schema in its own
file); it changes nothing until its issue's schema is written here.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
