"""need to know (queues.min_role), web sessions, login throttle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000

queues.min_role is the lowest role that may see a queue. Existing rows get it from what
`restricted` meant until now: unrestricted queues are for volunteers, restricted ones for
specialists, except police-liaison, which only staff may see (DESIGN.md "Who uses it").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROLE = sa.Enum("volunteer", "specialist", "staff", name="role", native_enum=False, length=20)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("min_role", _ROLE, server_default="volunteer", nullable=False)
        )
    queues = sa.table(
        "queues",
        sa.column("slug", sa.String),
        sa.column("restricted", sa.Boolean),
        sa.column("min_role", sa.String),
    )
    op.execute(
        queues.update().where(queues.c.restricted == sa.true()).values(min_role="specialist")
    )
    op.execute(
        queues.update()
        .where(queues.c.slug == "police-liaison")
        .values(min_role="staff", restricted=True)
    )

    op.create_table(
        "web_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_web_sessions_token_sha256")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_web_sessions_last_seen_at"), ["last_seen_at"], unique=False
        )

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_throttle_window_start"), ["window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_window_start"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))
    op.drop_table("web_sessions")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("min_role")
