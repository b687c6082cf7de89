"""Kill the ingest runners again and again: every stored message becomes exactly one ticket.

A few hundred numbered messages wait in the inbound backlog of a fresh database. Then
`python -m switchboard work` runs as subprocesses (two at once on PostgreSQL, so their
SKIP LOCKED claims meet; one on SQLite) and each is SIGKILLed at a random moment after it
started working, then started again, until every message is processed or KILL_WINDOW is
over (then the runners started last finish the work and are stopped with SIGTERM). The
ingest lease is made short (SWITCHBOARD_INGEST_LEASE_SECONDS) so that a killed runner's
claims come free within seconds. Afterwards: every message is exactly one ticket with one
acknowledgement, none is lost or doubled, every inbound row is DONE.

Also here: a poison message (one whose processing raises) is quarantined after its attempts
while the messages behind it flow on, through `IngestRunner.run_once`.
"""

from __future__ import annotations

import mailbox
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailgate.parser import parse_message
from mailgate.runners import IngestRunner
from queues.db import make_engine, make_sessionmaker
from queues.ingest import retry_quarantined, store_inbound
from queues.mail import IncomingMail
from queues.models import (
    Article,
    ArticleKind,
    InboundMail,
    InboundState,
    OutboxMessage,
    OutboxState,
    Ticket,
    TicketEvent,
    utcnow,
)
from queues.settings import Settings
from tests.integration.gateway_helpers import fresh_database, message

MESSAGES = int(os.environ.get("SWITCHBOARD_RUNNER_KILL_TEST_MESSAGES", "400"))
LEASE_SECONDS = 3.0  # the default is 5 minutes: far too long to wait for in a test
KILL_AFTER = (0.0, 1.0)  # seconds of work before the SIGKILL, drawn uniformly
KILL_WINDOW = 25.0  # seconds during which runners keep being killed (each start costs ~3 s)
DEADLINE = 100.0  # every message must be processed by then
TO = "help@localhost"  # one of the default addresses (addresses come only from a TOML file)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with fresh_database(request.param, tmp_path) as url:
        yield url


def message_id(n: int) -> str:
    return f"runner-kill-{n}@switchboard.test"


def numbered(n: int) -> bytes:
    # A sender of its own per message: the per-sender acknowledgement cap stays out of it.
    return message(
        f"msg {n}",
        f"Numbered message {n}.\n" + "Someone keeps writing to me.\n" * 10,
        sender=f"Person {n} <p{n}@example.net>",
        to=TO,
        message_id=f"<{message_id(n)}>",
    )


@dataclass
class Worker:
    """One `switchboard work` slot: started, killed and started again by its supervisor."""

    slot: int
    env: dict[str, str]
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None  # the log of the process started last
    starts: int = 0
    kills: int = 0
    killed_while_working: int = 0  # kills after the runner had logged that it started
    unexpected_exits: list[int] = field(default_factory=list)

    def start(self) -> Path:
        self.starts += 1
        self.log = log = self.logs / f"work-{self.slot}-{self.starts}.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "-v", "work"],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        return log

    def wait_working(self, log: Path, done: threading.Event, timeout: float = 30.0) -> bool:
        """Until the ingest runner has started (it claims at once), the process ended or done."""
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline and not done.is_set():
            if self.proc.poll() is not None:
                return False
            if b"ingest runner started" in log.read_bytes():
                return True
            time.sleep(0.02)
        return False

    def supervise(self, done: threading.Event) -> None:
        """Kill at a random moment after each start, and start again, until `done` or the
        end of the kill window (then the runner started last finishes the work)."""
        began = time.monotonic()
        log = self.start()
        while not done.is_set() and time.monotonic() - began < KILL_WINDOW:
            working = self.wait_working(log, done)
            assert self.proc is not None
            if not working and self.proc.poll() is not None:
                self.unexpected_exits.append(self.proc.returncode)
                log = self.start()
                continue
            if done.wait(random.uniform(*KILL_AFTER)):
                break
            if self.proc.poll() is not None:
                self.unexpected_exits.append(self.proc.returncode)
            else:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.kills += 1
                self.killed_while_working += working
            log = self.start()

    def terminate(self) -> int:
        """SIGTERM once it is at work (before, Python's default action ends it): the clean
        stop; returns the exit status."""
        assert self.proc is not None and self.log is not None
        self.wait_working(self.log, threading.Event())
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def inbound_states(factory: sessionmaker[Session]) -> Counter[str]:
    with factory() as session:
        rows = session.execute(
            select(InboundMail.state, func.count()).group_by(InboundMail.state)
        ).all()
    return Counter({str(state): count for state, count in rows})


