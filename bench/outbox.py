"""Benchmark the outbox runner (mailgate.delivery): prints figures only, asserts nothing.

Its one job: queue N messages of about 4 KB (queues.outgoing.queue_outgoing) in a fresh
database, then measure how fast OutboxRunner delivers them to a local aiosmtpd sink on
127.0.0.1:

1. the ceiling: smtplib alone sending the same stored bytes over one connection, no database;
   the sink runs in a process of its own, so it never competes with the runners for the GIL;
2. SQLite (a fresh file, the embedded settings: WAL, synchronous=FULL), one runner;
3. PostgreSQL, if it answers within 2 s (a fresh database, dropped after): one runner, then
   two runners in threads on a fresh batch of N.

For each run it prints messages/s (messages / wall time from the first claim until the
outbox is empty), the SMTP connections opened, and what the sink saw: messages received and
duplicates by Message-ID (expected 0: with two runners, SKIP LOCKED keeps claims apart).

    .venv/bin/python bench/outbox.py [--messages 2000] [--size 4096] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import shutil
import smtplib
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailgate.delivery import OutboxRunner
from queues.db import make_engine, make_sessionmaker
from queues.migrate import upgrade
from queues.models import OutboxMessage, OutboxState
from queues.outgoing import OutgoingMail, make_message_id, queue_outgoing
from queues.seed import seed_queues
from queues.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WORDS = [
    "report", "harassment", "account", "message", "screenshot", "blocked", "again", "please",
    "help", "thank", "you", "someone", "keeps", "writing", "threatening", "comments", "profile",
    "photo", "posted", "without", "consent", "we", "have", "received", "your", "and", "a",
    "member", "of", "the", "team", "will", "reply", "soon",
]  # fmt: skip


class CountingHandler:
    """aiosmtpd handler: counts Message-IDs received and sessions that said EHLO."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: Counter[bytes] = Counter()
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content
        start = content.find(b"Message-ID:")
        message_id = content[start : content.find(b"\r\n", start)]
        with self.lock:
            self.ids[message_id] += 1
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.ids.clear()
            self.sessions = 0

    def seen(self) -> tuple[int, int, int]:
        """Messages received, duplicates among them, sessions."""
        with self.lock:
            total = sum(self.ids.values())
            return total, total - len(self.ids), self.sessions


def sink_process(port: int, control: Connection) -> None:
    """The sink's own process, so that it does not share a GIL with the runners measured."""
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    control.send("ready")
    while True:
        command = control.recv()
        if command == "reset":
            handler.reset()
            control.send(None)
        elif command == "seen":
            control.send(handler.seen())
        else:
            break
    controller.stop()


