"""the reporter: languages, per-queue acknowledgements, status mail, status links (issue 13)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:45:00.000000

- `tickets.language`: the language the reporter reads (queues.reporter.language); NULL for
  existing tickets (not known). Plain ADD COLUMN: on SQLite a batch copy of `tickets` would
  drop its full-text triggers (see 0004).
- `ack_templates`: acknowledgements staff wrote per queue and language.
- `status_tokens`: status links, stored hashed (queues.reporter.statuslink).
- `status_mail`: what each reporter was told, for once per change and the daily cap.
- `form_posts`: posts to the public forms per client, for the per-client limits.
(queues/reporter/models.py.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("tickets", sa.Column("language", sa.String(length=8), nullable=True))
    op.create_table(
        "ack_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_ack_templates_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ack_templates")),
        sa.UniqueConstraint("queue_id", "language", name=op.f("uq_ack_templates_queue_id")),
    )
    op.create_table(
        "status_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_status_tokens_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_status_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_status_tokens_ticket_id"), "status_tokens", ["ticket_id"])
    op.create_table(
        "status_mail",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.Column("specialists", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_status_mail_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_mail")),
    )
    op.create_index("ix_status_mail_ticket_id", "status_mail", ["ticket_id", "id"])
    op.create_index("ix_status_mail_outcome_at", "status_mail", ["outcome", "at"])
    op.create_table(
        "form_posts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_posts")),
    )
    op.create_index("ix_form_posts_client_kind_at", "form_posts", ["client", "kind", "at"])
    op.create_index(op.f("ix_form_posts_at"), "form_posts", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_form_posts_at"), table_name="form_posts")
    op.drop_index("ix_form_posts_client_kind_at", table_name="form_posts")
    op.drop_table("form_posts")
    op.drop_index("ix_status_mail_outcome_at", table_name="status_mail")
    op.drop_index("ix_status_mail_ticket_id", table_name="status_mail")
    op.drop_table("status_mail")
    op.drop_index(op.f("ix_status_tokens_ticket_id"), table_name="status_tokens")
    op.drop_table("status_tokens")
    op.drop_table("ack_templates")
    # SQLite (3.35 and later) and PostgreSQL both drop a plain column in place.
    op.drop_column("tickets", "language")
