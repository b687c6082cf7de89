"""`switchboard user list|role|enable|reset-password`, the one-time passwords of `user add`
and `init`, and the audit of `show` on a restricted ticket (issue 10), on SQLite and
PostgreSQL through the real command."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.accounts import verify_password
from queues.db import make_engine
from queues.models import AuditEvent, Queue, Role, Ticket, User
from switchboard.cli import main
from tests.conftest import new_pg_database

Run = Callable[..., Result]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with new_pg_database("switchboard_admin") as url:
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

    run("init", "--admin-email", "boss@example.org")
    return run


@contextmanager
def in_db(database_url: str) -> Iterator[Session]:
    """A session of its own on the command's database (its engine closed afterwards)."""
    engine = make_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def account(database_url: str, email: str) -> User:
    with in_db(database_url) as session:
        return session.scalars(select(User).where(User.email == email)).one()


def command_audit(database_url: str) -> list[tuple[str, str, str | None, int | None]]:
    with in_db(database_url) as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.action, e.detail, e.client, e.ticket_id) for e in events]


def test_accounts_made_by_someone_else_must_choose_a_password(sb: Run, database_url: str) -> None:
    assert account(database_url, "boss@example.org").must_change_password  # init's account
    added = sb("user", "add", "vol@example.org", "--role", "volunteer")
    assert "must choose their own password" in added.output
    assert account(database_url, "vol@example.org").must_change_password
    sb("user", "add", "typed@example.org", "--role", "staff", "--password-stdin",
       stdin="a password they typed\n")  # fmt: skip
    assert account(database_url, "typed@example.org").must_change_password
    own = sb("user", "add", "own@example.org", "--role", "staff", "--password-stdin",
             "--own-password", stdin="my very own password\n")  # fmt: skip
    assert "must choose" not in own.output
    assert not account(database_url, "own@example.org").must_change_password
    alone = sb("user", "add", "x@example.org", "--role", "staff", "--own-password", ok=False)
    assert alone.exit_code == 2 and "--own-password needs --password-stdin" in alone.output


def test_user_list_shows_every_account_and_json(sb: Run, database_url: str) -> None:
    sb("user", "add", "vol@example.org", "--role", "volunteer", "--name", "Val")
    sb("user", "add", "gone@example.org", "--role", "specialist")
    sb("user", "disable", "gone@example.org")
    lines = sb("user", "list").output.splitlines()
    assert lines[0].startswith("boss@example.org") and "staff" in lines[0]
    assert "must choose a password" in lines[0]
    assert re.match(r"vol@example\.org\s+volunteer\s+Val  \(must choose a password\)$", lines[1])
    assert (
        lines[2].startswith("gone@example.org") and "(disabled, must choose a password)" in lines[2]
    )
    rows = json.loads(sb("user", "list", "--json").output)
    assert [r["email"] for r in rows] == ["boss@example.org", "vol@example.org", "gone@example.org"]
    assert rows[1] == {
        "email": "vol@example.org",
        "name": "Val",
        "role": "volunteer",
        "active": True,
        "must_change_password": True,
        "signature_name": "",
        "created_at": rows[1]["created_at"],
    }
    assert rows[2]["active"] is False
    assert "password" not in json.dumps(rows).replace("must_change_password", "")


def test_user_role_enable_and_reset_password_are_audited(sb: Run, database_url: str) -> None:
    sb("user", "add", "vol@example.org", "--role", "volunteer")
    before = account(database_url, "vol@example.org")
    changed = sb("user", "role", "VOL@example.org", "specialist")
    assert "vol@example.org is now specialist; their web sessions have ended." in changed.output
    after = account(database_url, "vol@example.org")
    assert after.role is Role.SPECIALIST and after.session_version > before.session_version
    assert "already specialist" in sb("user", "role", "vol@example.org", "SPECIALIST").output
    assert sb("user", "role", "vol@example.org", "chief", ok=False).exit_code == 2

    sb("user", "disable", "vol@example.org")
    assert "Enabled vol@example.org" in sb("user", "enable", "vol@example.org").output
    assert account(database_url, "vol@example.org").active
    assert "already enabled" in sb("user", "enable", "vol@example.org").output

    with in_db(database_url) as session:  # the agent had chosen their own meanwhile
        session.get_one(User, after.id).must_change_password = False
        session.commit()
    reset = sb("user", "reset-password", "vol@example.org")
    found = re.search(r"New one-time password for vol@example\.org: (\S+)", reset.output)
    assert found is not None and "must choose their own" in reset.output
    renewed = account(database_url, "vol@example.org")
    assert verify_password(renewed, found.group(1)) and renewed.must_change_password
    assert renewed.session_version > after.session_version

    for command in ("role", "enable", "reset-password"):
        args = ["user", command, "nobody@example.org"] + (["staff"] if command == "role" else [])
        missing = sb(*args, ok=False)
        assert missing.exit_code == 1 and "no account for nobody@example.org" in missing.output
    staff_events = [(a, d, c) for a, d, c, t in command_audit(database_url) if t is None]
    assert staff_events[-4:] == [
        ("staff", "account vol@example.org role volunteer -> specialist", "local"),
        ("staff", "account vol@example.org disabled", "local"),
        ("staff", "account vol@example.org enabled", "local"),
        ("staff", "account vol@example.org password reset", "local"),
    ]
    assert found.group(1) not in json.dumps(command_audit(database_url))


def test_reset_password_of_a_disabled_account_says_so(sb: Run) -> None:
    sb("user", "add", "vol@example.org", "--role", "volunteer")
    sb("user", "disable", "vol@example.org")
    out = sb("user", "reset-password", "vol@example.org").output
    assert "The account is disabled: `switchboard user enable vol@example.org`" in out


def test_show_of_a_restricted_ticket_is_audited_like_a_web_view(sb: Run, database_url: str) -> None:
    with in_db(database_url) as session:
        queues = {q.slug: q for q in session.scalars(select(Queue))}
        session.add_all(
            [
                Ticket(number="20261203000101", subject="open", queue=queues["general-help"]),
                Ticket(
                    number="20261203000102", subject="serious", queue=queues["specialist-safety"]
                ),
            ]
        )
        session.commit()
        safety_id = session.scalars(
            select(Ticket.id).where(Ticket.number == "20261203000102")
        ).one()
    sb("show", "20261203000101")
    sb("show", "20261203000101", "--json")
    assert [e for e in command_audit(database_url) if e[3] is not None] == []
    assert "serious" in sb("show", "20261203000102").output
    assert json.loads(sb("show", "20261203000102", "--json").output)["subject"] == "serious"
    with in_db(database_url) as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.ticket_id == safety_id).order_by(AuditEvent.id)
        ).all()
    assert [(v.action, v.detail, v.client) for v in views] == [
        ("view", "ticket shown", "command line"),
        ("view", "ticket shown as JSON", "command line"),
    ]
    assert all(v.actor.startswith("command:") for v in views)
    assert sb("show", "404", ok=False).exit_code == 1
