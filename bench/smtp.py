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

    .venv/bin/python bench/smtp.py [--messages N] [--size BYTES] [--clients 1,4,16]
                                   [--backends sqlite[,postgresql]] [--big-mb 25]

The clients share the interpreter (and its GIL) with the gateway, so the figures are a
lower bound for a gateway with the machine to itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from mailgate.gateway import make_controller, shutdown
from queues.db import make_engine, make_sessionmaker
from queues.migrate import upgrade
from queues.models import InboundMail
from queues.seed import seed_queues
from queues.settings import Settings

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MB = 1024 * 1024
TO = "help@bench.test"

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


def make_message(n: int, size: int) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Requester {n} <r{n}@example.net>"
    msg["To"] = TO
    msg["Subject"] = f"bench message {n}"
    msg["Message-ID"] = f"<bench-{n}-{uuid.uuid4().hex[:8]}@example.net>"
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


@contextmanager
def gateway(url: str) -> Iterator[int]:
    """The gateway on a free port, limits out of the way; yields the port."""
    settings = Settings(
        database_url=url,
        var_dir=Path(tempfile.gettempdir()),  # unused: the gateway writes only the database
        addresses={TO: "general-help"},
        hostname="mx.bench.test",
        gateway_port=0,
        gateway_max_connections_per_client=1000,
        gateway_max_messages_per_minute_per_client=10**9,
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


def throughput(url: str, messages: list[bytes], clients: int) -> tuple[float, int]:
    """Seconds from the first connect to the last 250, and the number of failures."""
    shares = [messages[i::clients] for i in range(clients)]
    failures = [0]
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    last_250 = [0.0]

    def client(port: int, share: list[bytes]) -> None:
        start_line.wait()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for raw in share:
                try:
                    smtp.sendmail("r@example.net", [TO], raw)
                except smtplib.SMTPException:
                    with lock:
                        failures[0] += 1
                    continue
                now = time.perf_counter()
                with lock:
                    last_250[0] = max(last_250[0], now)

    with gateway(url) as port:
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
    parser.add_argument("--big-mb", type=float, default=25.0, help="big message MB (default 25)")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    print("Switchboard SMTP gateway benchmark")
    print(f"  {machine()}")
    messages = [make_message(n, args.size) for n in range(args.messages)]
    average = sum(map(len, messages)) / len(messages)
    for backend in backends:
        print(f"\n{backend}: peak memory while receiving one {args.big_mb:.0f} MB message")
        with fresh_database(backend, args.pg_admin_url) as url:
            memory(url, args.big_mb)
        print(
            f"\n{backend}: {args.messages} messages of {average / 1024:.1f} KB, one "
            "connection per client"
        )
        print(f"  {'clients':>7} {'seconds':>8} {'msg/s':>7} {'failures':>8} {'stored':>7}")
        for clients in levels:
            with fresh_database(backend, args.pg_admin_url) as url:
                seconds, failures = throughput(url, messages, clients)
                stored = stored_count(url)
            rate = (args.messages - failures) / seconds if seconds > 0 else 0.0
            print(f"  {clients:>7} {seconds:>8.2f} {rate:>7.0f} {failures:>8} {stored:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
