"""The `switchboard` command: wires settings, database and packages (DESIGN.md contract).

Each command imports what it works with (sqlalchemy, the models, mailgate...) inside its
function, and App opens settings and database only when a command asks for them: so
`--version`, `--help`, `COMMAND --help` and usage errors answer without loading any of it
(tests/unit/switchboard/test_startup.py checks this; bench/startup.py times it).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from switchboard.evidence import evidence, hold, init_signing_key, purge, purge_timer
from switchboard.triage_cmd import triage as triage_command

if TYPE_CHECKING:
    from concurrent.futures import Future

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from mailgate.parseahead import ParseAhead, Parsed
    from mailgate.sources import SourceMessage
    from queues.ingest import Outcome
    from queues.models import Ticket
    from queues.settings import Settings

# The values of queues.models.TicketState and of queues.access.ROLE_ORDER, written out for the
# options' choices: importing either module loads sqlalchemy and every model, which `--help`
# and usage errors should not wait for. test_startup.py checks that they still match.
TICKET_STATES = ("new", "open", "pending", "closed")
ROLE_NAMES = ("volunteer", "specialist", "staff")


@dataclass
class App:
    """What every subcommand needs, built lazily from the global options."""

    config_file: str | None

    @cached_property
    def settings(self) -> Settings:
        from queues.settings import SettingsError, load_settings

        try:
            return load_settings(self.config_file)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from exc

    def use_triage_cache(self) -> None:
        """For the commands that triage mail (ingest, retry, work, serve): this process and
        the parser workers it forks read the triage patterns' anchors from a file instead of
        working them out again (queues.triage.cache)."""
        from queues.triage import use_cache

        use_cache(Path(self.settings.var_dir) / "cache")

    @cached_property
    def engine(self) -> Engine:
        from queues.db import make_engine

        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from queues.db import make_sessionmaker

        return make_sessionmaker(self.engine)

    @cached_property
    def readers(self) -> sessionmaker[Session]:
        """Sessions for looks that only read. On SQLite their transactions start deferred,
        so they do not take the write lock that `sessions` take up front (queues.db)."""
        from queues.db import make_engine, make_sessionmaker

        if self.engine.dialect.name != "sqlite":
            return self.sessions
        return make_sessionmaker(make_engine(self.settings.database_url, sqlite_immediate=False))

    def require_schema(self) -> None:
        from sqlalchemy.exc import OperationalError

        from queues.schemaversion import HEAD_REVISION, stored_revision

        try:
            current = stored_revision(self.engine)
        except OperationalError as exc:
            raise click.ClickException(f"cannot open the database: {exc.orig}") from exc
        if current != HEAD_REVISION:
            raise click.ClickException(
                "the database is not initialized or is out of date: run `switchboard init`"
            )


pass_app = click.make_pass_decorator(App)


@click.group()
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress and decisions to stderr.")
@click.version_option(package_name="switchboard")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, verbose: bool) -> None:
    """Switchboard: an email-ticket queue for a help team that handles harassment reports."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = App(config_file)


@main.command()
@click.option(
    "--admin-email",
    default="admin@localhost",
    show_default=True,
    help="Address of the first staff account, created only if there is no account.",
)
@pass_app
def init(app: App, admin_email: str) -> None:
    """Create or upgrade the schema, seed the queues, create a first staff account."""
    from sqlalchemy.exc import OperationalError

    from queues.accounts import ensure_first_staff
    from queues.liaison.referral import seed_referral_templates
    from queues.migrate import head_revision, upgrade
    from queues.seed import seed_queue_signatures, seed_queues, seed_reply_templates

    Path(app.settings.var_dir).mkdir(parents=True, exist_ok=True)
    try:
        upgrade(app.engine)
    except OperationalError as exc:
        raise click.ClickException(f"cannot open the database: {exc.orig}") from exc
    with app.sessions.begin() as session:
        created = seed_queues(session)
        seed_queue_signatures(session, created)
        templates = seed_reply_templates(session)
        referral_languages = seed_referral_templates(session)
        first = ensure_first_staff(session, admin_email)
        if first is not None:
            user, password = first
            admin = (user.email, password)
    click.echo(
        f"Database ready at revision {head_revision()} ({app.engine.url.render_as_string()})."
    )
    if created:
        click.echo(f"Created queues: {', '.join(created)}.")
    if templates:
        click.echo(f"Created reply templates: {', '.join(templates)}.")
    if referral_languages:
        click.echo(f"Created police referral templates in: {', '.join(referral_languages)}.")
    if first is not None:
        click.echo(f"Created staff account {admin[0]} with password: {admin[1]}")
        click.echo("This password is shown only now: keep it somewhere safe.")
    init_signing_key(app.settings)


