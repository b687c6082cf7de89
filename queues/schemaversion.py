"""The schema revision this code needs, and the one a database has, without loading Alembic.

Every `switchboard` command that opens the database first checks that its schema is current.
Asking Alembic costs about a tenth of a second per command (importing it and reading every
migration script), so the newest revision is named here, and a test
(tests/unit/queues/test_schemaversion.py) fails when a migration is added without updating
it. Changing the schema is still Alembic's alone (queues.migrate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

HEAD_REVISION = "0015"
_VERSION_TABLE = "alembic_version"  # Alembic's own bookkeeping table
# Importing this module loads no sqlalchemy: queues.quicklist reads HEAD_REVISION without it.


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None when it was never initialized.
    Raises sqlalchemy's OperationalError when the database cannot be opened."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION_TABLE):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        revisions = sorted(found)
    # One line of migrations: one row. Anything else is not a schema this code knows.
    return revisions[0] if len(revisions) == 1 else None


def is_current(engine: Engine) -> bool:
    return stored_revision(engine) == HEAD_REVISION
