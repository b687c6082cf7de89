"""Benchmark a flood: 1,000 form posts and 1,000 mails from 50 senders in a minute.

Its one job: start a fresh installation (`switchboard init`) in one or both shapes, send
the flood through the real doors (SMTP to the gateway; GET and POST of the public form at
/report, with its CSRF token and cookie), and meanwhile request the agents' pages as a
signed-in staff member. The shapes (`--shapes`):

- serve: `switchboard serve`, the gateway, the runners and the web UI in one process (and
  so one GIL), waitress with 4 threads, as a small site runs;
- split: `switchboard gateway`, `switchboard work` and `switchboard web` as three
  processes, as production runs them (README, "The processes"); waitress with its default
  8 threads.

It prints, per backend and shape:

- the shape, the date and the machine's load average at start and end (os.getloadavg: the
  figures mean little on a machine busy with other work);
- how long sending took, how long until every message was processed, and what the form's
  confirmation page said (the ticket's number, "added to a report we already have", or
  "the number comes by e-mail": the runners make that ticket);
- the CPU seconds each process used during the flood, and how busy the machine's cores
  were (/proc);
- the pages' times during the flood (median and 95th percentile, as the client saw them:
  loopback HTTP through waitress, so the network is nearly free). The pages are requested
  from a process of its own, so the senders' threads do not share its GIL;
- the tickets produced, against what the abuse controls allow: at most
  `abuse_tickets_per_sender_per_day` (5) per sender, and for a flood of near-identical
  reports at most (abuse_flood_min_senders - 1) x 5 tickets before it collapses;
  messages added to a sender's ticket past the cap, collapsed into a flood, and left
  unprocessed. A report more serious than the sender's newest ticket (safety triage moves
  it to specialist-safety) is never added to a ticket fewer people may see: it makes a
  ticket of its own past the cap, counted apart.

With `--probe` every process runs under bench/flood_probe.py, and the web UI's own view of
its requests is printed too: time queued in waitress, in the app, CPU, SQL, waiting for
the write lock, commit; and every write lock taken, by whom, waited for and held. With
`--profile FILE` the agents' pages are also profiled (cProfile) into FILE.<backend>.<shape>.prof.

The 50 senders: 40 write reports of their own (each message different); 10 send the same
report with a changed name (a flood). Every sender sends 20 mails and 20 form posts, in an
interleaved order, paced over `--seconds` (60).

All traffic comes from 127.0.0.1, where in life it would come from 50 clients: the bench
lifts the per-client limits that would otherwise stop it at the door (the gateway's 600
messages per minute per client, the form's 5 reports per hour per client), so that what
it measures is the per-sender cap and flood collapsing behind them. Sender checks (DNS)
are off: the senders' domains do not exist.

    .venv/bin/python bench/flood.py [--backends sqlite,postgresql] [--shapes serve,split]
                                    [--seconds 60] [--senders 50] [--per-sender 20]
                                    [--clients 8] [--probe] [--profile FILE]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import multiprocessing
import os
import random
import re
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queues.abuse.models import CAPPED, COLLAPSED, AbuseAction, Flood  # noqa: E402
from queues.db import make_engine  # noqa: E402
from queues.models import Contact, InboundMail, InboundState, Queue, Ticket  # noqa: E402

PASSWORD = "flood bench password 2026"
STAFF = "bench-staff@example.org"
TO = "help@localhost"
CAP = 5
MIN_SENDERS = 3
PAGES = ("/", "/queues/general-help", "/mine", "/dashboard")
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
WORDS = tuple(
    " ".join(
        (
            "account messages comments photos profile threats insults video forum chat",
            "school work neighbour friend stranger page post stream channel server night",
            "morning weekend every again still always never blocked reported deleted new",
            "old fake copied shared posted sent wrote called said told asked followed",
            "address phone name picture family sister brother mother partner colleague",
        )
    ).split()
)
SYLLABLES = ("ka", "lo", "mi", "ren", "sta", "bel", "tor", "wen", "dri", "pa", "gus", "el")
FLOOD = (
    "Please remove the account {name} it keeps posting hateful comments about me and my "
    "family under every video I upload and tells others to do the same, ban this person."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Message:
    sender: str
    subject: str
    body: str
    by_form: bool


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def plan(senders: int, per_sender: int, seed: int) -> list[Message]:
    """Every sender's mails and posts, interleaved (sender by sender, round by round)."""
    rng = random.Random(seed)
    flooders = max(1, senders // 5)
    rounds: list[list[Message]] = [[] for _ in range(per_sender * 2)]
    for s in range(senders):
        address = f"sender{s:02d}@flood.example"
        for n in range(per_sender * 2):
            if s >= senders - flooders:
                subject = "Please ban this account"
                body = FLOOD.format(name=f"@troll_{rng.randrange(10**6)}")
            else:
                subject = f"report {s}-{n}"
                # Everyday words and made-up names (of places, accounts, people): reports
                # of their own share some words, never most of them.
                body = " ".join(
                    rng.choice(WORDS) if rng.random() < 0.3 else _name(rng) for _ in range(50)
                )
            rounds[n].append(Message(address, subject, body, by_form=n % 2 == 1))
    return [m for r in rounds for m in r]


def as_mail(message: Message, run: str, n: int) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = message.sender
    msg["To"] = TO
    msg["Subject"] = message.subject
    msg["Message-ID"] = f"<flood-{n}-{run}@flood.example>"
    msg.set_content(message.body)
    return msg.as_bytes()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    mails: int = 0
    posts: int = 0
    refused: list[str] = field(default_factory=list)
    temporary: int = 0  # 4xx answers of the gateway, each retried as an MTA would
    page_times: dict[str, list[float]] = field(default_factory=dict)
    page_errors: dict[str, int] = field(default_factory=dict)
    # What the form's confirmation page said: the ticket's number, "added to a report we
    # already have" (the cap or a flood), or "the number comes by e-mail" (the runners).
    landed: dict[str, int] = field(default_factory=dict)


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def post_form(web: str, message: Message, tally: Tally) -> None:
    browser = opener()
    page = browser.open(f"{web}/report/?lang=en", timeout=60).read().decode()
    token = CSRF.search(page)
    if token is None:
        raise SystemExit("the report form has no CSRF token: is /report there?")
    data = urllib.parse.urlencode(
        {
            "csrf_token": token.group(1),
            "email": message.sender,
            "language": "en",
            "what_happened": f"{message.subject}\n\n{message.body}",
            "website": "",
        }
    ).encode()
    reply = browser.open(f"{web}/report/?lang=en", data=data, timeout=60)
    sent = reply.read().decode(errors="replace")
    landed = (
        "its number shown"
        if "Your report is ticket" in sent
        else "added to a ticket we have"
        if "added it to a report we already have" in sent
        else "number to come by mail"
        if "will come to you by e-mail" in sent
        else "another page"
    )
    with tally.lock:
        if reply.status == 200 and "/report/sent" in reply.url:
            tally.posts += 1
            tally.landed[landed] = tally.landed.get(landed, 0) + 1
        else:
            tally.refused.append(f"form {reply.status} {reply.url}")


def sender_thread(
    share: list[tuple[int, Message]],
    start: float,
    interval: float,
    smtp_port: int,
    web: str,
    run: str,
    tally: Tally,
) -> None:
    client = smtplib.SMTP("127.0.0.1", smtp_port, timeout=60)
    try:
        for n, message in share:
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if message.by_form:
                post_form(web, message, tally)
                continue
            send_mail(client, message, as_mail(message, run, n), tally)
    finally:
        client.quit()


def send_mail(client: smtplib.SMTP, message: Message, raw: bytes, tally: Tally) -> None:
    """Send one message; a 4xx answer is tried again a second later, five times at most
    (an MTA would try again minutes later: the message is never lost either way)."""
    for _ in range(6):
        try:
            client.sendmail(message.sender, [TO], raw)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                with tally.lock:
                    tally.temporary += 1
                time.sleep(1.0)
                continue
            with tally.lock:
                tally.refused.append(f"smtp {exc.smtp_code} {exc.smtp_error!r}")
            return
        with tally.lock:
            tally.mails += 1
        return
    with tally.lock:
        tally.refused.append("smtp: still 4xx after five tries")


def sign_in(web: str) -> urllib.request.OpenerDirector:
    browser = opener()
    page = browser.open(f"{web}/login", timeout=30).read().decode()
    token = CSRF.search(page)
    assert token is not None
    data = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "email": STAFF, "password": PASSWORD}
    ).encode()
    reply = browser.open(f"{web}/login", data=data, timeout=30)
    if reply.url.rstrip("/").endswith("/login"):
        raise SystemExit("the bench's staff account could not sign in")
    return browser


