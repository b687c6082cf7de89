"""Kill the gateway again and again while clients send: no message that got 250 is lost.

`switchboard gateway` runs as a subprocess and is SIGKILLed 0.5–1 s after each start while a
few smtplib clients send numbered messages, retrying on connection errors and 4xx until
each got 250. Afterwards every 250'd message is in the inbound table. A message can be
there twice only if it was committed but its 250 was lost with the process: SMTP's known
at-least-once window (the ingest dedupe drops the copy); the test counts those.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import select

from queues.db import make_engine
from queues.models import InboundMail
from tests.integration.gateway_helpers import free_port, fresh_database, message, port_open

pytestmark = pytest.mark.slow

MESSAGES = int(os.environ.get("SWITCHBOARD_KILL_TEST_MESSAGES", "2000"))
CLIENTS = 4
KILL_WINDOW = 30.0  # seconds during which the gateway keeps being killed
DEADLINE = 120.0  # the clients must be done by then
SUBJECT = re.compile(rb"^Subject: msg (\d+)\r$", re.MULTILINE)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with fresh_database(request.param, tmp_path, migrate=False) as url:
        yield url


@dataclass
class Tally:
    """What the clients saw (each client thread appends; lists and ints under the GIL)."""

    accepted: list[int] = field(default_factory=list)  # numbers that got 250
    attempts: int = 0
    connection_errors: int = 0
    temporary: Counter[int] = field(default_factory=Counter)  # 4xx replies by code
    permanent: list[tuple[int, int, bytes]] = field(default_factory=list)  # (n, code, reply)
    lost_replies: int = 0  # the message data went out, then the connection died
    lock: threading.Lock = field(default_factory=threading.Lock)


class Gateway:
    """`python -m switchboard gateway` as a subprocess that a supervisor kills and restarts."""

    def __init__(self, env: dict[str, str], port: int, log: IO[bytes]) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts = 0
        self.unexpected_exits: list[int] = []
        self.uptime = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "gateway"],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.starts += 1

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            if port_open(self.port):
                return True
            time.sleep(0.02)
        return False

    def supervise(self, done: threading.Event) -> None:
        """Start; then, for KILL_WINDOW seconds, SIGKILL 0.5–1 s after each start is ready."""
        began = time.monotonic()
        self.start()
        while not done.is_set() and time.monotonic() - began < KILL_WINDOW:
            if not self.wait_ready():
                assert self.proc is not None
                self.unexpected_exits.append(self.proc.wait())
                self.start()
                continue
            up = time.monotonic()
            if done.wait(random.uniform(0.5, 1.0)):
                break
            assert self.proc is not None
            if self.proc.poll() is not None:
                self.unexpected_exits.append(self.proc.returncode)
            else:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.kills += 1
            self.uptime += time.monotonic() - up
            self.start()

    def terminate(self) -> int:
        """SIGTERM: the clean stop; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def numbered(n: int) -> bytes:
    return message(
        f"msg {n}",
        f"Numbered message {n}.\n" + "Lorem ipsum dolor sit amet.\n" * 20,
        to="help@localhost",
        message_id=f"<kill-{n}@switchboard.test>",
    )


def send_all(port: int, todo: queue.Queue[int], tally: Tally, deadline: float) -> None:
    """One client: take numbers until none is left; retry each until it got 250."""
    client: smtplib.SMTP | None = None
    while time.monotonic() < deadline:
        try:
            n = todo.get_nowait()
        except queue.Empty:
            break
        raw = numbered(n)
        while time.monotonic() < deadline:
            data_sent = False
            with tally.lock:
                tally.attempts += 1
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                    client.ehlo("client.example.net")
                code, reply = client.mail("sender@example.net")
                if code == 250:
                    code, reply = client.rcpt("help@localhost")
                if code == 250:
                    data_sent = True
                    code, reply = client.data(raw)
                if code == 250:
                    with tally.lock:
                        tally.accepted.append(n)
                    break
                with tally.lock:
                    if 400 <= code < 500:
                        tally.temporary[code] += 1
                    else:
                        tally.permanent.append((n, code, reply))
                if code >= 500:
                    break
                client.rset()
            except (smtplib.SMTPException, OSError):
                with tally.lock:
                    tally.connection_errors += 1
                    tally.lost_replies += data_sent
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.02)
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def test_killed_gateway_loses_no_accepted_message(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_VAR_DIR": str(tmp_path / "var"),
        "SWITCHBOARD_GATEWAY_PORT": str(port),
        "SWITCHBOARD_HOSTNAME": "mx.switchboard.test",
        "SWITCHBOARD_GATEWAY_MAX_MESSAGES_PER_MINUTE_PER_CLIENT": "1000000",
    }
    subprocess.run(
        [sys.executable, "-m", "switchboard", "init"], env=env, check=True, capture_output=True
    )
    todo: queue.Queue[int] = queue.Queue()
    for n in range(MESSAGES):
        todo.put(n)
    tally = Tally()
    done = threading.Event()
    started = time.monotonic()
    with open(tmp_path / "gateway.log", "wb") as log:
        gateway = Gateway(env, port, log)
        supervisor = threading.Thread(target=gateway.supervise, args=(done,))
        supervisor.start()
        clients = [
            threading.Thread(target=send_all, args=(port, todo, tally, started + DEADLINE))
            for _ in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        elapsed = time.monotonic() - started
        done.set()
        supervisor.join()
        status = gateway.terminate()

    engine = make_engine(database_url)
    with engine.connect() as conn:
        raws = list(conn.scalars(select(InboundMail.raw)))
    engine.dispose()
    stored: Counter[int] = Counter()
    for raw in raws:
        match = SUBJECT.search(raw)
        assert match, raw[:300]
        n = int(match.group(1))
        assert raw.endswith(numbered(n))  # the bytes as sent, after our Received header
        stored[n] += 1
    duplicates = sum(count - 1 for count in stored.values())

    print(
        f"\ngateway kill test: {MESSAGES} messages, {CLIENTS} clients, {elapsed:.1f} s; "
        f"{gateway.kills} SIGKILLs, {gateway.starts} starts, {gateway.uptime:.1f} s killable "
        f"uptime; {tally.attempts} attempts, {tally.connection_errors} connection errors, "
        f"4xx {dict(tally.temporary)}, {tally.lost_replies} replies lost after the data; "
        f"{len(tally.accepted)} got 250, {len(raws)} rows stored, {duplicates} duplicates"
    )
    assert tally.permanent == []
    assert gateway.unexpected_exits == []
    assert status == 0  # SIGTERM stops it cleanly
    assert sorted(tally.accepted) == list(range(MESSAGES))  # every message got its 250 ...
    assert set(stored) == set(tally.accepted)  # ... and every 250'd message is stored
    # A copy can only come from a commit whose 250 never arrived.
    assert duplicates <= tally.lost_replies
    assert gateway.kills >= 3
