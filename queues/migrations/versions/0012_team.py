"""the team: applications, vetting, training checklist, probation, two-factor (issue 12)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 23:45:00.000000

A placeholder in the chain (so that work on several issues can add its schema in its own
file); it changes nothing until its issue's schema is written here.
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
