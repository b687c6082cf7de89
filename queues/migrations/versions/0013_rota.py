"""shifts, coverage and on-call notifications (issue 12)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 23:45:00.000000

New tables only (queues.team.rota_models): `rota_shifts` (weekly or one-off shifts per
queue in a stated time zone, with the number of agents each needs), `rota_signups` (an
agent on a shift for a range of dates, on duty or as backup), `rota_swaps` (one agent asks
another to take an occurrence, optionally in exchange; the other agrees, staff approve),
`rota_covers` (the occurrences an approved swap handed over) and `oncall_alerts` (each
entry of a ticket into a watched queue and the notifications it had). No existing table
changes, so no batch copy and no full-text trigger is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "rota_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=True),
        sa.Column("start", sa.Time(), nullable=False),
        sa.Column("end", sa.Time(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.CheckConstraint(
            "(weekday IS NULL) <> (on_date IS NULL)",
            name=op.f("ck_rota_shifts_weekly_or_once"),
        ),
        _fk("rota_shifts", "queue_id", "queues"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_shifts")),
    )
    op.create_index(op.f("ix_rota_shifts_queue_id"), "rota_shifts", ["queue_id"])
    op.create_table(
        "rota_signups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        _fk("rota_signups", "shift_id", "rota_shifts"),
        _fk("rota_signups", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_signups")),
    )
    op.create_index(op.f("ix_rota_signups_shift_id"), "rota_signups", ["shift_id"])
    op.create_index(op.f("ix_rota_signups_user_id"), "rota_signups", ["user_id"])
    op.create_table(
        "rota_swaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signup_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("to_user_id", sa.Integer(), nullable=False),
        sa.Column("counter_signup_id", sa.Integer(), nullable=True),
        sa.Column("counter_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("answered_at", _WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        _fk("rota_swaps", "signup_id", "rota_signups"),
        _fk("rota_swaps", "to_user_id", "users"),
        _fk("rota_swaps", "counter_signup_id", "rota_signups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_swaps")),
    )
    op.create_index(op.f("ix_rota_swaps_signup_id"), "rota_swaps", ["signup_id"])
    op.create_index(op.f("ix_rota_swaps_to_user_id"), "rota_swaps", ["to_user_id"])
    op.create_index(op.f("ix_rota_swaps_state"), "rota_swaps", ["state"])
    op.create_table(
        "rota_covers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("out_user_id", sa.Integer(), nullable=False),
        sa.Column("in_user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("swap_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        _fk("rota_covers", "shift_id", "rota_shifts"),
        _fk("rota_covers", "out_user_id", "users"),
        _fk("rota_covers", "in_user_id", "users"),
        _fk("rota_covers", "swap_id", "rota_swaps", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_covers")),
        sa.UniqueConstraint(
            "shift_id", "on_date", "out_user_id", name=op.f("uq_rota_covers_shift_id")
        ),
    )
    op.create_table(
        "oncall_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", _WHEN, nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=True),
        sa.Column("notified_at", _WHEN, nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("next_step_at", _WHEN, nullable=True),
        sa.Column("settled_at", _WHEN, nullable=True),
        sa.Column("settled", sa.String(length=200), nullable=False),
        _fk("oncall_alerts", "ticket_id", "tickets"),
        _fk("oncall_alerts", "queue_id", "queues"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_alerts")),
        sa.UniqueConstraint("ticket_id", "is_current", name=op.f("uq_oncall_alerts_ticket_id")),
    )
    op.create_index("ix_oncall_alerts_next_step_at", "oncall_alerts", ["next_step_at"])


def downgrade() -> None:
    op.drop_index("ix_oncall_alerts_next_step_at", table_name="oncall_alerts")
    op.drop_table("oncall_alerts")
    op.drop_table("rota_covers")
    for name in ("state", "to_user_id", "signup_id"):
        op.drop_index(op.f(f"ix_rota_swaps_{name}"), table_name="rota_swaps")
    op.drop_table("rota_swaps")
    op.drop_index(op.f("ix_rota_signups_user_id"), table_name="rota_signups")
    op.drop_index(op.f("ix_rota_signups_shift_id"), table_name="rota_signups")
    op.drop_table("rota_signups")
    op.drop_index(op.f("ix_rota_shifts_queue_id"), table_name="rota_shifts")
    op.drop_table("rota_shifts")
