"""Benchmark the SMTP gateway: prints figures only (no assertions).

Its one job: start `mailgate.gateway` in this process on a fresh database (SQLite in a fresh
var dir; PostgreSQL too with --backends) and measure

1. throughput: N messages (default 2000, about 4 KB each) sent by 1, 4 and 16 concurrent
   smtplib clients (threads in this process, one connection each, sending their share one
   after another); messages/s from the first connect to the last 250. A fresh database per
   concurrency level. Every 250 here means "committed" (SQLite: WAL, synchronous=FULL).
2. memory: the gateway's peak while it receives and stores one 25 MB message sent by a
   client in a separate process (so the client's copy is not counted), twice:
   - VmHWM (the kernel's peak resident set size of this process), read before and after;
     measured first, on a fresh gateway, so that the peak is the gateway's own;
   - tracemalloc's peak of Python allocations (all threads) during the second receive.
3. with --sender-checks on|both, the cost of the gateway's sender checks (DKIM, SPF, DMARC:
   mailgate.senderauth): every sender domain of the mail mix (bench/mailmix.py) publishes an
   SPF record that passes 127.0.0.1 (--spf neutral: one that says nothing, so that DKIM
   must be verified), a DKIM key and a DMARC record (p=reject) on a local DNS
   server (tests/dnsstub.py, in a process of its own, as a resolver on the same host would
   be), every message is DKIM-signed by its From domain and sent with that address as the
   envelope sender; "both" runs checks off and on alternately (--repeat times) on the same
   signed bytes and prints the cost in percent. Each run starts with a cold DNS cache (a
   fresh DNS server, so a resolver of its own); the verdicts stored are counted.

    .venv/bin/python bench/smtp.py [--messages N] [--size BYTES] [--clients 1,4,16]
                                   [--backends sqlite[,postgresql]] [--big-mb 25]
                                   [--sender-checks off|on|both] [--repeat R]
                                   [--mail synthetic|mix] [--unique-domains]
                                   [--spf pass|neutral]

The clients share the interpreter (and its GIL) with the gateway, so the figures are a
lower bound for a gateway with the machine to itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

# The code measured is this checkout's (a worktree of another commit measures that commit,
# not the one the virtualenv installed); bench/ is not a package: mailmix.py is beside us.
REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import mailmix  # noqa: E402

from mailgate.gateway import make_controller, shutdown  # noqa: E402
from queues.db import make_engine, make_sessionmaker  # noqa: E402
from queues.migrate import upgrade  # noqa: E402
from queues.models import InboundMail  # noqa: E402
from queues.seed import seed_queues  # noqa: E402
from queues.settings import Settings  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MB = 1024 * 1024
TO = "help@bench.test"
SELECTOR = "bench"
# --spf pass: the clients connect from 127.0.0.1, which SPF authorises (mail straight from
# its sender's servers); --spf neutral: SPF says nothing (as for a forwarded message), so
# DKIM has to carry DMARC.
SPF_RECORDS = {"pass": "v=spf1 ip4:127.0.0.1 -all", "neutral": "v=spf1 ?all"}
DMARC_RECORD = "v=DMARC1; p=reject"
# --sender-checks: the runs of each level, checks off (False) and on (True); latency.py too.
SENDER_CHECK_MODES = {"off": [False], "on": [True], "both": [False, True]}

# The DNS server of the sender checks, in its own process (a resolver on the same host, not
# a thread sharing the gateway's GIL): tests/dnsstub.py answering the records in the JSON
# file argv[1]; prints its address, serves until stdin closes, then prints how many queries
# it answered.
DNS_SERVER = r"""
import json, sys
from tests.dnsstub import DnsStub
stub = DnsStub()
with open(sys.argv[1]) as records:
    for name, rdtype, value in json.load(records):
        stub.add(name, rdtype, value)
stub.start()
print(stub.address, flush=True)
sys.stdin.read()
print(len(stub.queries), flush=True)
stub.stop()
"""

# The client of the memory step, in its own process: builds a message of about N MB (a
# base64 attachment, as big mail is) and sends it; prints the reply code.
BIG_CLIENT = r"""
import os, smtplib, sys
from email.message import EmailMessage
port, megabytes = int(sys.argv[1]), float(sys.argv[2])
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "big@example.net", "help@bench.test", "evidence"
msg.set_content("Screenshots attached.")
msg.add_attachment(os.urandom(int(megabytes * 1024 * 1024 * 3 / 4)), maintype="application",
                   subtype="octet-stream", filename="evidence.bin")
raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", port, timeout=600) as client:
    client.sendmail("big@example.net", ["help@bench.test"], raw)
print(len(raw))
"""


@dataclass(frozen=True)
class Mail:
    """One message to send: its envelope sender and bytes."""

    mail_from: str
    raw: bytes


def make_message(n: int, size: int, domain: str = "example.net") -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Requester {n} <r{n}@{domain}>"
    msg["To"] = TO
    msg["Subject"] = f"bench message {n}"
    msg["Message-ID"] = f"<bench-{n}-{uuid.uuid4().hex[:8]}@{domain}>"
    line = "Someone keeps sending me messages and I do not know what to do next.\n"
    msg.set_content(line * max(1, (size - 300) // len(line)))
    return msg.as_bytes()


@contextmanager
def fresh_database(backend: str, admin_url: str) -> Iterator[str]:
    """A migrated, seeded database of its own; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sb-bench-smtp-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'var' / 'switchboard.db'}"
            _migrate(url)
            yield url
        return
    name = f"sb_bench_smtp_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with sessionmaker(bind=engine).begin() as session:
        seed_queues(session)
    engine.dispose()


def synthetic_mail(count: int, size: int, unique_domains: bool) -> list[Mail]:
    """`count` messages of about `size` bytes, From (and envelope sender) r<n>@ one of the
    mix's sender domains in turn, or with --unique-domains a subdomain of its own each."""
    mails = []
    for n in range(count):
        domain = mailmix.DOMAINS[n % len(mailmix.DOMAINS)]
        if unique_domains:
            domain = f"s{n}.{domain}"
        mails.append(Mail(f"r{n}@{domain}", make_message(n, size, domain)))
    return mails


