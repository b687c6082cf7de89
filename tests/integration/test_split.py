"""`switchboard gateway` and `switchboard work` as two processes, the shape behind Postfix.

The gateway rings `work`'s doorbell (mailgate.doorbell) after each committed message, so a
report on a quiet line becomes a ticket, and is acknowledged, at once rather than at the
runner's next look. The runner here looks only every 120 s (SWITCHBOARD_INGEST_POLL_SECONDS),
so a ticket within 60 s of the 250 can only come from the bell; mail stored while `work` is
down is still picked up when it starts, and a gateway with nobody listening still accepts.
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailgate.doorbell import bell_path
from queues.db import make_engine
from queues.models import InboundMail, InboundState, Ticket
from queues.settings import load_settings
from tests.integration.gateway_helpers import free_port, fresh_database, message, port_open

TO = "help@localhost"
POLL_SECONDS = 120  # the runner's own look: far longer than the test waits
WAIT_SECONDS = 60  # for what the bell must bring at once (a busy machine included)


@contextmanager
def process(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "switchboard", "-v", *args], env=env, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(condition: object, what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_gateway_wakes_work_through_the_doorbell(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    if backend == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    port = free_port()
    var = tmp_path / "var"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
        "SWITCHBOARD_VAR_DIR": str(var),
        "SWITCHBOARD_GATEWAY_PORT": str(port),
        "SWITCHBOARD_HOSTNAME": "mx.switchboard.test",
        "SWITCHBOARD_INGEST_POLL_SECONDS": str(POLL_SECONDS),
        "SWITCHBOARD_SENDER_CHECKS": "false",  # no DNS here; tests/integration/test_attacker.py
    }
    with fresh_database(backend, tmp_path, migrate=False) as url:
        if backend == "postgresql":
            env["SWITCHBOARD_DATABASE_URL"] = url
        settings = load_settings(environ=env)
        subprocess.run(
            [sys.executable, "-m", "switchboard", "init"], env=env, check=True, timeout=60,
            capture_output=True,
        )  # fmt: skip
        engine = make_engine(settings.database_url, sqlite_immediate=False)

        def tickets() -> int:
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(Ticket)) or 0)

        def send(subject: str) -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail(
                    "alice@example.net", [TO], message(subject, sender="alice@example.net", to=TO)
                )

        try:
            with process(env, tmp_path / "gateway.log", "gateway") as gateway:
                wait_until(lambda: port_open(port) or gateway.poll() is not None, "listening")
                assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
                # Nobody listens yet: the gateway rings in vain and still says yes.
                send("Stored while work is down")
                with engine.connect() as conn:
                    assert conn.scalar(select(func.count()).select_from(InboundMail)) == 1
                work_log = tmp_path / "work.log"
                with process(env, work_log, "work") as work:
                    # Its first look, at start, finds the message stored meanwhile.
                    wait_until(lambda: tickets() == 1, "the stored message decided at start")
                    wait_until(lambda: b"doorbell at" in work_log.read_bytes(), "the doorbell")
                    assert bell_path(var).is_socket()
                    # The runner now waits POLL_SECONDS; only the bell can bring the next one.
                    time.sleep(0.5)
                    send("Somebody posted my address")
                    accepted = time.monotonic()
                    wait_until(lambda: tickets() == 2, "the rung message decided")
                    print(f"\n{backend}: ticket {time.monotonic() - accepted:.2f} s after the 250")
                    work.send_signal(signal.SIGTERM)
                    assert work.wait(timeout=30) == 0
                assert not bell_path(var).exists()  # work took its bell away
                send("After work stopped")  # rings nobody; still accepted
        finally:
            engine.dispose()
        with engine.connect() as conn:
            states = list(conn.scalars(select(InboundMail.state).order_by(InboundMail.id)))
        engine.dispose()
        assert states == [InboundState.DONE, InboundState.DONE, InboundState.NEW]
