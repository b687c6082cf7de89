"""`switchboard --version`, `--help`, `COMMAND --help` and usage errors load no heavy module.

A structural check, not a timing one (bench/startup.py prints the times): a fresh
interpreter imports switchboard.cli and runs the command line, and after each step must not
have imported sqlalchemy, alembic, mailgate, flask, webui, numpy or the queues modules that
pull them in. Also: the choices written out in switchboard.cli (so that `--help` need not
import the models) are still the models' values.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import click

from queues.access import ROLE_ORDER
from queues.models import TicketState
from switchboard.cli import ROLE_NAMES, TICKET_STATES, main

REPO = Path(__file__).resolve().parents[3]

HEAVY = (
    "sqlalchemy",
    "alembic",
    "mailgate",
    "flask",
    "webui",
    "numpy",
    "queues.models",
    "queues.db",
    "queues.migrate",
    "queues.ingest",
)

# Runs in a fresh interpreter: the steps in argv[1] (a JSON list of command lines, None for
# "import switchboard.cli" alone), each followed by the names in HEAVY loaded so far (a
# package counts when any of its modules is loaded).
CHILD = r"""
import json, sys

import click

heavy = json.loads(sys.argv[2])
loaded = lambda: [h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules)]
result = []
import switchboard.cli
for args in json.loads(sys.argv[1]):
    if args is not None:
        try:
            switchboard.cli.main(args, prog_name="switchboard", standalone_mode=False)
        except (SystemExit, click.exceptions.Exit, click.ClickException):
            pass
    result.append([args, loaded()])
print(json.dumps(result))
"""


def _heavy_after(
    steps: list[list[str] | None], tmp_path: Path
) -> list[tuple[list[str] | None, list[str]]]:
    # Settings and database in tmp_path, should a step reach them: never the checkout's var/.
    env = {
        **os.environ,
        "SWITCHBOARD_CONFIG": "",
        "SWITCHBOARD_VAR_DIR": str(tmp_path / "var"),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'startup.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(steps), json.dumps(HEAVY)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [(args, loaded) for args, loaded in json.loads(done.stdout.splitlines()[-1])]


def _command_paths(group: click.Group, prefix: list[str]) -> list[list[str]]:
    paths = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        paths.append([*prefix, name])
        if isinstance(command, click.Group):
            paths += _command_paths(command, [*prefix, name])
    return paths


def test_version_and_help_load_nothing_heavy(tmp_path: Path) -> None:
    steps: list[list[str] | None] = [None, ["--version"], ["--help"], ["show", "--help"]]
    for args, loaded in _heavy_after(steps, tmp_path):
        assert loaded == [], f"after {args or 'import switchboard.cli'}: {loaded}"


def test_every_command_help_and_usage_errors_load_nothing_heavy(tmp_path: Path) -> None:
    commands = _command_paths(main, [])
    assert ["show"] in commands and ["user", "add"] in commands  # the walk found them
    steps: list[list[str] | None] = [[*path, "--help"] for path in commands]
    steps += [
        ["no-such-command"],
        ["show"],  # missing argument
        ["tickets", "--state", "bogus"],
        ["retry", "not-a-number"],
        ["user", "add", "a@example.org", "--role", "boss"],
        ["ingest", "/no/such/path"],
    ]
    for args, loaded in _heavy_after(steps, tmp_path):
        assert loaded == [], f"after {args}: {loaded}"


def test_the_check_sees_what_a_command_loads(tmp_path: Path) -> None:
    """The child does report what a command loads (else the tests above prove nothing)."""
    [(_, loaded)] = _heavy_after([["quarantine"]], tmp_path)  # "not initialized": exit 1
    assert "sqlalchemy" in loaded and "queues.models" in loaded


def test_tickets_reads_an_sqlite_file_without_sqlalchemy(tmp_path: Path) -> None:
    """`tickets`, the quickest look at the queues, reads an SQLite file with the standard
    library (queues.quicklist); elsewhere (here: a database made before the current
    revision) SQLAlchemy Core, still without the ORM models."""
    [(_, initialized)] = _heavy_after([["init"]], tmp_path)
    assert "queues.models" in initialized  # init maps the models ...
    assert (tmp_path / "startup.db").stat().st_size > 0
    [(_, listed)] = _heavy_after([["tickets"]], tmp_path)  # ... a fresh `tickets` does not
    assert listed == []
    with sqlite3.connect(tmp_path / "startup.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    [(_, old)] = _heavy_after([["tickets"]], tmp_path)  # asks SQLAlchemy, which refuses
    assert "sqlalchemy" in old
    assert "queues.models" not in old and "alembic" not in old and "mailgate" not in old


def test_written_out_choices_match_the_models() -> None:
    assert tuple(s.value for s in TicketState) == TICKET_STATES
    assert tuple(r.value for r in ROLE_ORDER) == ROLE_NAMES
