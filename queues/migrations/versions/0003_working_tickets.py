"""working tickets: owner, lock, pending until, waiting since, merges; reply templates

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:00:00.000000

`waiting_since` for tickets that exist already: the creation time of tickets not closed
whose last mail article is incoming (nobody has answered it yet).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("locked_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("locked_until", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("pending_until", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("waiting_since", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_owner_id_users"),
            "users",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_locked_by_id_users"),
            "users",
            ["locked_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_merged_into_id_tickets"),
            "tickets",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_tickets_owner_id"), ["owner_id"], unique=False)

    tickets = sa.table(
        "tickets",
        sa.column("id", _ID),
        sa.column("state", sa.String),
        sa.column("created_at", _WHEN),
        sa.column("waiting_since", _WHEN),
    )
    articles = sa.table(
        "articles", sa.column("ticket_id", _ID), sa.column("kind", sa.String), sa.column("id", _ID)
    )
    last_mail = (
        sa.select(articles.c.kind)
        .where(articles.c.ticket_id == tickets.c.id, articles.c.kind.in_(["incoming", "outgoing"]))
        .order_by(articles.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    op.execute(
        tickets.update()
        .where(tickets.c.state != "closed", last_mail == "incoming")
        .values(waiting_since=tickets.c.created_at)
    )

    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_reply_templates_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_templates")),
    )
    with op.batch_alter_table("reply_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_templates_queue_id"), ["queue_id"])


def downgrade() -> None:
    with op.batch_alter_table("reply_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_templates_queue_id"))
    op.drop_table("reply_templates")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_owner_id"))
        batch_op.drop_constraint(batch_op.f("fk_tickets_merged_into_id_tickets"), "foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_tickets_locked_by_id_users"), "foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_tickets_owner_id_users"), "foreignkey")
        for column in (
            "merged_into_id",
            "waiting_since",
            "pending_until",
            "locked_until",
            "locked_by_id",
            "owner_id",
        ):
            batch_op.drop_column(column)