class Sink:
    """The parent's handle on the sink process."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.control, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=sink_process, args=(self.port, child), daemon=True)
        self.process.start()
        if not self.control.poll(30) or self.control.recv() != "ready":
            raise RuntimeError("the sink did not start")

    def reset(self) -> None:
        self.control.send("reset")
        self.control.recv()

    def seen(self) -> tuple[int, int, int]:
        self.control.send("seen")
        result: tuple[int, int, int] = self.control.recv()
        return result

    def stop(self) -> None:
        self.control.send("stop")
        self.process.join(10)


@dataclass
class Result:
    label: str
    messages: int
    seconds: float
    connections: int
    received: int
    duplicates: int
    sent_in_db: int

    def line(self) -> str:
        rate = self.messages / self.seconds if self.seconds else 0.0
        return (
            f"{self.label:<34} {rate:9.0f} msg/s {self.seconds:8.2f} s  "
            f"connections {self.connections:4d}  received {self.received:5d}  "
            f"duplicates {self.duplicates}  SENT rows {self.sent_in_db}"
        )


def body_text(rng: random.Random, size: int) -> str:
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 12)))
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines) + "\n"


def fill(factory: sessionmaker[Session], count: int, size: int, seed: int) -> float:
    """Queue `count` replies; returns the mean raw size in bytes."""
    rng = random.Random(seed)
    total = 0
    for start in range(0, count, 250):
        with factory.begin() as session:
            for i in range(start, min(count, start + 250)):
                mail = OutgoingMail(
                    from_email="help@example.org",
                    from_name="Help team",
                    to=[("", f"requester{i}@example.net")],
                    subject=f"Re: your report [Ticket#2026{i:06d}]",
                    body_text=body_text(rng, size - 450),  # headers are about 450 bytes
                    message_id=make_message_id("example.org"),
                )
                row = queue_outgoing(
                    session,
                    mail,
                    kind="reply",
                    envelope_from="bounces@example.org",
                )
                total += len(row.raw)
    return total / count


def count_sent(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        stmt = select(func.count()).where(OutboxMessage.state == OutboxState.SENT)
        return int(session.scalar(stmt.select_from(OutboxMessage)) or 0)


def deliver(
    label: str, factory: sessionmaker[Session], settings: Settings, sink: Sink, runners: int,
    count: int,
) -> Result:  # fmt: skip
    sink.reset()
    before = count_sent(factory)
    workers = [OutboxRunner(factory, settings) for _ in range(runners)]

    def work(runner: OutboxRunner) -> None:
        while runner.run_once():
            pass

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    received, duplicates, _ = sink.seen()
    return Result(
        label,
        count,
        seconds,
        sum(w.connections for w in workers),
        received,
        duplicates,
        count_sent(factory) - before,
    )


def ceiling(factory: sessionmaker[Session], sink: Sink) -> Result:
    """smtplib alone: the stored messages over one connection, no database work timed."""
    with factory() as session:
        rows = session.execute(
            select(OutboxMessage.envelope_from, OutboxMessage.recipients, OutboxMessage.raw)
        ).all()
    sink.reset()
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="bench.example.org") as conn:
        for envelope_from, recipients, raw in rows:
            conn.sendmail(envelope_from, recipients, raw)
    seconds = time.perf_counter() - start
    received, duplicates, sessions = sink.seen()
    return Result("ceiling: smtplib, no database", len(rows), seconds, sessions, received,
                  duplicates, 0)  # fmt: skip


def fresh(engine: Engine) -> sessionmaker[Session]:
    upgrade(engine)
    with make_sessionmaker(engine).begin() as session:
        seed_queues(session)
    return make_sessionmaker(engine)


def bench_sqlite(args: argparse.Namespace, sink: Sink, settings: Settings) -> list[Result]:
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-outbox-"))
    try:
        engine = make_engine(f"sqlite:///{folder / 'switchboard.db'}")
        factory = fresh(engine)
        size = fill(factory, args.messages, args.size, args.seed)
        print(f"queued {args.messages} messages, mean {size:.0f} bytes (SQLite)")
        results = [ceiling(factory, sink)]
        results.append(deliver("SQLite, 1 runner", factory, settings, sink, 1, args.messages))
        engine.dispose()
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_postgresql(args: argparse.Namespace, sink: Sink, settings: Settings) -> list[Result]:
    admin = create_engine(
        args.pg_admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}
    )
    name = "sb_bench_outbox_" + uuid.uuid4().hex[:10]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {make_url(args.pg_admin_url).render_as_string()}: {exc}")
        admin.dispose()
        return []
    try:
        url = make_url(args.pg_admin_url).set(database=name)
        engine = make_engine(url.render_as_string(hide_password=False))
        factory = fresh(engine)
        results = []
        for runners in (1, 2):
            fill(factory, args.messages, args.size, args.seed + runners)
            label = f"PostgreSQL, {runners} runner{'s' if runners > 1 else ''}"
            results.append(deliver(label, factory, settings, sink, runners, args.messages))
        engine.dispose()
        return results
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="approximate bytes per message")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args()
    backends = {b.strip() for b in args.backends.split(",") if b.strip()}

    sink = Sink()
    settings = Settings(relay_host="127.0.0.1", relay_port=sink.port, hostname="bench.example.org")
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    results: list[Result] = []
    try:
        if "sqlite" in backends:
            results += bench_sqlite(args, sink, settings)
        if "postgresql" in backends:
            results += bench_postgresql(args, sink, settings)
    finally:
        sink.stop()
    print()
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