def sample_pages(web: str, stop: Any, results: Any) -> None:
    """Request the agents' pages in a loop until `stop` is set; put (times, errors) on
    `results`. It runs in a process of its own: in the bench's process the 8 sender threads
    would share its GIL, and their work would be counted in the pages' times."""
    times: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    browser = sign_in(web)
    while not stop.is_set():
        for path in PAGES:
            began = time.perf_counter()
            try:
                browser.open(f"{web}{path}", timeout=60).read()
            except urllib.error.HTTPError:
                errors[path] = errors.get(path, 0) + 1
                continue
            times.setdefault(path, []).append(time.perf_counter() - began)
        stop.wait(0.05)
    results.put((times, errors))


@contextmanager
def installation(backend: str, admin_url: str) -> Iterator[dict[str, str]]:
    """The environment of a fresh installation with a staff account (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-flood-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_VAR_DIR": str(Path(tmp) / "var"),
            "SWITCHBOARD_SENDER_CHECKS": "false",
            "SWITCHBOARD_GATEWAY_MAX_MESSAGES_PER_MINUTE_PER_CLIENT": "1000000",
            "SWITCHBOARD_REPORT_PER_CLIENT_PER_HOUR": "1000000",
            "SWITCHBOARD_REPORT_PER_CLIENT_PER_DAY": "1000000",
            "SWITCHBOARD_TWOFACTOR_REQUIRED_ROLES": "",
            "SWITCHBOARD_ABUSE_TICKETS_PER_SENDER_PER_DAY": str(CAP),
            "SWITCHBOARD_ABUSE_FLOOD_MIN_SENDERS": str(MIN_SENDERS),
        }
        name, admin = "", None
        if backend == "postgresql":
            name = f"sb_bench_flood_{uuid.uuid4().hex[:8]}"
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            env["SWITCHBOARD_DATABASE_URL"] = (
                make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            )
        try:
            command = [sys.executable, "-m", "switchboard"]
            subprocess.run([*command, "init"], env=env, check=True, capture_output=True)
            subprocess.run(
                [*command, "user", "add", STAFF, "--role", "staff", "--password-stdin",
                 "--own-password"],
                env=env, check=True, capture_output=True, input=f"{PASSWORD}\n".encode(),
            )  # fmt: skip
            yield env
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def database_url(env: dict[str, str]) -> str:
    url = env.get("SWITCHBOARD_DATABASE_URL")
    return url or f"sqlite:///{Path(env['SWITCHBOARD_VAR_DIR']).resolve() / 'switchboard.db'}"


def wait_processed(url: str, expected: int, deadline: float) -> float:
    """Seconds until every stored message is processed (or the deadline passes)."""
    engine = make_engine(url, sqlite_immediate=False)
    began = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            with engine.connect() as conn:
                stored = conn.scalar(select(func.count()).select_from(InboundMail)) or 0
                waiting = conn.scalar(
                    select(func.count())
                    .select_from(InboundMail)
                    .where(InboundMail.state.in_((InboundState.NEW, InboundState.FAILED)))
                )
            if stored >= expected and not waiting:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    return time.perf_counter() - began


def counts(url: str, flooders: set[str]) -> dict[str, int]:
    engine = make_engine(url, sqlite_immediate=False)
    try:
        with engine.connect() as conn:

            def count(stmt: object) -> int:
                return int(conn.scalar(stmt) or 0)  # type: ignore[call-overload]

            by_sender = dict(
                conn.execute(
                    select(Contact.email, func.count(Ticket.id))
                    .join(Ticket, Ticket.requester_id == Contact.id)
                    .group_by(Contact.email)
                ).all()
            )
            made: dict[str, list[str]] = {}
            for email, slug in conn.execute(
                select(Contact.email, Queue.slug)
                .join(Ticket, Ticket.requester_id == Contact.id)
                .join(Queue, Queue.id == Ticket.queue_id)
                .order_by(Ticket.created_at, Ticket.id)
            ):
                made.setdefault(email, []).append(slug)
            past = [slug for slugs in made.values() for slug in slugs[CAP:]]
            return {
                "tickets": count(select(func.count()).select_from(Ticket)),
                "tickets of report senders": sum(
                    n for e, n in by_sender.items() if e not in flooders
                ),
                "tickets of flood senders": sum(n for e, n in by_sender.items() if e in flooders),
                "most tickets of one sender": max(by_sender.values(), default=0),
                "tickets in specialist-safety": count(
                    select(func.count())
                    .select_from(Ticket)
                    .join(Queue, Queue.id == Ticket.queue_id)
                    .where(Queue.slug == "specialist-safety")
                ),
                # A report more serious than the sender's ticket (safety triage sends it to
                # specialist-safety) is never added to a ticket fewer people may see: it
                # makes a ticket of its own past the cap (queues.ingest._abuse_host).
                f"tickets past a sender's {CAP}th": len(past),
                "  of which in specialist-safety": sum(
                    1 for slug in past if slug == "specialist-safety"
                ),
                "capped (added to the sender's ticket)": count(
                    select(func.count()).select_from(AbuseAction).where(AbuseAction.kind == CAPPED)
                ),
                "collapsed into a flood": count(
                    select(func.count())
                    .select_from(AbuseAction)
                    .where(AbuseAction.kind == COLLAPSED)
                ),
                "flood tickets": count(select(func.count()).select_from(Flood)),
                "messages stored": count(select(func.count()).select_from(InboundMail)),
                "not processed": count(
                    select(func.count())
                    .select_from(InboundMail)
                    .where(InboundMail.state.not_in((InboundState.DONE, InboundState.DUPLICATE)))
                ),
            }
    finally:
        engine.dispose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


SHAPES = ("serve", "split")


def _switchboard(probe: Path | None, profile: Path | None) -> list[str]:
    """The command line that starts `switchboard`, under bench/flood_probe.py if asked."""
    if probe is None:
        return [sys.executable, "-m", "switchboard"]
    wrapper = [sys.executable, str(REPO / "bench" / "flood_probe.py")]
    if profile is not None:
        wrapper += ["--profile", str(profile)]
    return [*wrapper, str(probe), "--"]


def start_processes(
    shape: str, env: dict[str, str], web_port: int, probes: Path | None, profile: Path | None
) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
    """serve: one `switchboard serve`. split: `gateway`, `work` and `web` as in production
    (README, "The processes"); the web UI over plain HTTP on loopback (--insecure-cookie:
    the bench's client is not a browser, which would accept a Secure cookie from
    127.0.0.1), with waitress's default 8 threads. With `probes` (a folder) each process
    runs under bench/flood_probe.py and writes NAME.json there."""

    def command(name: str) -> list[str]:
        probe = None if probes is None else probes / f"{name}.json"
        return _switchboard(probe, profile if name in ("serve", "web") else None)

    if shape == "serve":
        commands = {"serve": [*command("serve"), "serve"]}
    else:
        commands = {
            "gateway": [*command("gateway"), "gateway"],
            "work": [*command("work"), "work"],
            "web": [*command("web"), "web", "--host", "127.0.0.1", "--port", str(web_port),
                    "--insecure-cookie"],
        }  # fmt: skip
    started: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name, argv in commands.items():
        log = Path(env["SWITCHBOARD_VAR_DIR"]) / f"{name}.log"
        with open(log, "wb") as out:  # a file: a full pipe would stall the process
            started[name] = (
                subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=REPO),
                log,
            )
    return started


def stop_processes(started: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    for process, _log in started.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _log in started.values():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ticks(path: str) -> list[int]:
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return [0, 0]
    return [int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])]


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far: each named process (with its waited-for children), the
    PostgreSQL server's processes together, and the whole machine's busy time."""
    hz = os.sysconf("SC_CLK_TCK")
    used = {name: sum(_ticks(f"/proc/{pid}/stat")) / hz for name, pid in pids.items()}
    postgres = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if Path(stat.parent, "comm").read_text().strip() == "postgres":
                postgres += _ticks(str(stat))[0]
        except OSError:
            continue
    used["postgres"] = postgres / hz
    bench = os.times()
    used["bench"] = bench.user + bench.system
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["machine busy"] = (sum(ticks) - ticks[3] - ticks[4]) / hz
    used["machine total"] = sum(ticks) / hz
    return used


