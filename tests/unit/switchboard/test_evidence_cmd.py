"""`switchboard evidence export|verify|key`, `switchboard purge`, and `init`'s signing key,
on SQLite and PostgreSQL, with real-world mail from the corpus (messages the project did
not write), checked with coreutils and gpg as a partner would."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailgate.delivery import OutboxRunner
from queues.db import make_engine, make_sessionmaker
from queues.liaison.evidence.manifest import sha256_hex
from queues.liaison.retention_models import TicketTombstone
from queues.models import AuditEvent, InboundMail, Ticket, TicketState, utcnow
from queues.settings import Settings
from switchboard.cli import main
from switchboard.evidence import purge_timer
from tests.conftest import new_pg_database

Run = Callable[..., Result]
CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
# Real-world messages with attachments: two JPEGs, two parts of the same name, an inline
# image beside a forwarded message, a Japanese bounce.
MESSAGES = (
    "cpython-test-email/msg_22.txt",
    "cpython-test-email/msg_04.txt",
    "mikel-mail/attachment_emails/attachment_message_rfc822_inline_image.eml",
    "sisimai-set-of-emails/lhost-sendmail-01.eml",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with new_pg_database("switchboard_evidence") as url:
        yield url


@pytest.fixture
def sb(database_url: str, tmp_path: Path) -> Iterator[Run]:
    runner = CliRunner()
    var = tmp_path / "var"
    # Triage by the lexicon alone (tests/conftest.py says why).
    env = {"SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_VAR_DIR": str(var),
           "SWITCHBOARD_TRIAGE_MODEL": "off"}  # fmt: skip

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    subprocess.run(["gpgconf", "--homedir", str(var / "gnupg"), "--kill", "all"],
                   capture_output=True, check=False)  # fmt: skip


def session(database_url: str) -> Session:
    return Session(make_engine(database_url))


def ingest(sb: Run, tmp_path: Path, name: str) -> tuple[str, bytes]:
    """One corpus message through `switchboard ingest`; its ticket number and bytes."""
    source = CORPUS / name
    if not source.is_file():
        pytest.skip(f"the corpus is not at {CORPUS}")
    sb("ingest", "--no-progress", "--jobs", "0", str(source))
    tickets = json.loads(sb("tickets", "--json").output)
    return tickets[0]["number"], source.read_bytes()


def partner_checks(package: Path, public_key: str, workdir: Path) -> dict[str, bytes]:
    """sha256sum -c and gpg --verify, in a folder and a keyring of the partner's."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(workdir)
        names = archive.namelist()
    sums = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=workdir,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert sums.returncode == 0, sums.stdout + sums.stderr
    home = workdir.parent / "gpg"
    home.mkdir(mode=0o700)
    try:
        gpg = ["gpg", "--homedir", str(home), "--batch"]
        subprocess.run([*gpg, "--import"], input=public_key.encode(), check=True,
                       capture_output=True)  # fmt: skip
        checked = subprocess.run([*gpg, "--verify", "SHA256SUMS.asc", "SHA256SUMS"], cwd=workdir,
                                 capture_output=True, text=True, check=False)  # fmt: skip
        assert checked.returncode == 0 and "Good signature" in checked.stderr, checked.stderr
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                       check=False)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)
    return {name: (workdir / name).read_bytes() for name in names}


def test_init_creates_the_signing_key_once_and_key_prints_it(sb: Run) -> None:
    first = sb("init")
    made = re.search(r"Created the evidence signing key ([0-9A-F]{40})", first.output)
    assert made is not None
    assert "evidence signing key" not in sb("init").output
    assert sb("evidence", "key", "--fingerprint").output.strip() == made.group(1)
    armored = sb("evidence", "key").output
    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert armored.rstrip().endswith("-----END PGP PUBLIC KEY BLOCK-----")
    show = ["gpg", "--batch", "--with-colons", "--import-options", "show-only", "--import"]
    shown = subprocess.run(show, input=armored.encode(), capture_output=True, check=True)
    assert made.group(1).encode() in shown.stdout


