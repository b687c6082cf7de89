"""Fixtures of the core's tests beyond tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from queues.db import make_engine
from tests.conftest import new_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with nothing in it (no schema), for migration tests."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with new_pg_database("switchboard_mig") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()