@pytest.mark.slow
def test_killed_runners_make_each_message_one_ticket(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        for n in range(MESSAGES):
            store_inbound(
                session,
                numbered(n),
                source="smtp",
                envelope_from=f"p{n}@example.net",
                envelope_to=[TO],
            )
    var = tmp_path / "var"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_VAR_DIR": str(var),  # no relay: the outbox goes to var/outgoing
        "SWITCHBOARD_INGEST_LEASE_SECONDS": str(LEASE_SECONDS),
        # Near-identical reports from hundreds of senders are a flood (queues.abuse) and
        # would collapse into one ticket: this test counts one ticket per message.
        "SWITCHBOARD_ABUSE_FLOOD_MIN_SENDERS": "0",
    }
    postgres = engine.dialect.name == "postgresql"
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = [Worker(slot, env, logs) for slot in range(2 if postgres else 1)]
    done = threading.Event()
    started = time.monotonic()
    supervisors = [threading.Thread(target=w.supervise, args=(done,)) for w in workers]
    for thread in supervisors:
        thread.start()
    try:
        while time.monotonic() - started < DEADLINE:
            if inbound_states(factory)[InboundState.DONE] >= MESSAGES:
                break
            time.sleep(0.1)
    finally:
        elapsed = time.monotonic() - started
        done.set()
        for thread in supervisors:
            thread.join()
    # The processes started last were never killed: they must stop cleanly.
    statuses = [w.terminate() for w in workers]

    states = inbound_states(factory)
    with factory() as session:
        max_attempts = session.scalar(select(func.max(InboundMail.attempts)))
        incoming = Counter(
            session.scalars(select(Article.message_id).where(Article.kind == ArticleKind.INCOMING))
        )
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        per_ticket_incoming = Counter(
            session.scalars(select(Article.ticket_id).where(Article.kind == ArticleKind.INCOMING))
        )
        auto_articles = Counter(
            session.scalars(select(Article.ticket_id).where(Article.kind == ArticleKind.AUTO))
        )
        acks = session.execute(
            select(OutboxMessage.ticket_id, OutboxMessage.message_id, OutboxMessage.state).where(
                OutboxMessage.kind == "acknowledgement"
            )
        ).all()
        events = Counter(
            (ticket_id, kind)
            for ticket_id, kind in session.execute(
                select(TicketEvent.ticket_id, TicketEvent.kind).where(
                    TicketEvent.kind.in_(("created", "autoreply-queued", "autoreply-suppressed"))
                )
            )
        )
    engine.dispose()
    outbox_states = Counter(str(state) for _, _, state in acks)
    # A copy in the Maildir twice is possible: written, then killed before SENT was committed.
    written = Counter(
        str(m["Message-ID"]).strip("<>")
        for m in mailbox.Maildir(var / "outgoing", create=True).values()
    )
    kills = sum(w.kills for w in workers)
    print(
        f"\nrunner kill test ({engine.dialect.name}): {MESSAGES} messages, {len(workers)} "
        f"runner(s), {elapsed:.1f} s; {kills} SIGKILLs "
        f"({sum(w.killed_while_working for w in workers)} while working), "
        f"{sum(w.starts for w in workers)} starts; inbound {dict(states)}, most attempts "
        f"{max_attempts}; outbox {dict(outbox_states)}; {len(written)} acknowledgements in "
        f"the Maildir, {sum(written.values()) - len(written)} written twice"
    )

    assert [w.unexpected_exits for w in workers] == [[] for _ in workers]
    assert statuses == [0] * len(workers)  # SIGTERM stops `work` cleanly
    assert dict(states) == {InboundState.DONE: MESSAGES}  # none lost, failed or quarantined
    assert incoming == Counter({message_id(n): 1 for n in range(MESSAGES)})  # none doubled
    assert tickets == MESSAGES
    assert set(per_ticket_incoming.values()) == {1}
    # Exactly one acknowledgement per ticket: one automatic article, one outbox row.
    assert len(auto_articles) == MESSAGES and set(auto_articles.values()) == {1}
    assert Counter(ticket_id for ticket_id, _, _ in acks) == Counter(set(auto_articles))
    assert OutboxState.FAILED not in outbox_states
    assert set(events.values()) == {1}  # no ticket has any of these events twice ...
    kinds = Counter(kind for _, kind in events)  # ... and each has both
    assert kinds == {"created": MESSAGES, "autoreply-queued": MESSAGES}
    # What reached the Maildir is our acknowledgements, and every one recorded as sent is there.
    ack_ids = {mid for _, mid, _ in acks}
    assert set(written) <= ack_ids
    assert {mid for _, mid, state in acks if state == OutboxState.SENT} <= set(written)
    assert kills >= 3


# --- A poison message ---------------------------------------------------------------------

POISON = b"X-Poison: yes"


def parse_or_choke(raw: bytes) -> IncomingMail:
    """The real parser, except that it raises for the poison message (as a bug would)."""
    if POISON in raw:
        raise ValueError("poison message: the parser gave up")
    return parse_message(raw)


def store(factory: sessionmaker[Session], raws: list[bytes]) -> list[int]:
    with factory.begin() as session:
        rows = [
            store_inbound(session, raw, source="smtp", envelope_to=["help@example.org"])
            for raw in raws
        ]
        return [row.id for row in rows]