def _echo_outcome(outcome: Outcome, label: str) -> None:
    if outcome.kind in ("quarantined", "failed"):
        click.echo(
            f"{label}: {outcome.kind} (inbound {outcome.inbound_id}): {outcome.detail}", err=True
        )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--no-progress", is_flag=True, help="Do not show a progress bar.")
@click.option(
    "--jobs",
    type=click.IntRange(min=0, max=32),
    default=None,
    help="Parser worker processes beside this one (default: one per spare core, at most 3; "
    "0 parses in this process).",
)
@pass_app
def ingest(app: App, paths: tuple[Path, ...], no_progress: bool, jobs: int | None) -> None:
    """Import .eml files, folders (recursively), mbox files or Maildirs.

    Each message is stored raw first, then processed, exactly as mail from the gateway.
    """
    from mailgate.parseahead import ParseAhead, default_jobs
    from mailgate.sources import scan

    app.use_triage_cache()
    found = scan(list(paths))
    tally: Tally[str] = Tally()
    show = not no_progress and sys.stderr.isatty()
    # The workers fork before this process opens the database.
    with ParseAhead(default_jobs() if jobs is None else jobs) as parser:
        app.require_schema()
        with click.progressbar(
            length=found.total_bytes,
            label="Importing",
            file=sys.stderr,
            show_eta=True,
            hidden=not show,
        ) as bar:
            # While one batch is stored and decided here, the workers parse the next.
            pending: tuple[list[SourceMessage], list[Future[list[Parsed]]]] | None = None
            for batch in _batches(found.files):
                futures = parser.submit([m.raw for m in batch])
                if pending is not None:
                    _ingest_batch(app, parser, *pending, tally, bar.update)
                pending = (batch, futures)
            if pending is not None:
                _ingest_batch(app, parser, *pending, tally, bar.update)
    total = sum(tally.values())
    click.echo(
        f"{total} messages: {tally['new']} new tickets, {tally['followup']} follow-ups, "
        f"{tally['duplicate']} duplicates, {tally['ignored']} ignored, "
        f"{tally['quarantined']} quarantined."
    )
    if found.skipped:
        click.echo(
            f"Skipped {len(found.skipped)} files that are not mail (e.g. {found.skipped[0]})."
        )
    if tally["quarantined"]:
        click.echo("Quarantined messages are kept: see `switchboard quarantine`.")


# Stored in one commit, then processed in one more (each message in its own savepoint):
# two fsyncs per batch instead of two per message, and a bounded amount of mail in memory.
_BATCH_MESSAGES = 64
_BATCH_BYTES = 16 * 1024 * 1024


def _batches(files: list[Path]) -> Iterator[list[SourceMessage]]:
    from mailgate.sources import read_messages

    batch: list[SourceMessage] = []
    size = 0
    for path in files:
        for message in read_messages(path):
            batch.append(message)
            size += len(message.raw)
            if len(batch) >= _BATCH_MESSAGES or size >= _BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _ingest_batch(
    app: App,
    parser: ParseAhead,
    batch: list[SourceMessage],
    futures: list[Future[list[Parsed]]],
    tally: Tally[str],
    advance: Callable[[int], None],
) -> None:
    from mailgate.parser import parse_message
    from queues.ingest import process_batch, process_stored, store_batch

    parser.collect([m.raw for m in batch], futures)
    ids = store_batch(app.sessions, [(m.raw, f"file:{m.label}") for m in batch])
    outcomes = process_batch(app.sessions, ids, app.settings, parser)
    for message, inbound_id, outcome in zip(batch, ids, outcomes, strict=True):
        # A failure may be passing (a locked database): retry now, up to the attempt limit.
        while outcome.kind == "failed":
            outcome = process_stored(app.sessions, inbound_id, app.settings, parse_message)
        tally[outcome.kind] += 1
        _echo_outcome(outcome, message.label)
        advance(message.input_bytes)


