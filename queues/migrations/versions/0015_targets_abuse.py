"""response targets and abuse controls (issue 13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:45:00.000000

Response targets (queues/targets/models.py): `queue_targets` (what staff set per queue),
`ticket_clocks` (one target clock per ticket), `target_breaches`, and `tickets.due_at` with
an index for the lists. Abuse controls (queues/abuse/models.py): `sender_rules` (block,
allow, abusive), `abuse_actions` (what the controls did, what staff decided),
`report_fingerprints` (similarity keys), `floods`, and an index on tickets by requester and
creation time for the per-sender cap. Only new tables, one `op.add_column` and indexes: no
batch copy of `tickets` on SQLite, so the full-text triggers of 0004 stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.add_column("tickets", sa.Column("due_at", _WHEN, nullable=True))
    op.create_index("ix_tickets_queue_due", "tickets", ["queue_id", "due_at", "id"])
    op.create_index("ix_tickets_requester_created", "tickets", ["requester_id", "created_at"])
    op.create_table(
        "queue_targets",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("update_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        _fk("queue_targets", "queue_id", "queues", "CASCADE"),
        sa.PrimaryKeyConstraint("queue_id", name=op.f("pk_queue_targets")),
    )
    op.create_table(
        "ticket_clocks",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("anchor_at", _WHEN, nullable=False),
        sa.Column("paused_at", _WHEN, nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("first_response_at", _WHEN, nullable=True),
        sa.Column("breached_at", _WHEN, nullable=True),
        _fk("ticket_clocks", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_clocks")),
    )
    op.create_table(
        "target_breaches",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("due_at", _WHEN, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        _fk("target_breaches", "ticket_id", "tickets", "CASCADE"),
        _fk("target_breaches", "queue_id", "queues", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_breaches")),
    )
    op.create_index(
        op.f("ix_target_breaches_ticket_id"), "target_breaches", ["ticket_id"], unique=False
    )
    op.create_index("ix_target_breaches_queue_at", "target_breaches", ["queue_id", "at"])
    op.create_table(
        "sender_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("removed_at", _WHEN, nullable=True),
        sa.Column("removed_by", sa.String(length=320), nullable=True),
        _fk("sender_rules", "ticket_id", "tickets", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_rules")),
    )
    op.create_index("ix_sender_rules_value", "sender_rules", ["value", "kind"])
    op.create_table(
        "abuse_actions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("inbound_id", _ID, nullable=True),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("article_id", sa.BigInteger(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("decides_id", sa.BigInteger(), nullable=True),
        _fk("abuse_actions", "inbound_id", "inbound", "SET NULL"),
        _fk("abuse_actions", "ticket_id", "tickets", "SET NULL"),
        _fk("abuse_actions", "rule_id", "sender_rules", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abuse_actions")),
    )
    op.create_index(op.f("ix_abuse_actions_at"), "abuse_actions", ["at"], unique=False)
    op.create_index("ix_abuse_actions_state_at", "abuse_actions", ["state", "at"])
    op.create_table(
        "report_fingerprints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("simhash", sa.BigInteger(), nullable=False),
        _fk("report_fingerprints", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_fingerprints")),
    )
    op.create_index(op.f("ix_report_fingerprints_ticket_id"), "report_fingerprints", ["ticket_id"])
    op.create_index(op.f("ix_report_fingerprints_at"), "report_fingerprints", ["at"])
    op.create_table(
        "floods",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("first_at", _WHEN, nullable=False),
        sa.Column("last_at", _WHEN, nullable=False),
        _fk("floods", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_floods")),
    )


def downgrade() -> None:
    op.drop_table("floods")
    op.drop_index(op.f("ix_report_fingerprints_at"), table_name="report_fingerprints")
    op.drop_index(op.f("ix_report_fingerprints_ticket_id"), table_name="report_fingerprints")
    op.drop_table("report_fingerprints")
    op.drop_index("ix_abuse_actions_state_at", table_name="abuse_actions")
    op.drop_index(op.f("ix_abuse_actions_at"), table_name="abuse_actions")
    op.drop_table("abuse_actions")
    op.drop_index("ix_sender_rules_value", table_name="sender_rules")
    op.drop_table("sender_rules")
    op.drop_index("ix_target_breaches_queue_at", table_name="target_breaches")
    op.drop_index(op.f("ix_target_breaches_ticket_id"), table_name="target_breaches")
    op.drop_table("target_breaches")
    op.drop_table("ticket_clocks")
    op.drop_table("queue_targets")
    op.drop_index("ix_tickets_requester_created", table_name="tickets")
    op.drop_index("ix_tickets_queue_due", table_name="tickets")
    # SQLite (3.35 and later) and PostgreSQL both drop a plain column in place.
    op.drop_column("tickets", "due_at")
