"""`switchboard evidence export|verify|key`, `switchboard purge`, and the purge timer of `work`.

Registered on the main group in switchboard/cli.py. Heavy modules (gpg, ASN.1, the package
builder) are imported inside the commands, so `switchboard --version` stays fast.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from queues.liaison.retention import PurgeReport
    from queues.settings import Settings
    from switchboard.cli import App

# Exit codes of `evidence verify` (DESIGN.md, the command contract).
VERIFY_FAILED = 1
NOT_A_PACKAGE = 2
# Tickets purged per transaction: a long purge never holds SQLite's write lock for long.
PURGE_BATCH = 200


def _operator() -> str:
    """Who ran the command: the operating-system account (there is no signed-in agent)."""
    try:
        return f"command:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (containers)
        return "command:unknown"


def init_signing_key(settings: Settings) -> None:
    """For `switchboard init`: create the organisation's signing key if there is none, and
    say so. A keyring that cannot be used is a warning, not a failed init: the schema and
    accounts are ready, and every export says what is missing until it is fixed."""
    from queues.liaison.evidence.keys import (
        KeyringError,
        agent_of_this_command,
        ensure_org_key,
        org_key_fingerprint,
    )

    try:
        with agent_of_this_command(settings):
            before = org_key_fingerprint(settings)
            fingerprint = ensure_org_key(settings)
    except KeyringError as exc:
        click.echo(f"Warning: no evidence signing key: {exc}", err=True)
        return
    if before is None:
        click.echo(
            f"Created the evidence signing key {fingerprint} in {settings.gnupg_dir}; "
            "`switchboard evidence key` prints its public half for partners."
        )


@click.group()
def evidence() -> None:
    """Evidence packages: export a ticket, verify a package, the organisation's key."""


