"""The `switchboard` command contract: init, ingest (files, folders, mbox, Maildir), show."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from switchboard.cli import main
from tests.conftest import PG_ADMIN_URL

SHOW_FIELDS = {
    "number",
    "subject",
    "queue",
    "state",
    "priority",
    "created_at",
    "requester",
    "triage",
    "articles",
    "history",
}
ARTICLE_FIELDS = {
    "kind",
    "from",
    "from_email",
    "from_name",
    "to",
    "cc",
    "subject",
    "message_id",
    "date",
    "content_type",
    "body_text",
    "body_html",
    "attachments",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    admin: Engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = "switchboard_cli_" + uuid.uuid4().hex[:10]
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sb(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_VAR_DIR": str(tmp_path / "var")}

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def message(
    subject: str, body: str, sender: str = "Alice <alice@example.net>", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "help@localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.net>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def test_init_is_idempotent_and_shows_the_password_once(sb) -> None:  # type: ignore[no-untyped-def]
    first = sb("init")
    assert "Created staff account admin@localhost with password:" in first.output
    assert "general-help" in first.output
    second = sb("init")
    assert "password" not in second.output


def test_commands_need_an_initialized_database(sb) -> None:  # type: ignore[no-untyped-def]
    result = sb("tickets", ok=False)
    assert result.exit_code == 1
    assert "switchboard init" in result.output


def test_ingest_files_folders_mbox_and_maildir(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb("init")
    folder = tmp_path / "mail"
    (folder / "nested").mkdir(parents=True)
    (folder / "one.eml").write_bytes(message("First report", "I am being harassed."))
    (folder / "nested" / "two.eml").write_bytes(message("Second report", "Second body."))
    (folder / "README.md").write_text("# not mail\n")
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(
        b"From alice@example.net Sat Nov 21 10:00:00 2026\n"
        + message("In mbox 1", ">From the start\n>>From quoted\n").replace(b"\r\n", b"\n")
        + b"\nFrom bob@example.net Sat Nov 21 11:00:00 2026\n"
        + message("In mbox 2", "second", sender="Bob <bob@example.net>").replace(b"\r\n", b"\n")
    )
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.host").write_bytes(message("From maildir", "maildir body"))
    (maildir / "tmp" / "2.host").write_bytes(message("Half written", "not yet"))

    result = sb("ingest", "--no-progress", str(folder), str(mbox), str(maildir))
    assert "5 messages: 5 new tickets" in result.output
    assert "Skipped 1 files that are not mail" in result.output

    listing = json.loads(sb("tickets", "--json").output)
    subjects = sorted(t["subject"] for t in listing)
    assert subjects == ["First report", "From maildir", "In mbox 1", "In mbox 2", "Second report"]
    assert all(set(t) == SHOW_FIELDS - {"articles", "history"} for t in listing)

    number = next(t["number"] for t in listing if t["subject"] == "In mbox 1")
    shown = json.loads(sb("show", number, "--json").output)
    assert set(shown) == SHOW_FIELDS
    incoming, ack = shown["articles"]
    assert set(incoming) == ARTICLE_FIELDS
    assert incoming["kind"] == "incoming" and ack["kind"] == "auto"
    assert incoming["from_email"] == "alice@example.net" and incoming["from_name"] == "Alice"
    # mboxrd: ">From " quoting is undone, the separator line is not part of the message.
    assert "From the start\n>From quoted" in incoming["body_text"]
    assert shown["requester"] == {"email": "alice@example.net", "name": "Alice"}


def test_ingest_twice_reports_duplicates_and_follow_ups(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb("init")
    first = tmp_path / "first.eml"
    first.write_bytes(message("Help", "body"))
    sb("ingest", str(first))
    assert "1 duplicates" in sb("ingest", str(first)).output
    number = json.loads(sb("tickets", "--json").output)[0]["number"]
    reply = tmp_path / "reply.eml"
    reply.write_bytes(message(f"Re: [Ticket#{number}] Help", "more details"))
    assert "1 follow-ups" in sb("ingest", str(reply)).output
    shown = json.loads(sb("show", number, "--json").output)
    assert [a["kind"] for a in shown["articles"]] == ["incoming", "auto", "incoming"]


def test_triaged_ticket_shows_reasons(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb("init")
    path = tmp_path / "threat.eml"
    path.write_bytes(message("He found me", "He wrote: I know where you live and I will kill you."))
    sb("ingest", str(path))
    listing = json.loads(sb("tickets", "--queue", "specialist-safety", "--json").output)
    assert len(listing) == 1
    assert listing[0]["priority"] >= 4
    assert listing[0]["triage"]["reasons"]
    text_view = sb("show", listing[0]["number"]).output
    assert "Triage:" in text_view
    assert json.loads(sb("tickets", "--queue", "general-help", "--json").output) == []


def test_clear_errors(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb("init")
    assert "no ticket 123" in sb("show", "123", ok=False).output
    assert "no queue 'nope'" in sb("tickets", "--queue", "nope", ok=False).output
    missing = sb("ingest", str(tmp_path / "missing.eml"), ok=False)
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_unparseable_files_still_become_tickets(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb("init")
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "binary.eml").write_bytes(bytes(range(256)) * 20)
    result = sb("ingest", str(tmp_path / "empty.eml"), str(tmp_path / "binary.eml"))
    assert "2 messages: 2 new tickets" in result.output


def test_work_starts_every_runner_and_timer(  # type: ignore[no-untyped-def]
    sb, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`switchboard work` (and `serve`) start each runner and timer once, and stop them."""
    import threading

    from switchboard.cli import App, _runners

    sb("init")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path / "var"))
    app = App(None)
    stop = threading.Event()
    threads, wake = _runners(app, stop)
    try:
        names = sorted(t.name for t in threads)
        assert all(t.is_alive() for t in threads)
    finally:
        stop.set()
        wake.set()
        for thread in threads:
            thread.join(timeout=30)
        app.engine.dispose()
    assert [name for name in names if not name.startswith("ingest-")] == [
        "oncall",
        "outbox",
        "pending",
        "purge",
        "status-mail",
        "targets",
    ]
    assert not any(t.is_alive() for t in threads)
