"""Benchmark acknowledgement latency from SMTP to the relay: prints figures only (no assertions).

Its one job: measure how soon a requester's acknowledgement leaves, end to end. `switchboard
serve` (with --shape split: `switchboard gateway` and `switchboard work`) runs as a
subprocess on a fresh installation (SQLite in a fresh var dir; PostgreSQL too with
--backends), with its relay pointing at an SMTP sink in this process (aiosmtpd) that
records when each acknowledgement arrives and which message it answers (In-Reply-To).
N messages (default 500, each from a sender of its own, so the per-sender cap stays out of
it) are sent by 1 smtplib client (and 4 with --clients 1,4; one connection each, sending
their share back to back). Printed, per backend and number of clients:

- latency: for each message, the time from its 250 to its acknowledgement's arrival at
  the relay: median, p90, p99 and max;
- throughput from the first connect to the last 250, to the last ticket committed (the
  database's ticket count is polled every 20 ms) and to the last acknowledgement handed to
  the relay.

    .venv/bin/python bench/latency.py [--messages N] [--clients 1[,4]] [--size BYTES]
                                      [--backends sqlite[,postgresql]]
                                      [--sender-checks off|on|both] [--spf pass|neutral]
                                      [--repeat R] [--shape serve|split]

With --sender-checks on or both, the messages are DKIM-signed and their domain publishes
SPF, DKIM and DMARC records on a local DNS server (bench/smtp.py's, a process of its own);
"both" alternates runs with the gateway's checks off and on (--repeat times) and prints
what they cost the throughput to the last ticket: issue 8's measure, "ingest throughput"
from SMTP to ticket. Without the option the checks are off (before it, `serve` asked the
system's resolver).

The code measured is the checkout this file is in (printed at the start): the processes
start with it as their working directory, which `python -m` puts first on sys.path, so a
worktree of another commit measures that commit, whatever the virtualenv installed.

The clients send as fast as the gateway answers, so the gateway, the ingest runner and the
outbox runner compete for one interpreter in `serve`: once the gateway accepts faster than
the runners decide, mail queues up and the latency grows over the run. The sink and the
clients share this process; on a 2-core machine everything shares the cores.
"""

from __future__ import annotations