@dataclass
class Run:
    backend: str
    shape: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sent: float = 0.0
    drained: float = 0.0
    figures: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    probe: list[dict[str, Any]] = field(default_factory=list)
    locks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def one_run(backend: str, shape: str, admin_url: str, args: argparse.Namespace) -> None:
    messages = plan(args.senders, args.per_sender, args.seed)
    flooders = {m.sender for m in messages if m.subject == "Please ban this account"}
    run = uuid.uuid4().hex[:8]
    smtp_port, web_port = free_port(), free_port()
    result = Run(backend, shape, os.getloadavg())
    print(f"\n[{backend}, {shape}] load average at start "
          f"{' '.join(f'{v:.2f}' for v in result.load_start)}", flush=True)  # fmt: skip
    with installation(backend, admin_url) as env:
        env |= {"SWITCHBOARD_GATEWAY_PORT": str(smtp_port), "SWITCHBOARD_WEB_PORT": str(web_port)}
        var = Path(env["SWITCHBOARD_VAR_DIR"])
        probes = var if args.probe or args.profile else None
        profile = (
            Path(args.profile).with_suffix(f".{backend}.{shape}.prof") if args.profile else None
        )
        started = start_processes(shape, env, web_port, probes, profile)
        try:
            deadline = time.monotonic() + 60
            while not (port_open(smtp_port) and port_open(web_port)):
                dead = [n for n, (p, _log) in started.items() if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    logs = "\n".join(log.read_text()[-2000:] for _p, log in started.values())
                    raise SystemExit(f"{shape} did not start ({dead}):\n{logs}")
                time.sleep(0.1)
            web = f"http://127.0.0.1:{web_port}"
            tally = Tally()
            context = multiprocessing.get_context("spawn")
            stop, results = context.Event(), context.Queue()
            sampler = context.Process(target=sample_pages, args=(web, stop, results))
            sampler.start()
            pids = {name: p.pid for name, (p, _log) in started.items()}
            cpu_before = cpu_seconds(pids)
            interval = args.seconds / len(messages)
            start = time.perf_counter() + 0.5
            shares: list[list[tuple[int, Message]]] = [[] for _ in range(args.clients)]
            for n, message in enumerate(messages):
                shares[n % args.clients].append((n, message))
            threads = [
                threading.Thread(
                    target=sender_thread,
                    args=(share, start, interval, smtp_port, web, run, tally),
                )
                for share in shares
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result.sent = time.perf_counter() - start
            url = database_url(env)
            taken = tally.mails + tally.posts
            result.drained = wait_processed(url, taken, time.perf_counter() + 600)
            stop.set()
            tally.page_times, tally.page_errors = results.get(timeout=120)
            sampler.join()
            cpu_after = cpu_seconds(pids)
            result.cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
            result.figures = counts(url, flooders)
        finally:
            stop_processes(started)
        result.load_end = os.getloadavg()
        for name, (_p, log) in started.items():
            result.problems += [
                f"{name}: {line}"
                for line in log.read_text(errors="replace").splitlines()
                if " ERROR " in line or "Traceback" in line or "Error:" in line
            ]
        for name in started:
            written = var / f"{name}.json"
            if probes is not None and written.exists():
                data = json.loads(written.read_text())
                result.probe += data["requests"]
                result.locks[name] = data["locks"]
    report(result, args, tally, len(flooders))
    if profile is not None:
        print(f"  cProfile of the agents' pages: {profile} (python -m pstats {profile})")


def _ms(values: list[float]) -> str:
    if not values:
        return "      -        -"
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):7.1f}  {percentile(ms, 95):7.1f}"