@evidence.command("export")
@click.argument("number")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the package (a .zip).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_obj
def export(app: App, number: str, out: Path, force: bool) -> None:
    """Export every incoming message of ticket NUMBER as a signed evidence package.

    The export is written to the audit log (who ran it, the ticket, the package's SHA-256).
    """
    from sqlalchemy import select

    from queues.audit import AuditAction, record_command
    from queues.liaison.evidence.keys import KeyringError, agent_of_this_command
    from queues.liaison.evidence.manifest import sha256_hex
    from queues.liaison.evidence.package import EvidenceError, build_package
    from queues.liaison.evidence.timestamp import TimestampError
    from queues.models import Ticket

    app.require_schema()
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists: choose another name, or --force")
    with app.sessions.begin() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number.strip()))
        if ticket is None:
            raise click.ClickException(f"no ticket {number}")
        with click.progressbar(
            length=1, label="Exporting", file=sys.stderr, hidden=not sys.stderr.isatty()
        ) as bar:

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            try:
                with agent_of_this_command(app.settings):
                    package = build_package(
                        session,
                        ticket.id,
                        article_ids=None,
                        exporter=_operator(),
                        case=None,
                        settings=app.settings,
                        progress=advance,
                    )
            except (EvidenceError, KeyringError, TimestampError) as exc:
                raise click.ClickException(str(exc)) from exc
        digest = sha256_hex(package)
        _write_private(out, package)
        event = record_command(session, f"evidence package exported, sha256 {digest}")
        event.action = AuditAction.EXPORT.value
        event.ticket_id = ticket.id
    click.echo(f"Wrote {out} ({len(package)} bytes, SHA-256 {digest}).")
    click.echo(f"Check it with: switchboard evidence verify {out}")


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` readable by the owner only (it holds people's mail), replacing `path`
    in one step so that a half-written package never carries its name."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@evidence.command("verify")
@click.argument("package", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The OpenPGP public key the signature must be by (default: this installation's).",
)
@click.option(
    "--tsa-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="CA certificates (PEM) the timestamp authority must chain to "
    "(default: the timestamp_ca_file setting).",
)
@click.pass_obj
def verify(app: App, package: Path, key_file: Path | None, tsa_ca: str | None) -> None:
    """Check every hash, the signature and any timestamp of PACKAGE.

    Exit 0: every check passed. 1: something failed (each failure is listed). 2: not an
    evidence package (not a zip, or no manifest.json).
    """
    from queues.liaison.evidence.keys import agent_of_this_command
    from queues.liaison.evidence.verify import verify_package

    key = key_file.read_text(errors="replace") if key_file is not None else None
    with agent_of_this_command(app.settings):
        result = verify_package(
            package, public_key_text=key, settings=app.settings, tsa_ca_file=tsa_ca
        )
    if result.not_a_package:
        for problem in result.problems:
            click.echo(f"{package}: {problem}", err=True)
        sys.exit(NOT_A_PACKAGE)
    for line in result.details:
        click.echo(f"ok: {line}")
    if not result.ok:
        for problem in result.problems:
            click.echo(f"FAILED: {problem}")
        click.echo(f"{package}: {len(result.problems)} checks failed.")
        sys.exit(VERIFY_FAILED)
    click.echo(f"{package}: every file, the signature and any timestamp check out.")


@evidence.command("key")
@click.option("--fingerprint", "only_fingerprint", is_flag=True, help="Print the fingerprint only.")
@click.pass_obj
def key(app: App, only_fingerprint: bool) -> None:
    """Print the organisation's public OpenPGP key, for partners to check packages with."""
    from queues.liaison.evidence.keys import (
        KeyringError,
        agent_of_this_command,
        org_key_fingerprint,
        public_key,
    )

    try:
        with agent_of_this_command(app.settings):
            if only_fingerprint:
                fingerprint = org_key_fingerprint(app.settings)
            else:
                armored = public_key(app.settings)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from exc
    if not only_fingerprint:
        click.echo(armored, nl=False)
        return
    if fingerprint is None:
        raise click.ClickException("there is no signing key yet: run `switchboard init`")
    click.echo(fingerprint)


@click.group()
def hold() -> None:
    """Legal holds: tickets that retention must never purge."""


def _ticket_id(session: Session, number: str) -> int:
    from sqlalchemy import select

    from queues.models import Ticket

    ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == number.strip()))
    if ticket_id is None:
        raise click.ClickException(f"no ticket {number}")
    return ticket_id


@hold.command("place")
@click.argument("number")
@click.option("--reason", required=True, help="Why it must be kept (a court order, a case...).")
@click.pass_obj
def hold_place(app: App, number: str, reason: str) -> None:
    """Put ticket NUMBER on legal hold."""
    from queues.audit import record_command
    from queues.liaison.retention import place_hold

    app.require_schema()
    try:
        with app.sessions.begin() as session:
            place_hold(session, _ticket_id(session, number), reason, _operator())
            record_command(session, f"legal hold placed on ticket {number.strip()}"[:200])
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Ticket {number.strip()} is on legal hold: it will not be purged.")


@hold.command("release")
@click.argument("number")
@click.option("--reason", required=True, help="Why it may now follow its queue's retention.")
@click.pass_obj
def hold_release(app: App, number: str, reason: str) -> None:
    """Release every legal hold on ticket NUMBER."""
    from queues.audit import record_command
    from queues.liaison.retention import release_hold

    app.require_schema()
    try:
        with app.sessions.begin() as session:
            released = release_hold(session, _ticket_id(session, number), reason, _operator())
            record_command(session, f"legal hold released on ticket {number.strip()}"[:200])
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Released {len(released)} holds on ticket {number.strip()}.")


@hold.command("list")
@click.pass_obj
def hold_list(app: App) -> None:
    """Tickets on legal hold, with who placed each hold, when and why."""
    from sqlalchemy import select

    from queues.liaison.retention_models import LegalHold
    from queues.models import Ticket

    app.require_schema()
    with app.sessions() as session:
        rows = session.execute(
            select(Ticket.number, LegalHold.placed_at, LegalHold.placed_by, LegalHold.reason)
            .join(Ticket, Ticket.id == LegalHold.ticket_id)
            .where(LegalHold.released_at.is_(None))
            .order_by(LegalHold.placed_at, LegalHold.id)
        ).all()
    for number, placed_at, placed_by, reason in rows:
        click.echo(f"{number}  {placed_at.isoformat()[:16]}  {placed_by}  {reason}")
    if not rows:
        click.echo("No ticket is on legal hold.", err=True)


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.pass_obj
def purge(app: App, dry_run: bool) -> None:
    """Apply retention: remove the content of closed tickets past their queue's period.

    Tickets on legal hold are never purged. Each purged ticket leaves a tombstone (number,
    dates, queue, hashes, who purged it).
    """
    from queues.models import utcnow

    app.require_schema()
    now = utcnow()
    reports = run_purge(app.sessions, app.settings, now=now, dry_run=dry_run, actor=_operator())
    verb = "would purge" if dry_run else "purged"
    purged = [item for report in reports for item in report.purged]
    for item in purged:
        closed = item.closed_at.isoformat()[:10] if item.closed_at else "?"
        click.echo(
            f"{verb} {item.number} ({item.queue}, closed {closed}, {item.articles} messages, "
            f"{item.attachments} attachments)"
        )
    held = sorted({n for report in reports for n in report.held})
    for number in held:
        click.echo(f"kept {number}: on legal hold")
    for number, why in (p for report in reports for p in report.postponed):
        click.echo(f"postponed {number}: {why}", err=True)
    done = f"{len(purged)} tickets {verb}" if purged else f"nothing to purge ({verb} 0)"
    click.echo(f"{done}; {len(held)} due but on legal hold.")


def run_purge(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool,
    actor: str,
) -> list[PurgeReport]:
    """Purge in batches of PURGE_BATCH tickets, one transaction each (a dry run in one)."""
    from queues.liaison.retention import purge as purge_tickets

    reports = []
    while True:
        with factory.begin() as session:
            report = purge_tickets(
                session,
                settings,
                now=now,
                dry_run=dry_run,
                actor=actor,
                limit=None if dry_run else PURGE_BATCH,
            )
        reports.append(report)
        if not report.more:
            return reports


def purge_timer(factory: sessionmaker[Session], settings: Settings, stop: threading.Event) -> None:
    """For `switchboard work`: apply retention now, then every purge_interval_hours."""
    from queues.models import utcnow

    log = logging.getLogger("switchboard.purge")
    interval = settings.purge_interval_hours * 3600
    if interval <= 0:
        return
    while not stop.is_set():
        try:
            reports = run_purge(
                factory, settings, now=utcnow(), dry_run=False, actor="system:purge"
            )
            purged = sum(len(r.purged) for r in reports)
            if purged:
                log.info("retention: %d tickets purged, tombstones kept", purged)
        except Exception:  # the database away for a moment: try again next time
            log.warning("could not apply retention", exc_info=True)
        stop.wait(interval)
