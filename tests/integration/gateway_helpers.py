"""Shared helpers for the gateway's socket tests: fresh databases, ports, messages, rows."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from queues.db import make_engine
from queues.migrate import upgrade
from queues.models import InboundMail
from queues.seed import seed_queues
from tests.conftest import PG_ADMIN_URL

ADDRESSES = {"help@example.org": "general-help", "safety@example.org": "specialist-safety"}
OWN = ("noreply@example.org",)
HOSTNAME = "mx.switchboard.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def fresh_database(kind: str, tmp_path: Path, *, migrate: bool = True) -> Iterator[str]:
    """A database of its own for one test: a new SQLite file or a new PostgreSQL database.

    The gateway commits in its own threads, so the rolled-back `factory` fixture cannot be
    used; `migrate=False` leaves the schema to `switchboard init`.
    """
    admin: Engine | None = None
    name = ""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'gateway-{uuid.uuid4().hex[:6]}.db'}"
    else:
        admin = create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        name = "switchboard_gw_" + uuid.uuid4().hex[:10]
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            engine = make_engine(url)
            upgrade(engine)
            with sessionmaker(bind=engine).begin() as session:
                seed_queues(session)
            engine.dispose()
        yield url
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def message(
    subject: str = "help",
    body: str = "Someone keeps writing to me.\n",
    *,
    sender: str = "Alice <alice@example.net>",
    to: str = "help@example.org",
    message_id: str | None = None,
) -> bytes:
    """An RFC 5322 message with CRLF line ends (as it travels in SMTP)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@example.net>"
    msg.set_content(body)
    return msg.as_bytes()


def inbound_rows(engine: Engine) -> list[InboundMail]:
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        return list(session.scalars(select(InboundMail).order_by(InboundMail.id)))


def split_received(raw: bytes) -> tuple[bytes, bytes]:
    """(our Received header, the rest) of a stored message."""
    assert raw.startswith(b"Received: "), raw[:80]
    end = 0
    while True:
        nl = raw.index(b"\r\n", end)
        end = nl + 2
        if raw[end : end + 1] not in (b"\t", b" "):
            return raw[:end], raw[end:]