def report_probe(records: list[dict[str, Any]]) -> None:
    """The server's own view of its requests (bench/flood_probe.py): median and p95, ms."""
    print("  inside the web UI (bench/flood_probe.py), median and p95 in ms:")
    print(f"    {'requests':<24} {'n':>5} {'SQL n':>5}  {'queued':>16}  {'in the app':>16}  "
          f"{'CPU':>16}  {'SQL':>16}  {'lock wait':>16}  {'commit':>16}")  # fmt: skip
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["method"] == "GET" and r["path"] in PAGES:
            groups.setdefault(f"GET {r['path']}", []).append(r)
        elif r["path"].startswith("/report"):
            groups.setdefault(f"{r['method']} /report", []).append(r)
    for name in sorted(groups):
        rs = groups[name]
        cols = [
            _ms([r["queued"] for r in rs if r["queued"] is not None]),
            _ms([r["wall"] for r in rs]),
            _ms([r["cpu"] for r in rs]),
            _ms([r["sql"] for r in rs]),
            _ms([r["lock"] for r in rs]),
            _ms([r["commit"] for r in rs]),
        ]
        queries = statistics.median(r["queries"] for r in rs)
        print(f"    {name:<24} {len(rs):>5} {queries:>5g}  " + "  ".join(cols))
    pages = [r for r in records if r["method"] == "GET" and r["path"] in PAGES]
    if pages:
        waited = sum(1 for r in pages if (r["queued"] or 0) > 0.010)
        print(f"    pages queued in waitress more than 10 ms: {waited} of {len(pages)}")
        locked = [r["lock"] * 1000 for r in pages if r["lock"] > 0.001]
        print(f"    pages that waited more than 1 ms for the write lock: {len(locked)}"
              + (f", at most {max(locked):.1f} ms" if locked else ""))  # fmt: skip