@pytest.mark.parametrize("name", MESSAGES)
def test_export_of_real_mail_checks_out_outside_our_code(
    sb: Run, database_url: str, tmp_path: Path, name: str
) -> None:
    sb("init")
    number, raw = ingest(sb, tmp_path, name)
    out = tmp_path / "evidence.zip"
    exported = sb("evidence", "export", number, "--out", str(out))
    digest = sha256_hex(out.read_bytes())
    assert f"SHA-256 {digest}" in exported.output
    assert out.stat().st_mode & 0o777 == 0o600  # people's mail: the owner only

    files = partner_checks(out, sb("evidence", "key").output, tmp_path / "partner")
    assert files["raw/001.eml"] == raw  # byte for byte what was received
    with session(database_url) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        attachments = [a for art in ticket.articles for a in art.attachments]
        audit = s.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id)).all()
    packed = sorted(n for n in files if n.startswith("attachments/"))
    assert len(packed) == len(attachments)
    assert sorted(sha256_hex(files[n]) for n in packed) == sorted(a.sha256 for a in attachments)
    export_events = [e for e in audit if e.action == "export"]
    assert len(export_events) == 1
    assert export_events[0].actor.startswith("command:")
    assert export_events[0].detail == f"evidence package exported, sha256 {digest}"

    verified = sb("evidence", "verify", str(out))
    assert "every file, the signature and any timestamp check out" in verified.output

    again = sb("evidence", "export", number, "--out", str(out), ok=False)
    assert again.exit_code == 1 and "exists" in again.output
    sb("evidence", "export", number, "--out", str(out), "--force")


def test_commands_leave_no_gpg_agent_of_their_own(sb: Run, tmp_path: Path) -> None:
    """A short command stops the agent it started; a service's running agent is left alone."""
    from queues.liaison.evidence.keys import sign_detached

    sb("init")
    settings = Settings(database_url="sqlite://", var_dir=tmp_path / "var")
    socket = Path(subprocess.run(
        ["gpgconf", "--homedir", str(settings.gnupg_dir), "--list-dirs", "agent-socket"],
        capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    assert not socket.exists()
    number, _raw = ingest(sb, tmp_path, MESSAGES[0])
    out = tmp_path / "e.zip"
    sb("evidence", "export", number, "--out", str(out))
    sb("evidence", "verify", str(out))
    sb("evidence", "key")
    assert not socket.exists()
    sign_detached(b"the web process signs a package\n", settings)  # its agent now runs
    assert socket.exists()
    sb("evidence", "export", number, "--out", str(out), "--force")
    assert socket.exists()


def test_export_and_verify_with_a_timestamp_authority(database_url: str, tmp_path: Path) -> None:
    from tests.unit.queues.liaison.tsa import make_tsa, running_tsa

    authority = make_tsa(tmp_path / "tsa")
    var = tmp_path / "var"
    with running_tsa(authority) as tsa:
        env = {"SWITCHBOARD_DATABASE_URL": database_url, "SWITCHBOARD_VAR_DIR": str(var),
               "SWITCHBOARD_TIMESTAMP_URL": tsa.url}  # fmt: skip
        runner = CliRunner()

        def run(*args: str) -> Result:
            return runner.invoke(main, list(args), env=env, catch_exceptions=False)

        try:
            assert run("init").exit_code == 0
            source = CORPUS / MESSAGES[0]
            assert run("ingest", "--no-progress", "--jobs", "0", str(source)).exit_code == 0
            number = json.loads(run("tickets", "--json").output)[0]["number"]
            out = tmp_path / "stamped.zip"
            assert run("evidence", "export", number, "--out", str(out)).exit_code == 0
            assert len(tsa.queries) == 1
            checked = run("evidence", "verify", str(out), "--tsa-ca", str(authority / "ca.pem"))
            assert checked.exit_code == 0, checked.output
            assert "ok: SHA256SUMS was timestamped at" in checked.output
            assert "Test Timestamp Authority" in checked.output
            tsa.mode = "http-error"
            refused = run("evidence", "export", number, "--out", str(out), "--force")
            assert refused.exit_code == 1 and "answered HTTP 503" in refused.output
        finally:
            subprocess.run(["gpgconf", "--homedir", str(var / "gnupg"), "--kill", "all"],
                           capture_output=True, check=False)  # fmt: skip


def test_verify_exit_codes(sb: Run, tmp_path: Path) -> None:
    sb("init")
    number, _raw = ingest(sb, tmp_path, MESSAGES[0])
    out = tmp_path / "evidence.zip"
    sb("evidence", "export", number, "--out", str(out))
    assert sb("evidence", "verify", str(out)).exit_code == 0

    with zipfile.ZipFile(out) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data.replace(b"wibble", b"wobble") if name == "raw/001.eml"
                             else data)  # fmt: skip
    failed = sb("evidence", "verify", str(tampered), ok=False)
    assert failed.exit_code == 1
    assert "FAILED: raw/001.eml does not match its SHA-256 in SHA256SUMS" in failed.output

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    assert sb("evidence", "verify", str(garbage), ok=False).exit_code == 2
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("hello.txt", b"hi")
    not_package = sb("evidence", "verify", str(empty), ok=False)
    assert not_package.exit_code == 2 and "no manifest.json" in not_package.output

    # Checked against another key, the same package fails.
    other = tmp_path / "other-key.asc"
    home = Path(tmp_path / "o")
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "",
                    "--quick-gen-key", "Other <o@example.org>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)  # fmt: skip
    other.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export"],
                                     check=True, capture_output=True).stdout)  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                   check=False)  # fmt: skip
    wrong = sb("evidence", "verify", str(out), "--key", str(other), ok=False)
    assert wrong.exit_code == 1 and "FAILED: SHA256SUMS.asc" in wrong.output


