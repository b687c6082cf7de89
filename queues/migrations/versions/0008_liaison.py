"""police liaison: cases, partners, country policy, disclosure register (issue 11)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 22:30:00.000000

New tables only (queues/liaison/models.py): partner forces and their countries, each
country's policy, referral cases with their identifiers and the two approvals (unique per
case and step and per case and person: four eyes in the schema), referral templates per
language, and the disclosure register. No existing table changes, so SQLite needs no batch
copy (and the full-text triggers of 0004 stay as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "liaison_country_policies",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column(
            "policy",
            sa.Enum(
                "partner", "no-partner", "never", name="policykind", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("country", name=op.f("pk_liaison_country_policies")),
    )
    op.create_table(
        "liaison_partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("referral_addresses", sa.JSON(), nullable=False),
        sa.Column("report_url", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_partners")),
    )
    op.create_table(
        "liaison_referral_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_referral_templates")),
        sa.UniqueConstraint("language", name=op.f("uq_liaison_referral_templates_language")),
    )
    op.create_table(
        "liaison_partner_countries",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["liaison_partners.id"],
            name=op.f("fk_liaison_partner_countries_partner_id_liaison_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", "country", name=op.f("pk_liaison_partner_countries")),
    )
    op.create_index(
        op.f("ix_liaison_partner_countries_country"),
        "liaison_partner_countries",
        ["country"],
        unique=False,
    )
    op.create_table(
        "liaison_cases",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("source_ticket_id", _ID, nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "requested",
                "in-review",
                "approved",
                "confirmed",
                "sent",
                "declined",
                name="casestate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "country_basis",
            sa.Enum("ip", "statement", "other", name="countrybasis", native_enum=False, length=20),
            nullable=True,
        ),
        sa.Column("country_note", sa.Text(), nullable=False),
        sa.Column("victim_country", sa.String(length=2), nullable=True),
        sa.Column(
            "urgency",
            sa.Enum("imminent", "serious", "other", name="urgency", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "consent",
            sa.Enum("given", "not-asked", "refused", name="consent", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("consent_reason", sa.Text(), nullable=False),
        sa.Column("evidence_article_ids", sa.JSON(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("notify_reporter", sa.Boolean(), nullable=False),
        sa.Column("no_notice_reason", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("review_started_at", _WHEN, nullable=True),
        sa.Column("declined_by_id", sa.Integer(), nullable=True),
        sa.Column("declined_at", _WHEN, nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=True),
        sa.Column("sent_at", _WHEN, nullable=True),
        sa.Column("referral_outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("notice_outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["declined_by_id"], ["users.id"], name=op.f("fk_liaison_cases_declined_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["liaison_partners.id"],
            name=op.f("fk_liaison_cases_partner_id_liaison_partners"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_liaison_cases_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_liaison_cases_reviewer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["source_ticket_id"],
            ["tickets.id"],
            name=op.f("fk_liaison_cases_source_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_liaison_cases_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_cases")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_liaison_cases_ticket_id")),
    )
    op.create_index(
        op.f("ix_liaison_cases_requested_by_id"), "liaison_cases", ["requested_by_id"], unique=False
    )
    op.create_index(
        op.f("ix_liaison_cases_source_ticket_id"),
        "liaison_cases",
        ["source_ticket_id"],
        unique=False,
    )
    op.create_index(
        "ix_liaison_cases_state_requested", "liaison_cases", ["state", "requested_at"], unique=False
    )
    op.create_table(
        "liaison_approvals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("user_email", sa.String(length=320), nullable=False),
        sa.Column(
            "step",
            sa.Enum("approve", "confirm", name="approvalstep", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["liaison_cases.id"],
            name=op.f("fk_liaison_approvals_case_id_liaison_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_liaison_approvals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_approvals")),
        sa.UniqueConstraint("case_id", "step", name="uq_liaison_approvals_case_step"),
        sa.UniqueConstraint("case_id", "user_id", name="uq_liaison_approvals_case_user"),
    )
    op.create_table(
        "liaison_disclosures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("source_number", sa.String(length=32), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("recipient_address", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("handed_over_by", sa.String(length=320), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("package_size", sa.BigInteger(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["liaison_cases.id"],
            name=op.f("fk_liaison_disclosures_case_id_liaison_cases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_disclosures")),
    )
    op.create_index(op.f("ix_liaison_disclosures_at"), "liaison_disclosures", ["at"], unique=False)
    op.create_index(
        op.f("ix_liaison_disclosures_case_id"), "liaison_disclosures", ["case_id"], unique=False
    )
    op.create_table(
        "liaison_identifiers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "account",
                "profile-url",
                "email",
                "ip",
                "phone",
                "other",
                name="identifierkind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("seen_at", _WHEN, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=False),
        sa.Column("added_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["liaison_cases.id"],
            name=op.f("fk_liaison_identifiers_case_id_liaison_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liaison_identifiers")),
    )
    op.create_index(
        op.f("ix_liaison_identifiers_case_id"), "liaison_identifiers", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("liaison_identifiers")
    op.drop_table("liaison_disclosures")
    op.drop_table("liaison_approvals")
    op.drop_table("liaison_cases")
    op.drop_table("liaison_partner_countries")
    op.drop_table("liaison_referral_templates")
    op.drop_table("liaison_partners")
    op.drop_table("liaison_country_policies")