def report_locks(locks: dict[str, list[dict[str, Any]]]) -> None:
    """Who took the write lock (SQLite) or the abuse controls' lock (PostgreSQL), how long
    they waited for it and how long they held it: median, p95 and max, ms."""
    print("  write locks taken (median / p95 / max, ms):")
    for process, taken in locks.items():
        groups: dict[str, list[dict[str, Any]]] = {}
        for lock in taken:
            thread = re.sub(r"[-_]?\d+$", "", lock["thread"]) or lock["thread"]
            groups.setdefault(thread, []).append(lock)
        for thread, ls in sorted(groups.items()):
            waited = [x["waited"] * 1000 for x in ls]
            held = [x["held"] * 1000 for x in ls]
            print(f"    {process + ' ' + thread:<28} n={len(ls):>5}  waited "
                  f"{statistics.median(waited):6.1f} {percentile(waited, 95):7.1f} "
                  f"{max(waited):7.1f}  held {statistics.median(held):6.1f} "
                  f"{percentile(held, 95):7.1f} {max(held):7.1f}")  # fmt: skip


def report(result: Run, args: argparse.Namespace, tally: Tally, flooders: int) -> None:
    senders = args.senders
    shape = (
        "one `switchboard serve` process (waitress, 4 threads)"
        if result.shape == "serve"
        else "`switchboard gateway`, `switchboard work`, `switchboard web` (8 threads)"
    )
    print(f"\n== {result.backend}, {result.shape}: {shape}")
    print(f"  {args.senders * args.per_sender} mails and as many form posts from {senders} "
          f"senders, paced over {args.seconds:g} s; {date.today().isoformat()}")  # fmt: skip
    print("  load average (1, 5, 15 min): at start "
          f"{' '.join(f'{v:.2f}' for v in result.load_start)}, at end "
          f"{' '.join(f'{v:.2f}' for v in result.load_end)}")  # fmt: skip
    print(f"  sent in {result.sent:.1f} s: {tally.mails} mails accepted, {tally.posts} posts "
          f"taken, {len(tally.refused)} refused {tally.refused[:3]}; the gateway answered 4xx "
          f"{tally.temporary} times (each tried again)")  # fmt: skip
    print(f"  every message processed {result.drained:.1f} s after the last was sent")
    landed = ", ".join(f"{name} {n}" for name, n in sorted(tally.landed.items()))
    print(f"  the form's confirmation page: {landed}")
    cpu = result.cpu
    if cpu:
        own = ", ".join(
            f"{name} {seconds:.1f}"
            for name, seconds in cpu.items()
            if not name.startswith("machine") and (seconds or name != "postgres")
        )
        busy = cpu["machine busy"] / cpu["machine total"] if cpu["machine total"] else 0.0
        print(f"  CPU seconds from the first message to the last processed: {own}; the "
              f"machine's {os.cpu_count()} cores were busy {busy:.0%} of that time")  # fmt: skip
    print("  pages during the flood (staff, client-side, from a process of its own):")
    for path in PAGES:
        ms = [t * 1000 for t in tally.page_times.get(path, [])]
        errors = tally.page_errors.get(path, 0)
        if not ms:
            print(f"    {path:<22} no answer ({errors} errors)")
            continue
        print(f"    {path:<22} n={len(ms):>4}  median {statistics.median(ms):6.1f} ms  "
              f"p95 {percentile(ms, 95):6.1f} ms  errors {errors}")  # fmt: skip
    if result.probe:
        report_probe(result.probe)
    if result.locks:
        report_locks(result.locks)
    allowed_reports = (senders - flooders) * CAP
    allowed_flood = (MIN_SENDERS - 1) * CAP
    print("  tickets:")
    for name, value in result.figures.items():
        print(f"    {name:<40} {value:>6}")
    print(f"    the caps allow at most {allowed_reports} tickets for the report senders "
          f"({senders - flooders} x {CAP}) and {allowed_flood} for the flood "
          f"(({MIN_SENDERS} - 1) x {CAP}) before it collapses, besides the tickets of "
          f"reports too serious for the sender's ticket (past a sender's {CAP}th)")  # fmt: skip
    if result.problems:
        print(f"  the processes logged {len(result.problems)} error lines; the last ones:")
        for line in result.problems[-8:]:
            print(f"    {line[:200]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite", help="sqlite and/or postgresql")
    parser.add_argument(
        "--shapes",
        default="serve,split",
        help="serve (one process) and/or split (gateway, work and web processes)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="time requests inside the web UI (bench/flood_probe.py) and print the breakdown",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also cProfile the agents' pages into FILE.<backend>.<shape>.prof (slows them)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="pace (default 60)")
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--per-sender", type=int, default=20, help="mails (and posts) each")
    parser.add_argument("--clients", type=int, default=8, help="parallel connections")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args(argv)
    shapes = [s.strip() for s in args.shapes.split(",")]
    if unknown := set(shapes) - set(SHAPES):
        parser.error(f"unknown shape(s): {', '.join(sorted(unknown))}")
    for backend in args.backends.split(","):
        for shape in shapes:
            one_run(backend.strip(), shape, args.pg_admin_url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
