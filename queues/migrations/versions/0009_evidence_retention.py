"""evidence and retention: legal hold, purge tombstones, queue retention periods (issue 11)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 22:30:00.000000

A placeholder in the chain (so that work on several issues can add its schema in its own
file); it changes nothing until its issue's schema is written here.
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