def test_export_refuses_unknown_tickets_and_missing_schema(sb: Run, tmp_path: Path) -> None:
    before = sb("evidence", "export", "1", "--out", str(tmp_path / "x.zip"), ok=False)
    assert before.exit_code == 1 and "switchboard init" in before.output
    sb("init")
    missing = sb("evidence", "export", "19990101000001", "--out", str(tmp_path / "x.zip"), ok=False)
    assert missing.exit_code == 1 and "no ticket 19990101000001" in missing.output
    assert not (tmp_path / "x.zip").exists()


def test_purge_command(sb: Run, database_url: str, tmp_path: Path) -> None:
    sb("init")
    old, raw = ingest(sb, tmp_path, MESSAGES[0])
    held, _ = ingest(sb, tmp_path, MESSAGES[1])
    long_ago = utcnow() - timedelta(days=400)
    engine = make_engine(database_url)
    # The acknowledgements leave as `switchboard work` sends them (to the Maildir in var/):
    # a ticket whose mail is still queued is never purged.
    settings = Settings(database_url=database_url, var_dir=tmp_path / "var")
    assert OutboxRunner(make_sessionmaker(engine), settings).run_once() == 2
    with Session(engine) as s, s.begin():
        s.execute(update(Ticket).where(Ticket.number.in_([old, held]))
                  .values(state=TicketState.CLOSED, closed_at=long_ago))  # fmt: skip

    assert "No ticket is on legal hold." in sb("hold", "list").output
    placed = sb("hold", "place", held, "--reason", "a court asked us to keep it")
    assert f"Ticket {held} is on legal hold" in placed.output
    listed = sb("hold", "list").output
    assert held in listed and "a court asked us to keep it" in listed and "command:" in listed
    assert sb("hold", "place", "19990101000001", "--reason", "x", ok=False).exit_code == 1
    assert sb("hold", "release", old, "--reason", "x", ok=False).exit_code == 1  # none to release

    dry = sb("purge", "--dry-run")
    assert f"would purge {old} (general-help, closed {long_ago.date().isoformat()}" in dry.output
    assert f"kept {held}: on legal hold" in dry.output
    with Session(engine) as s:
        assert s.scalars(select(Ticket).where(Ticket.number == old)).one_or_none() is not None

    done = sb("purge")
    assert f"purged {old} (general-help" in done.output
    assert "1 tickets purged; 1 due but on legal hold." in done.output
    with Session(engine) as s:
        assert s.scalars(select(Ticket).where(Ticket.number == old)).one_or_none() is None
        assert s.scalars(select(InboundMail).where(InboundMail.raw == raw)).first() is None
        stone = s.scalars(select(TicketTombstone).where(TicketTombstone.number == old)).one()
        assert stone.raw_sha256 == [sha256_hex(raw)] and stone.purged_by.startswith("command:")
        assert s.scalars(select(Ticket).where(Ticket.number == held)).one_or_none() is not None
    assert "nothing to purge" in sb("purge").output
    released = sb("hold", "release", held, "--reason", "the court released it")
    assert "Released 1 holds" in released.output
    assert f"purged {held}" in sb("purge").output
    with Session(engine) as s:
        details = set(s.scalars(select(AuditEvent.detail)))
    assert {f"legal hold placed on ticket {held}", f"legal hold released on ticket {held}",
            "retention purge: 1 tickets removed, tombstones kept"} <= details  # fmt: skip
    engine.dispose()


