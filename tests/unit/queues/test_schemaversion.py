"""queues.schemaversion: the named head is Alembic's, and a database's revision is read right."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from queues import schemaversion
from queues.migrate import alembic_config, current_revision, upgrade


def test_the_named_head_is_the_newest_migration() -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == schemaversion.HEAD_REVISION, "a new migration: update HEAD_REVISION"


def test_a_fresh_database_has_no_revision_and_an_upgraded_one_the_head(
    empty_engine: Engine,
) -> None:
    assert schemaversion.stored_revision(empty_engine) is None
    assert not schemaversion.is_current(empty_engine)
    upgrade(empty_engine, "0014")
    assert schemaversion.stored_revision(empty_engine) == "0014" == current_revision(empty_engine)
    assert not schemaversion.is_current(empty_engine)
    upgrade(empty_engine)
    assert schemaversion.stored_revision(empty_engine) == current_revision(empty_engine)
    assert schemaversion.is_current(empty_engine)


def test_an_odd_version_table_is_not_current(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'odd.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0015'), ('9999')"))
    assert schemaversion.stored_revision(engine) is None
    engine.dispose()
