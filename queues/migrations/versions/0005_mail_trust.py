"""mail trust: sender authentication, reply tokens (issue 8)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 22:30:00.000000

- `inbound.client_ip`, `client_helo`, `auth`: the client as the gateway saw it and the
  sender-authentication verdict made at acceptance (queues.trust.verdict).
- `articles.envelope_from`, `auth_verdict`, `auth_summary`: the same, shown on the article;
  `requester_email`, `requester_source`: who wrote it, for answering, and the field it came
  from when From was empty or broken (mailgate.requester).
- `reply_tokens`: per-ticket reply addresses (queues.trust.replytokens), stored hashed.

Plain ADD COLUMN (no batch copy): on SQLite a batch copy of `articles` would drop its
full-text triggers (see 0004).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("inbound", sa.Column("client_ip", sa.String(length=64), nullable=True))
    op.add_column("inbound", sa.Column("client_helo", sa.String(length=255), nullable=True))
    op.add_column("inbound", sa.Column("auth", sa.JSON(), nullable=True))
    op.add_column("articles", sa.Column("envelope_from", sa.String(length=320), nullable=True))
    op.add_column("articles", sa.Column("auth_verdict", sa.String(length=10), nullable=True))
    op.add_column("articles", sa.Column("auth_summary", sa.String(length=500), nullable=True))
    op.add_column("articles", sa.Column("requester_email", sa.String(length=320), nullable=True))
    op.add_column("articles", sa.Column("requester_source", sa.String(length=20), nullable=True))
    op.create_table(
        "reply_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_reply_tokens_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_reply_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_reply_tokens_ticket_id"), "reply_tokens", ["ticket_id"])
    op.create_index(op.f("ix_reply_tokens_message_id"), "reply_tokens", ["message_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_tokens_message_id"), table_name="reply_tokens")
    op.drop_index(op.f("ix_reply_tokens_ticket_id"), table_name="reply_tokens")
    op.drop_table("reply_tokens")
    # SQLite (3.35+) drops a column in place, so the full-text triggers stay.
    for column in (
        "requester_source",
        "requester_email",
        "auth_summary",
        "auth_verdict",
        "envelope_from",
    ):
        op.drop_column("articles", column)
    for column in ("auth", "client_helo", "client_ip"):
        op.drop_column("inbound", column)