class OneRound(threading.Event):
    """A stop event for the timer whose first wait ends the loop: exactly one round."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_work_applies_retention_on_its_timer(sb: Run, database_url: str, tmp_path: Path) -> None:
    sb("init")
    old, raw = ingest(sb, tmp_path, MESSAGES[0])
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    settings = Settings(database_url=database_url, var_dir=tmp_path / "var")
    OutboxRunner(factory, settings).run_once()
    with factory.begin() as s:
        s.execute(update(Ticket).where(Ticket.number == old).values(
            state=TicketState.CLOSED, closed_at=utcnow() - timedelta(days=400)))  # fmt: skip

    purge_timer(factory, replace(settings, purge_interval_hours=0), OneRound())  # switched off
    with factory() as s:
        assert s.scalars(select(Ticket).where(Ticket.number == old)).one_or_none() is not None

    purge_timer(factory, settings, OneRound())
    with factory() as s:
        assert s.scalars(select(Ticket).where(Ticket.number == old)).one_or_none() is None
        stone = s.scalars(select(TicketTombstone).where(TicketTombstone.number == old)).one()
        assert stone.purged_by == "system:purge" and stone.raw_sha256 == [sha256_hex(raw)]
    engine.dispose()


@pytest.mark.slow
def test_every_corpus_message_exports_and_verifies(tmp_path: Path) -> None:
    """Every real-world message of the corpus (SQLite): each ticket's package unpacks, passes
    `sha256sum -c` and `gpg --verify`, and its raw files are byte for byte what arrived."""
    from queues.liaison.evidence.package import build_package
    from queues.liaison.evidence.verify import verify_package
    from queues.settings import load_settings

    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is not at {CORPUS}")
    runner = CliRunner()
    var = tmp_path / "var"
    env = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
           "SWITCHBOARD_VAR_DIR": str(var)}  # fmt: skip
    for args in (["init"], ["ingest", "--no-progress", "--jobs", "0", str(CORPUS)]):
        result = runner.invoke(main, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    public = runner.invoke(main, ["evidence", "key"], env=env).output
    settings = load_settings(None, environ=env)
    engine = make_engine(settings.database_url)
    home = tmp_path / "partner-gpg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch"]
    subprocess.run([*gpg, "--import"], input=public.encode(), check=True, capture_output=True)
    exported = 0
    try:
        with make_sessionmaker(engine)() as s:
            received = {sha256_hex(r) for r in s.scalars(select(InboundMail.raw))}
            for ticket_id in s.scalars(select(Ticket.id).order_by(Ticket.id)):
                package = build_package(s, ticket_id, article_ids=None, exporter="sweep",
                                        case=None, settings=settings)  # fmt: skip
                if ticket_id % 25 == 1:  # ours agrees (every check of it is tested elsewhere)
                    assert verify_package(package, settings=settings).ok
                folder = tmp_path / "p" / str(ticket_id)
                folder.mkdir(parents=True)
                with zipfile.ZipFile(io.BytesIO(package)) as archive:
                    archive.extractall(folder)
                    raws = [n for n in archive.namelist() if n.startswith("raw/")]
                assert all(sha256_hex((folder / n).read_bytes()) in received for n in raws)
                subprocess.run(["sha256sum", "--strict", "--quiet", "-c", "SHA256SUMS"],
                               cwd=folder, check=True, capture_output=True)  # fmt: skip
                subprocess.run([*gpg, "--verify", "SHA256SUMS.asc", "SHA256SUMS"], cwd=folder,
                               check=True, capture_output=True)  # fmt: skip
                exported += 1
    finally:
        engine.dispose()
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True,
                       check=False)  # fmt: skip
        subprocess.run(["gpgconf", "--homedir", str(var / "gnupg"), "--kill", "all"],
                       capture_output=True, check=False)  # fmt: skip
    assert exported > 200
