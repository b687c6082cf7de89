"""the reporter: languages, per-queue acknowledgements, status mail, status links (issue 13)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:45:00.000000

A placeholder in the chain (so that work on several issues can add its schema in its own
file); it changes nothing until its issue's schema is written here.
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