@main.command()
@click.option("--queue", "queue_slug", help="Only this queue (slug).")
@click.option("--state", type=click.Choice(TICKET_STATES), help="Only this state.")
@click.option("--limit", type=int, default=0, help="At most this many (newest first); 0 = all.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def tickets(app: App, queue_slug: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """List tickets, newest first."""
    from queues import quicklist
    from queues.ticketsummary import UnknownQueue

    try:
        # The quickest look answers at once: an SQLite file is read with the standard
        # library; anything else (and any trouble) with SQLAlchemy Core, without the models.
        rows = quicklist.ticket_rows(app.settings.database_url, queue_slug, state, limit)
        if rows is None:
            from queues.ticketrows import ticket_rows

            app.require_schema()
            with app.engine.connect() as conn:
                rows = ticket_rows(conn, queue_slug, state, limit)
    except UnknownQueue:
        raise click.ClickException(f"no queue {queue_slug!r}") from None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        flag = "!" if r["triage"]["reasons"] else " "
        click.echo(
            f"{r['number']} {flag} {r['queue']:<17} {r['state']:<7} p{r['priority']} "
            f"{r['created_at'][:16]}  {r['requester']['email'] or '-'}  {r['subject'][:60]}"
        )
    if not rows:
        click.echo("No tickets.", err=True)


@main.command()
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def show(app: App, number: str, as_json: bool) -> None:
    """Show one ticket with its whole thread (a restricted ticket's reading is audited)."""
    from sqlalchemy import select

    from queues.models import Ticket
    from queues.present import history_dict, ticket_detail, ticket_history

    app.require_schema()
    with app.sessions.begin() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number.strip()))
        if ticket is None:
            raise click.ClickException(f"no ticket {number}")
        data = ticket_detail(ticket)
        # The operator sees every ticket: history rows name the other ticket by number.
        data["history"] = [history_dict(e) for e in ticket_history(session, ticket, None)]
        _audit_show(session, ticket, as_json)
    # Committed above, before anything is printed: the reading is on record even if the
    # output goes nowhere.
    history = [(e["at"][:19], e["kind"], e["detail"]) for e in data["history"]]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_ticket(data, history)


COMMAND_LINE = "command line"  # the audit log's client for what the command shows


def _audit_show(session: Session, ticket: Ticket, as_json: bool) -> None:
    """A view of a restricted ticket, audited like a web view (DESIGN.md, need to know):
    the operating-system account, client "command line"; never the content."""
    from queues.access import is_restricted
    from queues.audit import AuditAction, record_command

    if not is_restricted(ticket.queue):
        return
    event = record_command(session, "ticket shown as JSON" if as_json else "ticket shown")
    event.action = AuditAction.VIEW.value
    event.ticket_id = ticket.id
    event.client = COMMAND_LINE