def mix_mail(count: int, seed: int) -> list[Mail]:
    """The first `count` messages of the mail mix (bench/mailmix.py), each sent with its
    From address as the envelope sender."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-smtp-mix-") as tmp:
        mailmix.generate(Path(tmp), count, seed)
        return folder_mail(Path(tmp))


def folder_mail(folder: Path) -> list[Mail]:
    """Every .eml file in `folder`, in name order, each with its From address (when it has
    exactly one) as the envelope sender."""
    from mailgate.addresses import parse_address_list

    mails = []
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        head = BytesHeaderParser(policy=compat32).parsebytes(raw)
        found = parse_address_list(str(head.get("From", "")))
        mails.append(Mail(found[0].email if len(found) == 1 else "", raw))
    return mails


def sign(mails: list[Mail], spf: str = "pass") -> tuple[list[Mail], list[tuple[str, str, str]]]:
    """Each message DKIM-signed by its From domain (one test key for all), and the DNS
    records that make DKIM and DMARC pass for every such domain, SPF as `spf` says."""
    from mailgate.senderauth.check import from_header_domain
    from tests.dnsstub import new_dkim_key

    key = new_dkim_key()
    signed, domains = [], set()
    for mail in mails:
        domain = from_header_domain(mail.raw)
        if domain:
            domains.add(domain)
            mail = Mail(mail.mail_from, key.sign(mail.raw, domain, SELECTOR))
        signed.append(mail)
    records = []
    for domain in sorted(domains):
        records += [
            (domain, "TXT", SPF_RECORDS[spf]),
            (f"{SELECTOR}._domainkey.{domain}", "TXT", key.record),
            (f"_dmarc.{domain}", "TXT", DMARC_RECORD),
        ]
    return signed, records


@contextmanager
def dns_server(records: list[tuple[str, str, str]]) -> Iterator[tuple[str, list[int]]]:
    """A fresh DNS server process answering `records`; yields its address and a list that
    holds the number of queries it answered once it stopped."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(records, file)
        file.flush()
        proc = subprocess.Popen(
            [sys.executable, "-c", DNS_SERVER, file.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        address = proc.stdout.readline().strip()
        queries: list[int] = []
        try:
            yield address, queries
        finally:
            proc.stdin.close()
            answered = proc.stdout.readline().strip()
            proc.wait(timeout=10)
            if answered.isdigit():
                queries.append(int(answered))


@contextmanager
def gateway(url: str, dns: str | None = None) -> Iterator[int]:
    """The gateway on a free port, limits out of the way; yields the port. Sender checks
    run against the DNS server at `dns`; None: they are off."""
    settings = Settings(
        database_url=url,
        var_dir=Path(tempfile.gettempdir()),  # unused: the gateway writes only the database
        addresses={TO: "general-help"},
        hostname="mx.bench.test",
        gateway_port=0,
        gateway_max_connections_per_client=1000,
        gateway_max_messages_per_minute_per_client=10**9,
        # Production defaults otherwise (dns_timeout_seconds, sender_check_seconds).
        sender_checks=dns is not None,
        dns_servers=(dns,) if dns is not None else (),
    )
    engine = make_engine(url)
    controller = make_controller(make_sessionmaker(engine), settings, port=_free_port())
    controller.start()
    try:
        yield int(controller.port)
    finally:
        shutdown(controller)
        engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored_count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.scalar(select(func.count()).select_from(InboundMail)) or 0)
    engine.dispose()
    return count


def verdicts(url: str) -> Counter[str]:
    """How many stored messages got each sender verdict ("-": none recorded)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        found = Counter(
            str((auth or {}).get("verdict", "-")) for auth in conn.scalars(select(InboundMail.auth))
        )
    engine.dispose()
    return found


def throughput(
    url: str, messages: list[Mail], clients: int, dns: str | None = None
) -> tuple[float, int]:
    """Seconds from the first connect to the last 250, and the number of failures."""
    shares = [messages[i::clients] for i in range(clients)]
    failures = [0]
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    last_250 = [0.0]

    def client(port: int, share: list[Mail]) -> None:
        start_line.wait()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for mail in share:
                try:
                    smtp.sendmail(mail.mail_from, [TO], mail.raw)
                except smtplib.SMTPException:
                    with lock:
                        failures[0] += 1
                    continue
                now = time.perf_counter()
                with lock:
                    last_250[0] = max(last_250[0], now)

    with gateway(url, dns) as port:
        threads = [threading.Thread(target=client, args=(port, s)) for s in shares]
        for thread in threads:
            thread.start()
        start_line.wait()
        first_connect = time.perf_counter()
        for thread in threads:
            thread.join()
    return last_250[0] - first_connect, failures[0]


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def send_big(port: int, megabytes: float) -> int:
    done = subprocess.run(
        [sys.executable, "-c", BIG_CLIENT, str(port), str(megabytes)],
        capture_output=True, text=True, check=True, timeout=900,
    )  # fmt: skip
    return int(done.stdout.strip())


def memory(url: str, megabytes: float) -> None:
    with gateway(url) as port:
        with smtplib.SMTP("127.0.0.1", port) as smtp:  # warm up: one small message
            smtp.sendmail("r@example.net", [TO], make_message(0, 4096))
        before = vm_hwm_mb()
        started = time.perf_counter()
        size = send_big(port, megabytes)
        seconds = time.perf_counter() - started
        after = vm_hwm_mb()
        print(
            f"  one {size / MB:.1f} MB message: 250 after {seconds:.1f} s (client "
            "build time included)"
        )
        print(
            f"  VmHWM (peak RSS of this process): {before:.0f} MB before, {after:.0f} MB "
            f"after: +{after - before:.0f} MB, {(after - before) / (size / MB):.1f}x "
            "the message"
        )
        tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        size = send_big(port, megabytes)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"  tracemalloc peak of Python allocations during a second receive: "
            f"{(peak - base) / MB:.0f} MB, {(peak - base) / size:.1f}x the message"
        )


def code_measured() -> str:
    """Which code a run measures: this checkout, its commit, and whether it has changes."""
    import queues

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "not a git checkout"
    changed = (
        " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )
    imported = Path(queues.__file__).resolve().parent.parent
    where = "" if imported == REPO else f" (but queues was imported from {imported})"
    return f"{REPO} at {commit}{changed}{where}"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.platform()}; {cpu}; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="per run (default 2000)")
    parser.add_argument("--size", type=int, default=4096, help="message size (default 4096)")
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels (default 1,4,16)")
    parser.add_argument("--backends", default="sqlite", help="sqlite and/or postgresql")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    )
    parser.add_argument(
        "--big-mb", type=float, default=25.0, help="big message MB (default 25; 0: no memory step)"
    )
    parser.add_argument(
        "--sender-checks",
        choices=("off", "on", "both"),
        default="off",
        help="DKIM/SPF/DMARC at the gateway against a local DNS server; both: off and on "
        "alternately, with the cost in percent (default off)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per concurrency level and mode (default 1)"
    )
    parser.add_argument(
        "--mail",
        choices=("synthetic", "mix"),
        default="synthetic",
        help="synthetic messages of --size bytes, or the mail mix of bench/mailmix.py",
    )
    parser.add_argument(
        "--spf",
        choices=tuple(SPF_RECORDS),
        default="pass",
        help="the senders' SPF: pass (authorises the clients: DKIM is then not needed) or "
        "neutral (DKIM carries DMARC, as for forwarded mail); default pass",
    )
    parser.add_argument("--seed", type=int, default=2026, help="the mix's seed (default 2026)")
    parser.add_argument(
        "--unique-domains",
        action="store_true",
        help="synthetic mail only: each sender a domain of its own (no DNS answer cached)",
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    modes = SENDER_CHECK_MODES[args.sender_checks]
    if args.unique_domains and args.mail != "synthetic":
        parser.error("--unique-domains needs --mail synthetic")

    print("Switchboard SMTP gateway benchmark")
    print(f"  {machine()}")
    print(f"  code measured: {code_measured()}")
    if args.mail == "mix":
        messages = mix_mail(args.messages, args.seed)
        what = f"messages of the mail mix (seed {args.seed})"
    else:
        messages = synthetic_mail(args.messages, args.size, args.unique_domains)
        what = "synthetic messages"
    records: list[tuple[str, str, str]] = []
    if any(modes):
        started = time.perf_counter()
        messages, records = sign(messages, args.spf)
        print(
            f"  signed {len(messages)} messages with DKIM in "
            f"{time.perf_counter() - started:.1f} s (not timed below); "
            f"{len(records) // 3} sender domains with SPF ({SPF_RECORDS[args.spf]}), DKIM "
            "and DMARC records"
        )
    average = sum(len(m.raw) for m in messages) / len(messages)
    for backend in backends:
        if args.big_mb > 0:
            print(
                f"\n{backend}: peak memory while receiving one {args.big_mb:.0f} MB message "
                "(sender checks off)"
            )
            with fresh_database(backend, args.pg_admin_url) as url:
                memory(url, args.big_mb)
        print(
            f"\n{backend}: {args.messages} {what}, {average / 1024:.1f} KB on average, "
            "one connection per client"
        )
        print(
            f"  {'clients':>7} {'checks':>6} {'seconds':>8} {'msg/s':>7} {'failures':>8} "
            f"{'stored':>7}  verdicts (DNS queries answered)"
        )
        for clients in levels:
            rates: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeat):
                for checks in modes:
                    queries: list[int] = []
                    with fresh_database(backend, args.pg_admin_url) as url:
                        if checks:
                            with dns_server(records) as (address, queries):
                                seconds, failures = throughput(url, messages, clients, address)
                        else:
                            seconds, failures = throughput(url, messages, clients)
                        stored = stored_count(url)
                        found = verdicts(url)
                    rate = (args.messages - failures) / seconds if seconds > 0 else 0.0
                    rates[checks].append(rate)
                    seen = ", ".join(f"{v} {n}" for v, n in sorted(found.items()))
                    if checks:
                        seen += f" ({queries[0] if queries else '?'})"
                    print(
                        f"  {clients:>7} {'on' if checks else 'off':>6} {seconds:>8.2f} "
                        f"{rate:>7.0f} {failures:>8} {stored:>7}  {seen}"
                    )
            if rates[False] and rates[True]:
                off, on = statistics.median(rates[False]), statistics.median(rates[True])
                print(
                    f"  {clients:>7} median of {args.repeat}: off {off:.0f} msg/s, on {on:.0f} "
                    f"msg/s: sender checks cost {(1 - on / off) * 100:.1f}% of throughput"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