import argparse
import math
import os
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from smtp import (  # bench/smtp.py, which puts this checkout first on sys.path
    REPO,
    SENDER_CHECK_MODES,
    SPF_RECORDS,
    Mail,
    code_measured,
    dns_server,
    machine,
    sign,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from queues.db import make_engine
from queues.models import Ticket
from queues.settings import load_settings

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TO = "help@localhost"  # a default address of a fresh installation
IN_REPLY_TO = re.compile(rb"^In-Reply-To:\s*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
POLL_SECONDS = 0.02
SENDER = "sender@example.net"  # the envelope sender: aligned with every From


class Sink:
    """The relay: an aiosmtpd handler recording (arrival time, In-Reply-To) per message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, float] = {}  # In-Reply-To -> perf_counter at end of DATA
        self.other = 0  # messages without an In-Reply-To (none expected)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.perf_counter()
        content = bytes(envelope.original_content or b"")
        head = content.split(b"\r\n\r\n", 1)[0]
        found = IN_REPLY_TO.search(head)
        with self.lock:
            if found:
                self.arrivals.setdefault(found.group(1).decode("ascii", "replace"), now)
            else:
                self.other += 1
        return "250 2.0.0 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


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


def make_message(n: int, size: int, run: str) -> tuple[str, bytes]:
    """(Message-ID without brackets, bytes) of message n: its own sender and Message-ID."""
    message_id = f"lat-{n}-{run}@example.net"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Requester {n} <r{n}@example.net>"
    msg["To"] = TO
    msg["Subject"] = f"latency bench {n}"
    msg["Message-ID"] = f"<{message_id}>"
    line = "Someone keeps sending me messages and I do not know what to do next.\n"
    msg.set_content(line * max(1, (size - 300) // len(line)))
    return message_id, msg.as_bytes()


@contextmanager
def installation(backend: str, admin_url: str) -> Iterator[dict[str, str]]:
    """The environment of a fresh, initialized installation (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-latency-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_VAR_DIR": str(Path(tmp) / "var"),
            # The same text from every sender is a flood (queues.abuse: it would collapse
            # into one ticket); this bench times one ticket and acknowledgement per message.
            "SWITCHBOARD_ABUSE_FLOOD_MIN_SENDERS": "0",
        }
        name = ""
        admin = None
        if backend == "postgresql":
            name = f"sb_bench_latency_{uuid.uuid4().hex[:8]}"
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            env["SWITCHBOARD_DATABASE_URL"] = (
                make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            )
        try:
            subprocess.run(
                [sys.executable, "-m", "switchboard", "init"],
                env=env, check=True, capture_output=True, timeout=120, cwd=REPO,
            )  # fmt: skip
            yield env
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


@dataclass
class Run:
    """What one run saw, all on this process's perf_counter clock."""

    first_connect: float = 0.0
    accepted: dict[str, float] = field(default_factory=dict)  # Message-ID -> time of the 250
    failures: int = 0
    last_ticket: float | None = None  # when the ticket count reached N
    lock: threading.Lock = field(default_factory=threading.Lock)


def watch_tickets(url: str, expected: int, run: Run, stop: threading.Event) -> None:
    """Poll the ticket count; note when it first reaches `expected`."""
    engine = make_engine(url, sqlite_immediate=False)
    try:
        while not stop.is_set():
            with engine.connect() as conn:
                count = conn.scalar(select(func.count()).select_from(Ticket)) or 0
            if count >= expected:
                run.last_ticket = time.perf_counter()
                return
            stop.wait(POLL_SECONDS)
    finally:
        engine.dispose()


def send_share(
    port: int, share: list[tuple[str, bytes]], run: Run, start: threading.Barrier
) -> None:
    start.wait()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for message_id, raw in share:
            try:
                client.sendmail(SENDER, [TO], raw)
            except smtplib.SMTPException:
                with run.lock:
                    run.failures += 1
                continue
            now = time.perf_counter()
            with run.lock:
                run.accepted[message_id] = now


# serve: gateway, runners and web UI in one process (one interpreter, one GIL); split:
# `switchboard gateway` and `switchboard work` as two processes, as production runs them.
SHAPES = {"serve": ("serve",), "split": ("gateway", "work")}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Outcome:
    """What a run measured: msg/s to the last ticket, and CPU ms per message of each
    switchboard process during the run (from the first connect to the last acknowledgement)."""

    rate: float
    cpu_ms: tuple[float, ...]


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status (killed after 60 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@dataclass(frozen=True)
class Checks:
    """The gateway's sender checks for a run: off, or on against `dns` (a server address)."""

    dns: str = ""

    def env(self) -> dict[str, str]:
        if not self.dns:
            return {"SWITCHBOARD_SENDER_CHECKS": "false"}
        return {"SWITCHBOARD_SENDER_CHECKS": "true", "SWITCHBOARD_DNS_SERVERS": self.dns}


@contextmanager
def sender_checks(on: bool, records: list[tuple[str, str, str]]) -> Iterator[Checks]:
    """The checks of a run: off, or on against a DNS server of its own for `records`."""
    if not on:
        yield Checks()
        return
    with dns_server(records) as (address, _queries):
        yield Checks(address)


def run_mail(
    messages: int, size: int, spf: str | None
) -> tuple[list[tuple[str, bytes]], list[tuple[str, str, str]]]:
    """The run's messages and the DNS records for their domain: with `spf`, DKIM-signed (not
    timed) and the same bytes with the checks off and on; without, as they are and none."""
    tag = uuid.uuid4().hex[:8]
    plain = [make_message(n, size, tag) for n in range(messages)]
    if spf is None:
        return plain, []
    signed, records = sign([Mail(SENDER, raw) for _, raw in plain], spf)
    return [(mid, m.raw) for (mid, _), m in zip(plain, signed, strict=True)], records


def one_run(
    backend: str,
    admin_url: str,
    mail: list[tuple[str, bytes]],
    clients: int,
    checks: Checks = Checks(),
    shape: str = "serve",
) -> Outcome | None:
    """One run; returns msg/s from the first connect to the last ticket committed."""
    messages = len(mail)
    average = sum(len(raw) for _, raw in mail) / len(mail)
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    port = free_port()
    try:
        with installation(backend, admin_url) as env:
            env |= {
                "SWITCHBOARD_GATEWAY_PORT": str(port),
                "SWITCHBOARD_RELAY_HOST": "127.0.0.1",
                "SWITCHBOARD_RELAY_PORT": str(relay.port),
                # Limits of a public gateway and the daily caps, out of the way here.
                "SWITCHBOARD_GATEWAY_MAX_MESSAGES_PER_MINUTE_PER_CLIENT": str(10**9),
                "SWITCHBOARD_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "1000",
                "SWITCHBOARD_ACK_GLOBAL_PER_DAY": str(10 * messages),
            } | checks.env()
            url = load_settings(environ=env).database_url
            log = Path(env["SWITCHBOARD_VAR_DIR"]) / "serve.log"
            with open(log, "wb") as out:  # a file: a full pipe would stall the processes
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-m", "switchboard", command],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=out,
                        cwd=REPO,  # this checkout's code, not the one installed
                    )
                    for command in SHAPES[shape]
                ]
            try:
                deadline = time.monotonic() + 60
                while not port_open(port) and all(p.poll() is None for p in procs):
                    if time.monotonic() > deadline:
                        raise SystemExit("the gateway did not listen within 60 s")
                    time.sleep(0.05)
                cpu_before = [cpu_seconds(p.pid) for p in procs]
                run = Run()
                stop_watch = threading.Event()
                watcher = threading.Thread(
                    target=watch_tickets, args=(url, messages, run, stop_watch)
                )
                watcher.start()
                start = threading.Barrier(clients + 1)
                threads = [
                    threading.Thread(target=send_share, args=(port, mail[i::clients], run, start))
                    for i in range(clients)
                ]
                for thread in threads:
                    thread.start()
                run.first_connect = time.perf_counter()
                start.wait()
                for thread in threads:
                    thread.join()
                # Wait for the acknowledgements while they keep coming.
                seen, idle_since = -1, time.monotonic()
                while sink.count() < len(run.accepted) and time.monotonic() - idle_since < 30:
                    if sink.count() != seen:
                        seen, idle_since = sink.count(), time.monotonic()
                    time.sleep(0.05)
                watcher.join(timeout=30)
                stop_watch.set()
                watcher.join()
                cpu_ms = tuple(
                    (cpu_seconds(p.pid) - before) * 1000 / messages
                    for p, before in zip(procs, cpu_before, strict=True)
                )
            finally:
                statuses = [stop(proc) for proc in procs]
                errors = log.read_text(errors="replace")
    finally:
        relay.stop()

    print(
        f"\n{backend}, {clients} client{'s' if clients > 1 else ''}: {messages} messages of "
        f"{average / 1024:.1f} KB; {shape}; sender checks {'on' if checks.dns else 'off'}"
    )
    report(run, sink, messages)
    print(
        "  CPU per message during the run, ms: "
        + ", ".join(f"{c} {ms:.2f}" for c, ms in zip(SHAPES[shape], cpu_ms, strict=True))
    )
    print(f"  {' and '.join(SHAPES[shape])} stopped with exit status {statuses} after SIGTERM")
    # Its one line at start-up aside, each process writes only warnings and errors.
    lines = [line for line in errors.splitlines() if "Switchboard is running" not in line]
    if lines:
        print(f"  {shape} wrote {len(lines)} lines of warnings or errors; the last ones:")
        for line in lines[-5:]:
            print(f"    {line}")
    if run.last_ticket is None:
        return None
    return Outcome(messages / (run.last_ticket - run.first_connect), cpu_ms)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


def report(run: Run, sink: Sink, messages: int) -> None:
    with sink.lock:
        arrivals = dict(sink.arrivals)
    latencies = sorted(
        (arrivals[mid] - at) * 1000 for mid, at in run.accepted.items() if mid in arrivals
    )
    print(
        f"  250s: {len(run.accepted)}, failures: {run.failures}; acknowledgements at the "
        f"relay: {len(latencies)} (others {sink.other})"
    )
    if latencies:
        median = statistics.median(latencies)
        print(
            f"  250 -> acknowledgement at the relay, ms: median {median:.0f}, "
            f"p90 {percentile(latencies, 90):.0f}, p99 {percentile(latencies, 99):.0f}, "
            f"max {latencies[-1]:.0f} (min {latencies[0]:.0f})"
        )
        # How the latency moves over the run: a backlog that builds shows as a rising line.
        in_order = [
            (arrivals[mid] - at) * 1000
            for mid, at in sorted(run.accepted.items(), key=lambda item: item[1])
            if mid in arrivals
        ]
        tenth = max(1, len(in_order) // 10)
        medians = [
            statistics.median(in_order[i : i + tenth]) for i in range(0, len(in_order), tenth)
        ]
        print(f"  median per tenth of the run, ms: {' '.join(f'{m:.0f}' for m in medians)}")

    def since_first(label: str, at: float | None) -> None:
        if at is None:
            print(f"  first connect -> {label + ':':<30} not reached")
            return
        seconds = at - run.first_connect
        print(
            f"  first connect -> {label + ':':<30} {seconds:6.2f} s, "
            f"{messages / seconds:6.1f} msg/s"
        )

    since_first("last 250", max(run.accepted.values(), default=None))
    since_first("last ticket committed", run.last_ticket)
    since_first("last acknowledgement (relay)", max(arrivals.values(), default=None))


def summarize(
    backend: str, shape: str, clients: int, off: list[Outcome], on: list[Outcome]
) -> None:
    """The checks' cost: msg/s to the last ticket, and CPU per message of each process (what
    bounds the throughput of a process that has a backlog to work through)."""
    off_rate = statistics.median(o.rate for o in off)
    on_rate = statistics.median(o.rate for o in on)
    print(
        f"\n{backend}, {shape}, {clients} client(s), medians of {len(off)} and {len(on)}: "
        f"to the last ticket off {off_rate:.1f} msg/s, on {on_rate:.1f} msg/s: "
        f"sender checks cost {(1 - on_rate / off_rate) * 100:.1f}% of ingest throughput"
    )
    for index, command in enumerate(SHAPES[shape]):
        cpu_off = statistics.median(o.cpu_ms[index] for o in off)
        cpu_on = statistics.median(o.cpu_ms[index] for o in on)
        print(
            f"  {command}: CPU per message off {cpu_off:.2f} ms, on {cpu_on:.2f} ms: "
            f"{cpu_on - cpu_off:+.2f} ms, {(1 - cpu_off / cpu_on) * 100:.1f}% of the "
            "messages a second that its CPU allows"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="per run (default 500)")
    parser.add_argument("--clients", default="1", help="concurrency levels (default 1; e.g. 1,4)")
    parser.add_argument("--size", type=int, default=2048, help="message size (default 2048)")
    parser.add_argument("--backends", default="sqlite", help="sqlite and/or postgresql")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", PG_ADMIN_URL)
    )
    parser.add_argument(
        "--sender-checks",
        choices=tuple(SENDER_CHECK_MODES),
        default="off",
        help="the gateway's DKIM/SPF/DMARC against a local DNS server; both: off and on "
        "alternately, with the cost in percent of msg/s to the last ticket (default off)",
    )
    parser.add_argument(
        "--spf",
        choices=tuple(SPF_RECORDS),
        default="pass",
        help="with sender checks: SPF passes (DKIM then not needed) or is neutral (DKIM "
        "carries DMARC); default pass",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per level and mode")
    parser.add_argument(
        "--shape",
        choices=tuple(SHAPES),
        default="serve",
        help="serve (one process) or split (switchboard gateway and work); default serve",
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    modes = SENDER_CHECK_MODES[args.sender_checks]
    print(f"Switchboard acknowledgement latency benchmark ({args.shape}, relay: a sink)")
    print(f"  {machine()}")
    print(f"  code measured: {code_measured()}")
    mail, records = run_mail(args.messages, args.size, args.spf if any(modes) else None)
    if any(modes):
        print(f"  SPF record of the senders' domain: {SPF_RECORDS[args.spf]}")
    for backend in backends:
        for clients in levels:
            outcomes: dict[bool, list[Outcome]] = {False: [], True: []}
            for _ in range(args.repeat):
                for on in modes:
                    with sender_checks(on, records) as checks:
                        outcome = one_run(
                            backend, args.pg_admin_url, mail, clients, checks, args.shape
                        )
                    if outcome is not None:
                        outcomes[on].append(outcome)
            if outcomes[False] and outcomes[True]:
                summarize(backend, args.shape, clients, outcomes[False], outcomes[True])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