def _print_ticket(data: dict[str, Any], history: list[tuple[str, str, str]]) -> None:
    req = data["requester"]
    click.echo(f"Ticket {data['number']}: {data['subject']}")
    click.echo(
        f"Queue {data['queue']}, state {data['state']}, priority {data['priority']}, "
        f"created {data['created_at']}"
    )
    click.echo(f"Requester: {req['name'] or ''} <{req['email'] or '-'}>")
    for reason in data["triage"]["reasons"]:
        click.echo(f"Triage: {reason}")
    for i, a in enumerate(data["articles"], 1):
        click.echo(f"\n--- {i}. {a['kind']} from {a['from']} on {a['date'] or '?'}")
        click.echo(f"Subject: {a['subject']}")
        for att in a["attachments"]:
            click.echo(
                f"Attachment: {att['filename']} ({att['content_type']}, {att['size']} bytes)"
            )
        click.echo("")
        click.echo(a["body_text"].rstrip())
    if history:
        click.echo("\nHistory:")
        for at, kind, detail in history:
            click.echo(f"  {at} {kind}: {detail}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def quarantine(app: App, as_json: bool) -> None:
    """List quarantined inbound mail with its error."""
    from sqlalchemy import select

    from queues.models import InboundMail, InboundState

    app.require_schema()
    with app.sessions() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "received_at": m.received_at.isoformat(),
                "source": m.source,
                "size": m.size,
                "attempts": m.attempts,
                "error": m.last_error,
            }
            for m in session.scalars(
                select(InboundMail)
                .where(InboundMail.state == InboundState.QUARANTINED)
                .order_by(InboundMail.id)
            )
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['received_at'][:19]}  {r['source']}  {r['error']}")
    if not rows:
        click.echo("Nothing is quarantined.", err=True)


@main.command()
@click.argument("inbound_id", type=int)
@pass_app
def retry(app: App, inbound_id: int) -> None:
    """Process a quarantined message again."""
    from mailgate.parser import parse_message
    from queues.ingest import process_stored, retry_quarantined

    app.require_schema()
    app.use_triage_cache()
    try:
        retry_quarantined(app.sessions, inbound_id)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    outcome = process_stored(app.sessions, inbound_id, app.settings, parse_message)
    click.echo(f"inbound {inbound_id}: {outcome.kind} {outcome.ticket_number or outcome.detail}")


# --- Long-running processes -------------------------------------------------------------
# As everywhere here, the mail edge modules are imported inside the commands: besides a
# quick start, a broken optional part (say, TLS files) cannot stop `show` from working.


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C: the message in hand finishes, then we stop."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        logging.getLogger("switchboard").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# How often Python hands the GIL from a busy thread to a waiting one (default 5 ms). In a
# process of several threads (the gateway answering clients, runners deciding messages),
# a thread with a reply to send waited up to that long behind one that was computing, at
# every step; at 1 ms `serve` decides about 30 % more messages a second, with the sender
# checks off and on (bench/README.md, "The sender checks' cost").
SWITCH_INTERVAL_SECONDS = 0.001


