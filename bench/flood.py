"""Benchmark a flood: 1,000 form posts and 1,000 mails from 50 senders in a minute.

Its one job: start a fresh installation (`switchboard init`, then `switchboard serve`: the
gateway, the runners and the web UI in one process, as a small site runs), send the flood
through the real doors (SMTP to the gateway; GET and POST of the public form at /report,
with its CSRF token and cookie), and meanwhile request the agents' pages as a signed-in
staff member. It prints, per backend:

- how long sending took, and how long until every message was processed;
- the pages' times during the flood (median and 95th percentile, as the client saw them:
  loopback HTTP through waitress, so the network is nearly free);
- the tickets produced, against what the abuse controls allow: at most
  `abuse_tickets_per_sender_per_day` (5) per sender, and for a flood of near-identical
  reports at most (abuse_flood_min_senders - 1) x 5 tickets before it collapses;
  messages added to a sender's ticket past the cap, collapsed into a flood, and left
  unprocessed.

The 50 senders: 40 write reports of their own (each message different); 10 send the same
report with a changed name (a flood). Every sender sends 20 mails and 20 form posts, in an
interleaved order, paced over `--seconds` (60).

All traffic comes from 127.0.0.1, where in life it would come from 50 clients: the bench
lifts the per-client limits that would otherwise stop it at the door (the gateway's 600
messages per minute per client, the form's 5 reports per hour per client), so that what
it measures is the per-sender cap and flood collapsing behind them. Sender checks (DNS)
are off: the senders' domains do not exist.

    .venv/bin/python bench/flood.py [--backends sqlite,postgresql] [--seconds 60]
                                    [--senders 50] [--per-sender 20]
"""

from __future__ import annotations

import argparse
import http.cookiejar
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
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queues.abuse.models import CAPPED, COLLAPSED, AbuseAction, Flood  # noqa: E402
from queues.db import make_engine  # noqa: E402
from queues.models import Contact, InboundMail, InboundState, Ticket  # noqa: E402

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
    with tally.lock:
        if reply.status == 200 and "/report/sent" in reply.url:
            tally.posts += 1
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


def sample_pages(web: str, tally: Tally, stop: threading.Event) -> None:
    browser = sign_in(web)
    while not stop.is_set():
        for path in PAGES:
            began = time.perf_counter()
            try:
                browser.open(f"{web}{path}", timeout=60).read()
            except urllib.error.HTTPError:
                with tally.lock:
                    tally.page_errors[path] = tally.page_errors.get(path, 0) + 1
                continue
            elapsed = time.perf_counter() - began
            with tally.lock:
                tally.page_times.setdefault(path, []).append(elapsed)
        stop.wait(0.05)


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
            return {
                "tickets": count(select(func.count()).select_from(Ticket)),
                "tickets of report senders": sum(
                    n for e, n in by_sender.items() if e not in flooders
                ),
                "tickets of flood senders": sum(n for e, n in by_sender.items() if e in flooders),
                "most tickets of one sender": max(by_sender.values(), default=0),
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


def one_run(backend: str, admin_url: str, args: argparse.Namespace) -> None:
    messages = plan(args.senders, args.per_sender, args.seed)
    flooders = {m.sender for m in messages if m.subject == "Please ban this account"}
    run = uuid.uuid4().hex[:8]
    smtp_port, web_port = free_port(), free_port()
    with installation(backend, admin_url) as env:
        env |= {"SWITCHBOARD_GATEWAY_PORT": str(smtp_port), "SWITCHBOARD_WEB_PORT": str(web_port)}
        log = Path(env["SWITCHBOARD_VAR_DIR"]) / "serve.log"
        with open(log, "wb") as out:  # a file: a full pipe would stall `serve`
            serve = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "serve"], env=env, stdout=out, stderr=out
            )
        try:
            deadline = time.monotonic() + 60
            while not (port_open(smtp_port) and port_open(web_port)):
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"serve did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
            web = f"http://127.0.0.1:{web_port}"
            tally, stop = Tally(), threading.Event()
            sampler = threading.Thread(target=sample_pages, args=(web, tally, stop))
            sampler.start()
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
            sent = time.perf_counter() - start
            url = database_url(env)
            taken = tally.mails + tally.posts
            drained = wait_processed(url, taken, time.perf_counter() + 600)
            stop.set()
            sampler.join()
            figures = counts(url, flooders)
            problems = [
                line
                for line in log.read_text(errors="replace").splitlines()
                if " ERROR " in line or "Traceback" in line or "Error:" in line
            ]
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
    report(backend, args, tally, sent, drained, figures, len(flooders))
    if problems:
        print(f"  serve logged {len(problems)} error lines; the last ones:")
        for line in problems[-8:]:
            print(f"    {line[:200]}")


def report(
    backend: str,
    args: argparse.Namespace,
    tally: Tally,
    sent: float,
    drained: float,
    figures: dict[str, int],
    flooders: int,
) -> None:
    senders = args.senders
    print(f"\n== {backend}: {args.senders * args.per_sender} mails and as many form posts "
          f"from {senders} senders, paced over {args.seconds:g} s")  # fmt: skip
    print(f"  sent in {sent:.1f} s: {tally.mails} mails accepted, {tally.posts} posts taken, "
          f"{len(tally.refused)} refused {tally.refused[:3]}; the gateway answered 4xx "
          f"{tally.temporary} times (each tried again)")  # fmt: skip
    print(f"  every message processed {drained:.1f} s after the last was sent")
    print("  pages during the flood (staff, client-side):")
    for path in PAGES:
        ms = [t * 1000 for t in tally.page_times.get(path, [])]
        errors = tally.page_errors.get(path, 0)
        if not ms:
            print(f"    {path:<22} no answer ({errors} errors)")
            continue
        print(f"    {path:<22} n={len(ms):>4}  median {statistics.median(ms):6.1f} ms  "
              f"p95 {percentile(ms, 95):6.1f} ms  errors {errors}")  # fmt: skip
    allowed_reports = (senders - flooders) * CAP
    allowed_flood = (MIN_SENDERS - 1) * CAP
    print("  tickets:")
    for name, value in figures.items():
        print(f"    {name:<40} {value:>6}")
    print(f"    the caps allow at most {allowed_reports} tickets for the report senders "
          f"({senders - flooders} x {CAP}) and {allowed_flood} for the flood "
          f"(({MIN_SENDERS} - 1) x {CAP}) before it collapses")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite", help="sqlite and/or postgresql")
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
    for backend in args.backends.split(","):
        one_run(backend.strip(), args.pg_admin_url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
