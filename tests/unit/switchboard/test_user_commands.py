"""`switchboard user add|disable`, and `switchboard web` (serving itself: tests/browser)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.accounts import verify_password
from queues.db import make_engine
from queues.models import AuditEvent, Role, User
from switchboard.cli import main
from tests.conftest import new_pg_database

Run = Callable[..., Result]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with new_pg_database("switchboard_users") as url:
        yield url


@pytest.fixture
def sb(database_url: str, tmp_path: Path) -> Run:
    runner = CliRunner()
    env = {"SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_VAR_DIR": str(tmp_path / "var")}

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> Result:
        result = runner.invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    run("init")
    return run


def account(database_url: str, email: str) -> User:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return session.scalars(select(User).where(User.email == email)).one()
    finally:
        engine.dispose()


def test_user_add_prints_a_generated_password_once(sb: Run, database_url: str) -> None:
    result = sb("user", "add", "Vol@Example.org", "--role", "volunteer", "--name", "Val")
    assert "Created volunteer account vol@example.org." in result.output
    password = re.search(r"Password: (\S+)", result.output)
    assert password is not None
    user = account(database_url, "vol@example.org")
    assert user.role is Role.VOLUNTEER and user.name == "Val" and user.active
    assert verify_password(user, password.group(1))


def test_user_add_reads_the_password_from_stdin(sb: Run, database_url: str) -> None:
    result = sb(
        "user", "add", "spec@example.org", "--role", "SPECIALIST", "--password-stdin",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert "Password" not in result.output
    user = account(database_url, "spec@example.org")
    assert user.role is Role.SPECIALIST
    assert verify_password(user, "a long enough password")


def test_user_add_errors(sb: Run) -> None:
    weak = sb("user", "add", "a@example.org", "--role", "staff", "--password-stdin",
              stdin="short\n", ok=False)  # fmt: skip
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    bad_role = sb("user", "add", "a@example.org", "--role", "admin", ok=False)
    assert bad_role.exit_code == 2 and "'admin' is not one of" in bad_role.output
    sb("user", "add", "a@example.org", "--role", "staff")
    again = sb("user", "add", "A@example.org", "--role", "staff", ok=False)
    assert "already exists" in again.output
    assert "not an email address" in sb("user", "add", "nobody", "--role", "staff", ok=False).output


def test_user_disable_ends_sessions(sb: Run, database_url: str) -> None:
    sb("user", "add", "v@example.org", "--role", "volunteer")
    before = account(database_url, "v@example.org").session_version
    assert "Disabled v@example.org" in sb("user", "disable", "V@example.org").output
    user = account(database_url, "v@example.org")
    assert not user.active and user.session_version == before + 1
    missing = sb("user", "disable", "ghost@example.org", ok=False)
    assert missing.exit_code == 1 and "no account for ghost@example.org" in missing.output


def test_web_needs_an_initialized_database(tmp_path: Path) -> None:
    env = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    result = CliRunner().invoke(main, ["web", "--port", "0"], env=env)
    assert result.exit_code == 1 and "switchboard init" in result.output


def test_web_help_documents_the_options() -> None:
    result = CliRunner().invoke(main, ["web", "--help"])
    for option in ("--host", "--port", "--threads", "--trusted-proxy", "--insecure-cookie"):
        assert option in result.output


def test_account_commands_are_in_the_audit_log(sb: Run, database_url: str) -> None:
    sb("user", "add", "w@example.org", "--role", "specialist")
    sb("user", "disable", "w@example.org")
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
            rows = [(e.actor.startswith("command:"), e.action, e.detail) for e in events]
    finally:
        engine.dispose()
    assert (True, "staff", "account w@example.org added as specialist") in rows
    assert (True, "staff", "account w@example.org disabled") in rows


def test_web_loads_what_a_public_report_needs_before_it_serves(
    sb: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public form's reports are decided in the web process: the triage patterns and
    the models are loaded before the first request, not by the first reporter."""
    import signal

    import waitress

    import queues.ingest

    calls: list[str] = []
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # keep pytest's SIGTERM
    monkeypatch.setattr(queues.ingest, "warm_up", lambda _session: calls.append("warm_up"))
    monkeypatch.setattr(waitress, "serve", lambda *_args, **_kwargs: calls.append("serve"))
    sb("web", "--port", "0")
    assert calls == ["warm_up", "serve"]