def _threads_take_turns() -> None:
    """For the commands that run several busy threads: a shorter GIL switch interval."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    logging.getLogger("switchboard").info(
        "threads take turns every %.0f ms", SWITCH_INTERVAL_SECONDS * 1000
    )


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _runners(app: App, stop: threading.Event) -> tuple[list[threading.Thread], threading.Event]:
    """Start the ingest, outbox and on-call runners and the timers; returns their threads
    and the ingest wake event."""
    from mailgate.delivery import OutboxRunner
    from mailgate.parser import parse_message
    from mailgate.runners import IngestRunner
    from queues.reporter.status import run_timer as status_mail_timer
    from queues.targets.breaches import breach_timer
    from queues.team.oncall import OnCallRunner

    _warm_up(app)
    wake_ingest, wake_outbox, wake_oncall = threading.Event(), threading.Event(), threading.Event()

    def after_ingest(_outcome: object) -> None:
        wake_outbox.set()  # an acknowledgement to send
        wake_oncall.set()  # perhaps a ticket new in specialist-safety: on call looks at once

    count = app.settings.ingest_runners or (2 if app.engine.dialect.name == "postgresql" else 1)
    ingest_runners = [
        IngestRunner(
            app.sessions,
            app.settings,
            parse_message,
            after_each=after_ingest,
            readers=app.readers,
        )
        for _ in range(count)
    ]
    # The agents on duty told of each ticket new in specialist-safety (issue 12).
    oncall_runner = OnCallRunner(
        app.sessions, app.settings, after_mail=wake_outbox.set, readers=app.readers
    )
    outbox_runner = OutboxRunner(
        app.sessions, app.settings, lease=timedelta(seconds=app.settings.outbox_lease_seconds)
    )
    threads = [
        *(
            _thread(
                f"ingest-{n}",
                partial(runner.run, stop, wake_ingest, app.settings.ingest_poll_seconds),
            )
            for n, runner in enumerate(ingest_runners, 1)
        ),
        _thread("outbox", lambda: outbox_runner.run(stop, wake_outbox)),
        _thread("oncall", lambda: oncall_runner.run(stop, wake_oncall)),
        _thread("pending", lambda: _reopen_pending(app.sessions, stop)),
        _thread("purge", lambda: purge_timer(app.sessions, app.settings, stop)),
        # Tickets past their response target (issue 13): priority up, on-duty and staff told.
        _thread("targets", lambda: breach_timer(app.sessions, app.settings, stop)),
        # The reporter told when their ticket changes hands (issue 13), in fixed wording.
        _thread("status-mail", lambda: status_mail_timer(app.sessions, app.settings, stop)),
    ]
    return threads, wake_ingest


def _warm_up(app: App) -> None:
    """Load the models ingest uses (anchors from the triage cache file) before any runner
    takes mail or the gateway listens."""
    import time

    from queues.ingest import warm_up
    from queues.triage.staff import current_lexicon

    app.use_triage_cache()
    started = time.monotonic()
    with app.sessions() as session:
        lexicon = current_lexicon(session)
    warm_up(lexicon)  # outside the transaction (SQLite: BEGIN IMMEDIATE, the write lock)
    logging.getLogger("switchboard").info(
        "ingest ready: triage patterns and models loaded in %.2f s", time.monotonic() - started
    )


PENDING_CHECK_SECONDS = 60.0


def _reopen_pending(factory: sessionmaker[Session], stop: threading.Event) -> None:
    """Once a minute, pending tickets whose date has come are open again."""
    from queues.models import utcnow
    from queues.tickets import reopen_due_pending

    log = logging.getLogger("switchboard.pending")
    while not stop.is_set():
        try:
            with factory.begin() as session:
                numbers = reopen_due_pending(session, utcnow())
            if numbers:
                log.info("pending date reached, open again: %s", ", ".join(numbers))
        except Exception:  # the database away for a moment: try again next time
            log.warning("could not reopen due pending tickets", exc_info=True)
        stop.wait(PENDING_CHECK_SECONDS)


main.add_command(evidence)
main.add_command(hold)
main.add_command(purge)
main.add_command(triage_command)


@main.command()
@click.option("--lmtp", is_flag=True, help="Speak LMTP (behind Postfix) instead of SMTP.")
@pass_app
def gateway(app: App, lmtp: bool) -> None:
    """Run the SMTP/LMTP gateway alone (processing is left to `switchboard work`)."""
    from mailgate.doorbell import Ringer, bell_path
    from mailgate.gateway import run_gateway

    app.require_schema()
    _threads_take_turns()
    ringer = Ringer(bell_path(app.settings.var_dir))  # `work` decides at once, not at its poll
    try:
        run_gateway(
            app.settings, app.sessions, lmtp=lmtp, on_stored=ringer.ring, stop=_stop_on_signals()
        )
    finally:
        ringer.close()


@main.command()
@pass_app
def work(app: App) -> None:
    """Run the ingest and outbox runners."""
    from mailgate.doorbell import Doorbell, bell_path

    app.require_schema()
    _threads_take_turns()
    stop = _stop_on_signals()
    threads, wake_ingest = _runners(app, stop)
    # A separate gateway or fetcher rings when it has stored a message (mailgate.doorbell).
    doorbell = Doorbell(bell_path(app.settings.var_dir), wake_ingest.set)
    doorbell.open()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        doorbell.close()
    for thread in threads:
        thread.join()


@main.command()
@click.option("--once", is_flag=True, help="Fetch what is there now, then exit.")
@pass_app
def fetch(app: App, once: bool) -> None:
    """Run the IMAP fetcher for every configured mailbox."""
    from mailgate.doorbell import Ringer, bell_path
    from mailgate.fetcher import run_fetchers

    app.require_schema()
    if not app.settings.imap:
        raise click.ClickException("no IMAP mailboxes are configured ([[switchboard.imap]])")
    ringer = Ringer(bell_path(app.settings.var_dir))
    try:
        run_fetchers(
            app.settings, app.sessions, once=once, stop=_stop_on_signals(), on_stored=ringer.ring
        )
    finally:
        ringer.close()


@main.command()
@pass_app
def serve(app: App) -> None:
    """Embedded all-in-one on loopback: gateway, runners, configured fetchers and web UI."""
    from mailgate.fetcher import run_fetchers
    from mailgate.gateway import run_gateway

    app.require_schema()
    _threads_take_turns()
    stop = _stop_on_signals()
    threads, wake_ingest = _runners(app, stop)
    if app.settings.imap:
        threads.append(
            _thread(
                "fetch",
                lambda: run_fetchers(
                    app.settings, app.sessions, once=False, stop=stop, on_stored=wake_ingest.set
                ),
            )
        )
    web_server = _embedded_web(app)
    threads.append(_thread("web", web_server.run))
    click.echo(
        f"Switchboard is running: SMTP on {app.settings.gateway_host}:{app.settings.gateway_port}; "
        f"web UI on http://{app.settings.web_host}:{web_server.effective_port}/; "
        f"outgoing mail goes to {app.settings.relay_host or app.settings.outgoing_maildir}. "
        "Ctrl-C stops it.",
        err=True,
    )
    try:
        run_gateway(app.settings, app.sessions, on_stored=wake_ingest.set, stop=stop)
    finally:
        stop.set()
        web_server.close()
        for thread in threads:
            thread.join()


def _embedded_web(app: App) -> Any:
    """The web UI for `serve`: waitress in a thread, plain HTTP on loopback.

    Browsers send Secure cookies only over HTTPS, except to a loopback address, which they
    treat as a secure origin; off loopback the embedded server would leak the session over
    plain HTTP, so `serve` refuses a non-loopback web_host (run `switchboard web` behind a
    TLS proxy for that).
    """
    import ipaddress

    from waitress.server import create_server

    from mailgate.parser import parse_message
    from webui import create_app

    host = app.settings.web_host
    loopback = host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)
    if not loopback:
        raise click.ClickException(
            f"serve runs the web UI on loopback only, not {host}: use `switchboard web` "
            "behind a TLS reverse proxy (README, 'Production')"
        )
    config = {"SESSION_COOKIE_SECURE": False, "INGEST_PARSER": parse_message}
    wsgi = create_app(config, settings=app.settings)
    return create_server(wsgi, host=host, port=app.settings.web_port, threads=4)


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# --- Agent accounts and the web UI ------------------------------------------------------


@main.group()
def user() -> None:
    """Agent accounts for the web UI (volunteer, specialist, staff)."""


@user.command("add")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLE_NAMES, case_sensitive=False),
    help="volunteer: general help; specialist: also specialist safety; staff: everything.",
)
@click.option("--name", default="", help="The agent's name, as colleagues will see it.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of generating one.",
)
@click.option(
    "--own-password",
    is_flag=True,
    help="With --password-stdin: the agent typed this password themselves, so they are not "
    "asked to choose another at the first sign-in (otherwise they are).",
)
@click.option(
    "--vetted-by",
    default="",
    metavar="NAME",
    help="Who vetted the agent (recorded with the operating-system account that ran this); "
    "default: that account alone.",
)
@pass_app
def user_add(
    app: App,
    email: str,
    role: str,
    name: str,
    password_stdin: bool,
    own_password: bool,
    vetted_by: str,
) -> None:
    """Create an account; a generated password is printed once.

    The agent must choose their own password at the first sign-in, as for every account
    made by someone else, unless --own-password says they typed it themselves. Who vetted
    them is recorded on their profile (issue 12).
    """
    import secrets

    from queues.access import check_new_password, parse_role
    from queues.accounts import create_user
    from queues.audit import record_command
    from queues.models import utcnow
    from queues.team.vetting import record_vetting

    app.require_schema()
    if own_password and not password_stdin:
        raise click.UsageError("--own-password needs --password-stdin")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            check_new_password(password)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        password = secrets.token_urlsafe(15)
    try:
        with app.sessions.begin() as session:
            account = create_user(
                session,
                email,
                parse_role(role),
                password,
                name=name.strip(),
                one_time=not own_password,
            )
            session.flush()
            who = f"command:{_os_user()}"
            named = " ".join(vetted_by.split())
            record_vetting(session, account, f"{named} ({who})" if named else who, utcnow())
            created = (account.email, account.role.value)
            record_command(session, f"account {account.email} added as {account.role.value}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {created[1]} account {created[0]}.")
    if not password_stdin:
        click.echo(f"Password: {password}")
        click.echo("This password is shown only now: hand it over safely.")
    if not own_password:
        click.echo("The agent must choose their own password when they first sign in.")


@user.command("disable")
@click.argument("email")
@click.option(
    "--reason",
    default="disabled with the switchboard command",
    help="Why, for the record (the agent's page shows it to staff).",
)
@pass_app
def user_disable(app: App, email: str, reason: str) -> None:
    """Suspend an account: it stops signing in, its web sessions end at once, its answering
    locks are freed and the open tickets it owns go back to their queues."""
    from queues.access import find_user
    from queues.audit import record_command
    from queues.models import utcnow
    from queues.team.leaving import LeavingError, suspend

    app.require_schema()
    with app.sessions.begin() as session:
        account = find_user(session, email)
        if account is None:
            raise click.ClickException(f"no account for {email.strip().lower()}")
        try:
            by = f"command:{_os_user()}"
            left = suspend(session, account, by, reason, utcnow(), audit=False)
        except LeavingError as exc:
            raise click.ClickException(str(exc)) from exc
        record_command(session, f"account {account.email} disabled")
        handed = (left.tickets_returned, left.locks_released)
    click.echo(
        f"Disabled {email.strip().lower()}; its web sessions have ended, "
        f"{handed[0]} tickets went back to their queues, {handed[1]} locks were freed."
    )


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return "unknown"


def _account(session: Session, email: str) -> Any:
    """The account for `email`, or a ClickException naming it."""
    from queues.access import find_user

    account = find_user(session, email)
    if account is None:
        raise click.ClickException(f"no account for {email.strip().lower()}")
    return account


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def user_list(app: App, as_json: bool) -> None:
    """List the accounts: active ones first, then by address."""
    from sqlalchemy import select

    from queues.models import User

    app.require_schema()
    with app.sessions() as session:
        rows: list[dict[str, Any]] = [
            {
                "email": u.email,
                "name": u.name,
                "role": u.role.value,
                "active": u.active,
                "must_change_password": u.must_change_password,
                "signature_name": u.signature_name,
                "created_at": u.created_at.isoformat(),
            }
            for u in session.scalars(select(User).order_by(User.active.desc(), User.email))
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        notes = [] if r["active"] else ["disabled"]
        if r["must_change_password"]:
            notes.append("must choose a password")
        click.echo(
            f"{r['email']:<40} {r['role']:<10} {r['name'] or '-'}"
            + (f"  ({', '.join(notes)})" if notes else "")
        )
    if not rows:
        click.echo("No accounts.", err=True)


@user.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLE_NAMES, case_sensitive=False))
@pass_app
def user_role(app: App, email: str, role: str) -> None:
    """Give an account another role; its web sessions end, so the new rights apply at once."""
    from queues.access import parse_role, set_role
    from queues.audit import record_command

    app.require_schema()
    with app.sessions.begin() as session:
        account = _account(session, email)
        old, new = account.role, parse_role(role)
        if old is new:
            click.echo(f"{account.email} is already {new.value}.")
            return
        set_role(session, account, new)
        record_command(session, f"account {account.email} role {old.value} -> {new.value}")
        shown = account.email
    click.echo(f"{shown} is now {new.value}; their web sessions have ended.")


@user.command("enable")
@click.argument("email")
@pass_app
def user_enable(app: App, email: str) -> None:
    """Let a disabled account sign in again (with its password as it was)."""
    from queues.audit import record_command
    from queues.team.leaving import LeavingError, enable

    app.require_schema()
    with app.sessions.begin() as session:
        account = _account(session, email)
        if account.active:
            click.echo(f"{account.email} is already enabled.")
            return
        try:
            enable(session, account)  # never a removed account
        except LeavingError as exc:
            raise click.ClickException(str(exc)) from exc
        record_command(session, f"account {account.email} enabled")
        shown = account.email
    click.echo(f"Enabled {shown}: it may sign in again.")


@user.command("reset-password")
@click.argument("email")
@pass_app
def user_reset_password(app: App, email: str) -> None:
    """Give an account a new one-time password (printed once) and end its sessions; the
    agent must choose their own at the next sign-in."""
    import secrets

    from queues.access import set_password
    from queues.audit import record_command

    app.require_schema()
    password = secrets.token_urlsafe(15)
    with app.sessions.begin() as session:
        account = _account(session, email)
        set_password(session, account, password, one_time=True)
        record_command(session, f"account {account.email} password reset")
        shown, active = account.email, account.active
    click.echo(f"New one-time password for {shown}: {password}")
    click.echo("It is shown only now: hand it over safely. The agent must choose their own")
    click.echo("when they next sign in; every session of the account has ended.")
    if not active:
        click.echo(f"The account is disabled: `switchboard user enable {shown}` to let it in.")


@user.command("reset-two-factor")
@click.argument("email")
@pass_app
def user_reset_two_factor(app: App, email: str) -> None:
    """Forget an account's two-factor secret and recovery codes (a lost phone, when no staff
    member can sign in to do it); its sessions end, and it enrols again at the next sign-in
    if it must use two-factor sign-in."""
    from queues.access import end_sessions
    from queues.audit import record_command
    from queues.team.twofactor import remove

    app.require_schema()
    with app.sessions.begin() as session:
        account = _account(session, email)
        remove(session, account)
        end_sessions(account)
        record_command(session, f"account {account.email} two-factor reset")
        shown = account.email
    click.echo(f"Two-factor sign-in of {shown} is reset; every session of the account has ended.")


@main.command()
@click.option("--host", help="Address to listen on (default: the web_host setting).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: web_port).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option(
    "--trusted-proxy",
    metavar="ADDRESS",
    help="The reverse proxy's address: only its X-Forwarded-For/-Proto are believed "
    "(client addresses for login throttling and the audit log; HTTPS detection).",
)
@click.option(
    "--insecure-cookie",
    is_flag=True,
    help="Let the session cookie travel over plain HTTP, for trying things out from another "
    "machine without TLS. Browsers already accept the Secure cookie from http://localhost "
    "and http://127.0.0.1; in production, serve HTTPS through a reverse proxy.",
)
@pass_app
def web(
    app: App,
    host: str | None,
    port: int | None,
    threads: int,
    trusted_proxy: str | None,
    insecure_cookie: bool,
) -> None:
    """Run the agents' web UI with waitress (a production WSGI server)."""
    import waitress

    from mailgate.parser import parse_message
    from webui import create_app

    app.require_schema()
    # The public form's reports and quarantined mail that staff re-run are processed in
    # this process, at once (webui.report, webui.staff_mail): load what that needs first.
    _warm_up(app)
    overrides: dict[str, Any] = {"INGEST_PARSER": parse_message}
    if insecure_cookie:
        overrides["SESSION_COOKIE_SECURE"] = False
    wsgi = create_app(overrides, settings=app.settings)
    options: dict[str, Any] = {
        "host": host or app.settings.web_host,
        "port": app.settings.web_port if port is None else port,
        "threads": threads,
        "ident": "switchboard",
    }
    if trusted_proxy:
        options.update(
            trusted_proxy=trusted_proxy,
            trusted_proxy_count=1,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
            clear_untrusted_proxy_headers=True,
        )
    scheme = "http" if insecure_cookie else "https (behind your proxy)"
    click.echo(
        f"Switchboard web UI on {options['host']}:{options['port']} ({scheme}). Ctrl-C stops it.",
        err=True,
    )
    # waitress ends its loop on SystemExit and lets the requests in hand finish.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    waitress.serve(wsgi, **options)
