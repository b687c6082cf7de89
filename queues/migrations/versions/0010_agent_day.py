"""the agent's day: public signature names, must-change-password, queue signatures (issue 10)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 23:45:00.000000

- `users.signature_name`: the name that signs an agent's mail to requesters, chosen by the
  agent ("" = the team's name, settings.organisation); a real name never leaves in mail.
- `users.must_change_password`: the account's password was set or seen by someone else
  (added by staff or the command, reset): the agent must choose their own at the next
  sign-in before any other page opens. Existing accounts keep their passwords (false).

Data, once, for installations made before this revision (values frozen here, as migrations
must be):

- the default queues get the default signature (queues.seed.DEFAULT_SIGNATURES) where they
  have none, so that a reply is signed with the agent's public name;
- history rows of internal notes said "internal note <article id>": they now say what
  happened, "internal note added" (the downgrade leaves the wording);
- a ticket with safety-triage reasons counts as flagged, as the command line has always
  marked it (ingest now sets the flag with the reasons).

`users` and `ticket_events` have no full-text triggers, and `op.add_column` needs no batch
copy anyway; the UPDATE of `tickets.flagged` does not touch the columns the full-text
triggers of 0004 index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# queues.seed.DEFAULT_SIGNATURES at this revision.
_SIGNED = (
    "{{ agent.signature_name }}\n"
    "{% if agent.signature_name != organisation %}{{ organisation }}\n{% endif %}"
)
SIGNATURES = {
    "general-help": _SIGNED + "{{ queue.name }}\n",
    "specialist-safety": _SIGNED + "{{ queue.name }}\n\n{{ emergency_text }}\n",
    "police-liaison": _SIGNED + "{{ queue.name }}\n",
}

queues = sa.table("queues", sa.column("slug", sa.String), sa.column("signature", sa.Text))
events = sa.table("ticket_events", sa.column("kind", sa.String), sa.column("detail", sa.Text))
tickets = sa.table(
    "tickets", sa.column("flagged", sa.Boolean), sa.column("triage_reasons", sa.JSON)
)


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("signature_name", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column(
        "users",
        sa.Column(
            "must_change_password", sa.Boolean(), nullable=False, server_default=sa.text("false")
        ),
    )
    conn = op.get_bind()
    for slug, signature in SIGNATURES.items():
        conn.execute(
            queues.update()
            .where(
                queues.c.slug == slug, sa.func.trim(sa.func.coalesce(queues.c.signature, "")) == ""
            )
            .values(signature=signature)
        )
    conn.execute(
        events.update()
        .where(events.c.kind == "note", events.c.detail.like("internal note %"))
        .values(detail="internal note added")
    )
    conn.execute(
        tickets.update()
        .where(
            tickets.c.flagged.is_(sa.false()),
            sa.cast(tickets.c.triage_reasons, sa.Text) != "[]",
        )
        .values(flagged=True)
    )


def downgrade() -> None:
    # SQLite (3.35 and later) and PostgreSQL both drop a plain column in place.
    op.drop_column("users", "must_change_password")
    op.drop_column("users", "signature_name")
