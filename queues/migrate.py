"""Schema management: the only way the schema is created or changed is through Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"

# Schema that migrations create but the models cannot express (migration 0004: full-text
# search differs between SQLite and PostgreSQL). Model comparisons skip it.
_FTS_TABLES = ("tickets_fts", "articles_fts")
_FTS_SHADOWS = ("data", "idx", "docsize", "config", "content")
SEARCH_TABLES = frozenset([*_FTS_TABLES, *(f"{t}_{s}" for t in _FTS_TABLES for s in _FTS_SHADOWS)])
SEARCH_COLUMNS = frozenset({"search_vector"})
SEARCH_INDEXES = frozenset({"ix_tickets_search", "ix_articles_search"})


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """For Alembic's comparisons: False for the search schema that is not in the models."""
    if type_ == "table":
        return name not in SEARCH_TABLES
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema at `engine` up to `revision` (default: the newest)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
