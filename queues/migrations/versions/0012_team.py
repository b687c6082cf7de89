"""the team: applications, vetting, training checklist, probation, two-factor (issue 12)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 23:45:00.000000

The agent's profile shared with the rota (issue 12, items 6 and 7): `users.timezone`, an
IANA zone name ("UTC" for existing accounts), and `users.languages`, a JSON list of
language tags ([] for existing accounts). `users` has no full-text triggers, so
`op.add_column` needs no batch copy.

New tables (queues/team/models.py): the versioned texts applicants accept (the
confidentiality pledge and the code of conduct, version 1 of each written here so that
/apply works at once; staff edit them), applications, agent profiles (vetting, mentor,
probation), set-password tokens, the training checklist and its ticks, replies held for a
mentor, TOTP credentials, recovery codes and departures.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)

# Version 1 of the texts, frozen here as migrations must be (staff write later versions).
PLEDGE = """I will keep everything I read or hear as a volunteer confidential: the people
who write to us, what they tell us, the people they report, and what the team decides.
I will not copy, photograph, forward or keep any of it outside Switchboard, and I will
not talk about a case with anyone outside the team, also after I stop volunteering.
I will sign out when I leave a computer and tell staff at once if I think someone else
has seen something they should not.
"""
CONDUCT = """I treat the people who write to us, and my colleagues, with respect and
patience, whoever they are. I never contact a reporter or a reported person outside
Switchboard. I answer only what I know, ask my mentor or staff when I am unsure, and hand
on at once anything where someone may be at risk. I do not take cases involving people I
know. I follow the team's guidance and accept that staff may end my access at any time.
"""


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"),
    )
    op.add_column(
        "users", sa.Column("languages", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    op.create_table(
        "checklist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_items")),
    )
    op.create_table(
        "team_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("pledge", "conduct", name="textkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_texts")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_team_texts_kind")),
    )
    op.create_table(
        "applications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
        sa.Column("experience", sa.Text(), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("pledge_version", sa.Integer(), nullable=False),
        sa.Column("conduct_version", sa.Integer(), nullable=False),
        sa.Column("client_key", sa.String(length=100), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "waiting",
                "approved",
                "declined",
                name="applicationstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_applications_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(
        "ix_applications_client_created", "applications", ["client_key", "created_at"], unique=False
    )
    op.create_index(
        "ix_applications_email_created", "applications", ["email", "created_at"], unique=False
    )
    op.create_index(
        "ix_applications_state_created", "applications", ["state", "created_at"], unique=False
    )
    op.create_table(
        "checklist_ticks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("done_at", _WHEN, nullable=False),
        sa.Column("done_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["checklist_items.id"],
            name=op.f("fk_checklist_ticks_item_id_checklist_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checklist_ticks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_ticks")),
        sa.UniqueConstraint("user_id", "item_id", name=op.f("uq_checklist_ticks_user_id")),
    )
    op.create_table(
        "departures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("suspended", "removed", name="departurekind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("by", sa.String(length=320), nullable=False),
        sa.Column("tickets_returned", sa.Integer(), nullable=False),
        sa.Column("locks_released", sa.Integer(), nullable=False),
        sa.Column("replies_withdrawn", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_departures_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departures")),
    )
    op.create_index(op.f("ix_departures_user_id"), "departures", ["user_id"], unique=False)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("user_id", "code_sha256", name=op.f("uq_recovery_codes_user_id")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"], unique=False)
    op.create_table(
        "set_password_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_set_password_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_set_password_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_set_password_tokens_token_sha256")),
    )
    op.create_index(
        op.f("ix_set_password_tokens_user_id"), "set_password_tokens", ["user_id"], unique=False
    )
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed_at", _WHEN, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_totp_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_credentials")),
    )
    op.create_table(
        "agent_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("vetted_by", sa.String(length=320), nullable=False),
        sa.Column("vetted_at", _WHEN, nullable=True),
        sa.Column("application_id", _ID, nullable=True),
        sa.Column("mentor_id", sa.Integer(), nullable=True),
        sa.Column("on_probation", sa.Boolean(), nullable=False),
        sa.Column("probation_started_at", _WHEN, nullable=True),
        sa.Column("probation_ended_at", _WHEN, nullable=True),
        sa.Column("probation_ended_by", sa.String(length=320), nullable=False),
        sa.Column("twofactor_required", sa.Boolean(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_agent_profiles_application_id_applications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_agent_profiles_mentor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_profiles")),
    )
    op.create_index(
        op.f("ix_agent_profiles_mentor_id"), "agent_profiles", ["mentor_id"], unique=False
    )
    op.create_table(
        "held_replies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("mentor_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "waiting",
                "approved",
                "edited",
                "returned",
                "withdrawn",
                name="heldstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("to", sa.Text(), nullable=False),
        sa.Column("cc", sa.Text(), nullable=False),
        sa.Column("answer_to_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_state", sa.String(length=20), nullable=True),
        sa.Column("pending_until", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("article_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_held_replies_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_held_replies_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["users.id"],
            name=op.f("fk_held_replies_mentor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_held_replies_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_replies")),
    )
    op.create_index(
        "ix_held_replies_author_state", "held_replies", ["author_id", "state"], unique=False
    )
    op.create_index(
        "ix_held_replies_mentor_state", "held_replies", ["mentor_id", "state"], unique=False
    )
    op.create_index(op.f("ix_held_replies_ticket_id"), "held_replies", ["ticket_id"], unique=False)

    texts = sa.table(
        "team_texts",
        sa.column("kind", sa.String),
        sa.column("version", sa.Integer),
        sa.column("body", sa.Text),
        sa.column("created_at", _WHEN),
        sa.column("created_by", sa.String),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        texts,
        [
            {"kind": kind, "version": 1, "body": body, "created_at": now, "created_by": "system"}
            for kind, body in (("pledge", PLEDGE), ("conduct", CONDUCT))
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_held_replies_ticket_id"), table_name="held_replies")
    op.drop_index("ix_held_replies_mentor_state", table_name="held_replies")
    op.drop_index("ix_held_replies_author_state", table_name="held_replies")
    op.drop_table("held_replies")
    op.drop_index(op.f("ix_agent_profiles_mentor_id"), table_name="agent_profiles")
    op.drop_table("agent_profiles")
    op.drop_table("totp_credentials")
    op.drop_index(op.f("ix_set_password_tokens_user_id"), table_name="set_password_tokens")
    op.drop_table("set_password_tokens")
    op.drop_index(op.f("ix_recovery_codes_user_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_index(op.f("ix_departures_user_id"), table_name="departures")
    op.drop_table("departures")
    op.drop_table("checklist_ticks")
    op.drop_index("ix_applications_state_created", table_name="applications")
    op.drop_index("ix_applications_email_created", table_name="applications")
    op.drop_index("ix_applications_client_created", table_name="applications")
    op.drop_table("applications")
    op.drop_table("team_texts")
    op.drop_table("checklist_items")

    # SQLite (3.35 and later) and PostgreSQL both drop a plain column in place.
    op.drop_column("users", "languages")
    op.drop_column("users", "timezone")