def drain(runner: IngestRunner) -> int:
    handled = 0
    while count := runner.run_once():
        handled += count
    return handled


def time_passes(factory: sessionmaker[Session]) -> None:
    """Make the failed message due again (its backoff is 30 s, then 60 s)."""
    with factory.begin() as session:
        session.execute(
            update(InboundMail)
            .where(InboundMail.state == InboundState.FAILED)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def states_of(factory: sessionmaker[Session], ids: list[int]) -> list[InboundMail]:
    with factory() as session:
        rows = session.scalars(select(InboundMail).where(InboundMail.id.in_(ids)))
        return sorted(rows, key=lambda row: row.id)


def good(n: int) -> bytes:
    return message(f"report {n}", sender=f"Person {n} <g{n}@example.net>")


def test_poison_message_is_quarantined_while_the_others_flow_on(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    assert settings.ingest_max_attempts == 3
    poison_raw = message("poison").replace(b"Subject:", POISON + b"\r\nSubject:", 1)
    # The poison message is first in line; twelve good ones queue behind it (batches of 10).
    poison, *first = store(factory, [poison_raw, *[good(n) for n in range(12)]])
    runner = IngestRunner(factory, settings, parse_or_choke, batch=10)

    assert drain(runner) == 13
    (row,) = states_of(factory, [poison])
    assert (row.state, row.attempts) == (InboundState.FAILED, 1)
    assert row.last_error is not None and "poison message" in row.last_error
    assert row.next_attempt_at > utcnow()  # backoff: not claimed again at once
    assert {r.state for r in states_of(factory, first)} == {InboundState.DONE}
    assert drain(runner) == 0

    # Second attempt; mail that arrived meanwhile is processed in the same pass.
    time_passes(factory)
    second = store(factory, [good(n) for n in range(12, 15)])
    assert drain(runner) == 4
    (row,) = states_of(factory, [poison])
    assert (row.state, row.attempts) == (InboundState.FAILED, 2)
    assert {r.state for r in states_of(factory, second)} == {InboundState.DONE}

    # Third and last attempt: quarantined, kept with its error, never claimed again.
    time_passes(factory)
    third = store(factory, [good(n) for n in range(15, 17)])
    assert drain(runner) == 3
    (row,) = states_of(factory, [poison])
    assert (row.state, row.attempts) == (InboundState.QUARANTINED, 3)
    assert row.last_error is not None and "poison message" in row.last_error
    assert row.raw == poison_raw  # kept byte for byte
    assert {r.state for r in states_of(factory, third)} == {InboundState.DONE}
    with factory.begin() as session:
        session.execute(
            update(InboundMail)
            .where(InboundMail.id == poison)
            .values(next_attempt_at=utcnow() - timedelta(days=1))
        )
    assert drain(runner) == 0

    # Staff fix the cause and re-run it: it becomes a ticket like any other.
    with factory() as session:
        tickets_before = session.scalar(select(func.count()).select_from(Ticket)) or 0
    retry_quarantined(factory, poison)
    assert drain(IngestRunner(factory, settings, parse_message)) == 1
    (row,) = states_of(factory, [poison])
    assert row.state == InboundState.DONE and row.ticket_id is not None
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == tickets_before + 1


# --- A batch that outlasts its lease ------------------------------------------------------


def test_runners_never_work_on_a_message_whose_lease_ran_out(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two runners, a lease of 2 s and messages that take 0.2 s each: a batch of ten would
    take over 2 s. Each runner gives back what it has not started after 1 s, so no claim ever
    runs out under a runner: every message is processed once, at its first attempt.

    (The margin must cover one message plus waiting for the other runner: on SQLite the
    parse runs inside the write transaction, so runners queue behind each other's 0.2 s;
    with a 1 s lease a message sometimes overran the half still left.)"""
    settings = Settings(
        database_url=database_url, var_dir=tmp_path / "var", ingest_lease_seconds=2.0
    )
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        for n in range(12):
            store_inbound(session, good(n), source="smtp", envelope_to=[TO])

    def slow(raw: bytes) -> IncomingMail:
        time.sleep(0.2)
        return parse_message(raw)

    handled: list[int] = []

    def work() -> None:
        runner = IngestRunner(factory, settings, slow, batch=10)
        deadline = time.monotonic() + 60
        while inbound_states(factory)[InboundState.DONE] < 12 and time.monotonic() < deadline:
            handled.append(runner.run_once())

    caplog.set_level("INFO", logger="mailgate.runners")
    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = inbound_states(factory)
    with factory() as session:
        attempts = Counter(session.scalars(select(InboundMail.attempts)))
        incoming = session.scalar(
            select(func.count()).select_from(Article).where(Article.kind == ArticleKind.INCOMING)
        )
    engine.dispose()

    assert states == {InboundState.DONE: 12}
    assert incoming == 12  # not one message made into a ticket twice
    assert attempts == {1: 12}  # no lease ran out: nothing was claimed a second time
    assert sum(handled) == 12
    assert "half the lease has gone by; gave back" in caplog.text
