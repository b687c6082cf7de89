"""full-text search over subjects and bodies; indexes for the ticket lists

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:00:00.000000

Lists: one index per sort key within a queue, each ending in the id (the tie-breaker of
the keyset pagination in queues.ticketlist), and one for a state filter with the default
sort. The overview: (queue_id, state, waiting_since) replaces (queue_id, state).

Search (queues.search), kept up to date by the database itself, so every writer (ingest,
the web UI, scripts) keeps the index right without knowing about it:

- SQLite: two FTS5 tables with external content, `tickets_fts(subject)` over tickets and
  `articles_fts(body_text)` over articles (rowid = the row's id), tokenizer unicode61 with
  diacritics removed, and triggers on insert, delete and update of the indexed column.
  Existing rows are indexed by 'rebuild'. NOTE for later migrations: a batch (copy and
  move) migration of `tickets` or `articles` on SQLite drops these triggers with the old
  table; recreate them with `sqlite_triggers()` below afterwards.
- PostgreSQL: a text search configuration `switchboard_search` (the 'simple' parser and
  dictionary: no stemming, so English, German, French and Spanish are treated alike; with
  `unaccent` in front where the extension can be installed, so "resume" finds "résumé"
  as on SQLite), a stored generated tsvector column `search_vector` on tickets (subject)
  and articles (the first 100,000 characters of body_text: a tsvector is limited to 1 MB)
  and a GIN index on each. ADD COLUMN fills it for existing rows.

These objects are not in queues.models (SQLite and PostgreSQL differ); queues.migrate's
`include_name` keeps them out of model comparisons.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIST_INDEXES: dict[str, list[str]] = {
    # Replaces ix_tickets_queue_state (queue_id, state): counts per state, who waits, the
    # oldest waiting, all from the index alone.
    "ix_tickets_queue_state_waiting": ["queue_id", "state", "waiting_since"],
    "ix_tickets_queue_updated": ["queue_id", "updated_at", "id"],
    "ix_tickets_queue_created": ["queue_id", "created_at", "id"],
    "ix_tickets_queue_priority": ["queue_id", "priority", "id"],
    "ix_tickets_queue_number": ["queue_id", "number", "id"],
    "ix_tickets_queue_waiting": ["queue_id", "waiting_since", "id"],
    "ix_tickets_queue_state_updated": ["queue_id", "state", "updated_at", "id"],
    "ix_tickets_owner_updated": ["owner_id", "updated_at", "id"],
}

# (FTS table, content table, indexed column)
_FTS = (("tickets_fts", "tickets", "subject"), ("articles_fts", "articles", "body_text"))
PG_CONFIG = "switchboard_search"
PG_BODY_CHARS = 100_000


def sqlite_triggers(fts: str, table: str, column: str) -> list[str]:
    """The statements that keep `fts` in step with `table` (external content FTS5)."""
    # Names come from _FTS above, never from input.
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    delete = (
        f"INSERT INTO {fts}({fts}, rowid, {column}) "  # noqa: S608
        f"VALUES ('delete', old.id, old.{column});"
    )
    return [
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} "
        f"BEGIN {delete} {insert} END",
    ]


def _upgrade_sqlite() -> None:
    for fts, table, column in _FTS:
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
            f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        for statement in sqlite_triggers(fts, table, column):
            op.execute(statement)
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    # unaccent is a trusted extension (PostgreSQL 13+): a database owner may install it.
    # Where that is refused, search stays accent-sensitive rather than failing the upgrade.
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        unaccent = True
    except sa.exc.DBAPIError:
        unaccent = False
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = simple)")
    if unaccent:
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} "
            "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple"
        )
    sources = {
        "tickets": "coalesce(subject, '')",
        "articles": f"left(coalesce(body_text, ''), {PG_BODY_CHARS})",
    }
    for table, source in sources.items():
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('{PG_CONFIG}'::regconfig, {source})) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")


def upgrade() -> None:
    op.drop_index("ix_tickets_queue_state", table_name="tickets")
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "tickets", columns)
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("tickets", "articles"):
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}")
    else:
        for fts, _table, _column in _FTS:
            for suffix in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    for name in LIST_INDEXES:
        op.drop_index(name, table_name="tickets")
    op.create_index("ix_tickets_queue_state", "tickets", ["queue_id", "state"])
