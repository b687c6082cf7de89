"""The SMTP/LMTP gateway over real sockets, on SQLite and PostgreSQL.

smtplib (and swaks) talk to `mailgate.gateway` running under aiosmtpd's Controller; each
test gets a database of its own, because the gateway commits in its own threads.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from mailgate.gateway import (
    GatewayHandler,
    make_controller,
    received_header,
    run_gateway,
    shutdown,
)
from queues.db import make_engine, make_sessionmaker
from queues.settings import Settings
from tests.conftest import service_missing
from tests.integration.gateway_helpers import (
    ADDRESSES,
    HOSTNAME,
    OWN,
    free_port,
    fresh_database,
    inbound_rows,
    message,
    port_open,
    split_received,
    wait_until,
)

RECEIVED = re.compile(
    rb"Received: from (?P<helo>\S+) \(\[(?P<ip>[^\]]+)\]\)\r\n"
    rb"\tby (?P<by>\S+) with (?P<proto>[A-Z]+) id (?P<id>[0-9a-f]+)"
    rb"(?:\r\n\tfor <(?P<for>[^>]+)>)?;\r\n"
    rb"\t(?P<date>\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000)\r\n$"
)


@dataclass
class Gateway:
    """A running gateway, its database, and a way to restart it with other settings."""

    engine: Engine
    factory: sessionmaker[Session]
    settings: Settings
    controller: Controller | None = None
    stored: list[int] = field(default_factory=list)  # one entry per on_stored() call

    @property
    def handler(self) -> GatewayHandler:
        assert self.controller is not None
        handler = self.controller.handler
        assert isinstance(handler, GatewayHandler)
        return handler

    @property
    def port(self) -> int:
        assert self.controller is not None
        port: int = self.controller.port
        return port

    def start(self, *, lmtp: bool = False, **changes: Any) -> Gateway:
        self.stop()
        self.settings = replace(self.settings, gateway_port=free_port(), **changes)
        self.controller = make_controller(
            self.factory,
            self.settings,
            lmtp=lmtp,
            on_stored=lambda: self.stored.append(1),
        )
        self.controller.start()
        # Controller.start() makes one connection of its own to check the server answers.
        assert wait_until(lambda: self.handler.connections() == 0)
        return self

    def stop(self) -> None:
        if self.controller is not None:
            shutdown(self.controller, grace=5)
            self.controller = None

    def smtp(self, **kwargs: Any) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example.net", **kwargs)
        return client

    def rows(self) -> list[Any]:
        return inbound_rows(self.engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_database_url")  # skips or fails when the server is absent
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[Gateway]:
    engine = make_engine(database_url)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        addresses=ADDRESSES,
        own_addresses=OWN,
        hostname=HOSTNAME,
    )
    gw = Gateway(engine, make_sessionmaker(engine), settings)
    gw.start()
    yield gw
    gw.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for localhost / 127.0.0.1."""
    if shutil.which("openssl") is None:
        service_missing("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def assert_stored_as_sent(raw: bytes, sent: bytes, *, proto: bytes, rcpt: str | None) -> None:
    header, rest = split_received(raw)
    assert rest == sent  # the bytes as received, unchanged
    match = RECEIVED.match(header)
    assert match, header
    assert match["helo"] == b"client.example.net"
    assert match["ip"] == b"127.0.0.1"
    assert match["by"] == HOSTNAME.encode()
    assert match["proto"] == proto
    assert (match["for"] or b"").decode() == (rcpt or "")


# --- SMTP ---------------------------------------------------------------------------------


def test_message_is_stored_with_received_header_and_envelope(gateway: Gateway) -> None:
    sent = message("I need help")
    with gateway.smtp() as client:
        code, lines = client.ehlo()
        assert code == 250
        assert lines.startswith(HOSTNAME.encode())
        assert f"SIZE {gateway.settings.max_message_bytes}".encode() in lines
        assert client.sendmail("alice@example.net", ["help@example.org"], sent) == {}
        # The reply came only after the commit: the row is visible to anyone right now.
        rows = gateway.rows()
        assert client.noop()[0] == 250
    assert len(rows) == 1
    row = rows[0]
    assert (row.source, row.envelope_from, row.envelope_to) == (
        "smtp", "alice@example.net", ["help@example.org"],
    )  # fmt: skip
    assert row.raw_sha256 == hashlib.sha256(row.raw).hexdigest()
    assert row.size == len(row.raw)
    assert_stored_as_sent(row.raw, sent, proto=b"ESMTP", rcpt="help@example.org")
    assert gateway.stored == [1]


def test_greeting_names_our_host_and_250_names_the_received_id(gateway: Gateway) -> None:
    with smtplib.SMTP() as client:
        code, greeting = client.connect("127.0.0.1", gateway.port)
        assert code == 220
        assert greeting.split()[0] == HOSTNAME.encode()
        client.ehlo("client.example.net")
        client.mail("alice@example.net")
        client.rcpt("help@example.org")
        code, reply = client.data(message())
    assert code == 250
    received_id = re.search(rb"stored as ([0-9a-f]+)", reply)
    assert received_id, reply
    assert b" id " + received_id.group(1) + b"\r\n" in gateway.rows()[0].raw


def test_unknown_recipient_is_refused_and_nothing_stored(gateway: Gateway) -> None:
    with gateway.smtp() as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("alice@example.net", ["victim@elsewhere.test"], message())
        code, reply = refused.value.recipients["victim@elsewhere.test"]
        assert code == 550
        assert reply.startswith(b"5.1.1")
        # Other mailboxes in our domain, bare names, source routes: all refused.
        client.mail("alice@example.net")
        assert client.rcpt("root@example.org")[0] == 550
        assert client.rcpt("help")[0] == 550
        assert client.rcpt("@example.org:victim@elsewhere.test")[0] in (550, 553)
        client.rset()
    assert gateway.rows() == []


def test_recipients_case_insensitive_own_addresses_and_a_mix(gateway: Gateway) -> None:
    with gateway.smtp() as client:
        refused = client.sendmail(
            "alice@example.net",
            ["HELP@Example.ORG", "stranger@elsewhere.test", "noreply@example.org"],
            message(),
        )
    assert set(refused) == {"stranger@elsewhere.test"}
    (row,) = gateway.rows()
    assert row.envelope_to == ["HELP@Example.ORG", "noreply@example.org"]
    header, _ = split_received(row.raw)
    assert b"\tfor <" not in header  # several recipients: none is named in the header


def test_null_sender_is_accepted(gateway: Gateway) -> None:
    bounce = message("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@example.net")
    with gateway.smtp() as client:
        client.ehlo()
        assert client.mail("<>") == (250, b"2.1.0 Sender OK")
        assert client.rcpt("safety@example.org")[0] == 250
        assert client.data(bounce)[0] == 250
    (row,) = gateway.rows()
    assert row.envelope_from == ""
    assert row.envelope_to == ["safety@example.org"]


def test_oversize_is_refused_with_552(gateway: Gateway) -> None:
    gateway.start(max_message_bytes=20_000)
    big = message("big", ("x" * 76 + "\n") * 300)
    assert len(big) > 20_000
    with gateway.smtp() as client:
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "20000"
        # RFC 1870: a declared SIZE over the limit is refused at MAIL ...
        code, reply = client.mail("alice@example.net", ["SIZE=20001"])
        assert (code, reply[:5]) == (552, b"5.3.4")
        # ... and undeclared data over the limit at the end of DATA.
        client.mail("alice@example.net")
        client.rcpt("help@example.org")
        code, reply = client.data(big)
        assert (code, reply[:5]) == (552, b"5.3.4")
        # smtplib declares SIZE itself; the connection is still good for a small message.
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("alice@example.net", ["help@example.org"], big)
        assert refused.value.smtp_code == 552
        assert client.sendmail("alice@example.net", ["help@example.org"], message()) == {}
    assert len(gateway.rows()) == 1


def test_storage_failure_answers_451_then_the_retry_is_stored(gateway: Gateway) -> None:
    sent = message("please keep this")
    with gateway.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbound RENAME TO inbound_away"))
    try:
        with gateway.smtp() as client:
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.sendmail("alice@example.net", ["help@example.org"], sent)
            assert failed.value.smtp_code == 451
            assert failed.value.smtp_error.startswith(b"4.3.0 Temporary storage failure")
    finally:
        with gateway.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_away RENAME TO inbound"))
    assert gateway.rows() == []
    assert gateway.stored == []
    # The client kept the message (4xx) and tries again: now it is stored, once.
    with gateway.smtp() as client:
        assert client.sendmail("alice@example.net", ["help@example.org"], sent) == {}
    (row,) = gateway.rows()
    assert split_received(row.raw)[1] == sent


def test_message_rate_limit_per_client(gateway: Gateway) -> None:
    gateway.start(gateway_max_messages_per_minute_per_client=3)
    with gateway.smtp() as client:
        for _ in range(3):
            client.sendmail("alice@example.net", ["help@example.org"], message())
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("alice@example.net", ["help@example.org"], message())
    assert refused.value.smtp_code == 451
    assert refused.value.smtp_error.startswith(b"4.7.1")
    assert len(gateway.rows()) == 3


def test_connection_limit_per_client(gateway: Gateway) -> None:
    gateway.start(gateway_max_connections_per_client=2)
    first, second = gateway.smtp(), gateway.smtp()
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            gateway.smtp()
        assert refused.value.smtp_code == 421
        assert refused.value.smtp_error.startswith(b"4.7.0")
        # The admitted connections still work, and a closed one frees its place.
        assert first.sendmail("alice@example.net", ["help@example.org"], message()) == {}
        second.quit()
        assert wait_until(lambda: gateway.handler.connections("127.0.0.1") == 1)
        with gateway.smtp() as third:
            assert third.noop()[0] == 250
    finally:
        first.close()
        second.close()
    assert wait_until(lambda: gateway.handler.connections() == 0)


def test_starttls(gateway: Gateway, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    gateway.start(gateway_tls_cert=str(cert), gateway_tls_key=str(key))
    sent = message("over TLS")
    context = ssl.create_default_context(cafile=str(cert))  # verifies name and chain
    with gateway.smtp() as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.starttls(context=context)[0] == 220
        client.ehlo()
        assert not client.has_extn("starttls")
        assert client.sendmail("alice@example.net", ["help@example.org"], sent) == {}
    (row,) = gateway.rows()
    assert_stored_as_sent(row.raw, sent, proto=b"ESMTPS", rcpt="help@example.org")


def test_swaks_sends_one_message(gateway: Gateway) -> None:
    swaks = shutil.which("swaks")
    if swaks is None:
        service_missing("swaks is not installed (apt-get install swaks)")
    result = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(gateway.port),
         "--from", "c@example.test", "--to", "help@example.org",
         "--header", "Subject: help", "--body", "text", "--silent", "2"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = gateway.rows()
    assert row.envelope_from == "c@example.test"
    assert b"Subject: help\r\n" in row.raw


# --- LMTP ---------------------------------------------------------------------------------


def lmtp_deliver(port: int, rcpts: list[str], sent: bytes) -> list[tuple[int, bytes]]:
    """Send one message over LMTP; return every reply after DATA (RFC 2033 4.2)."""
    with smtplib.LMTP("127.0.0.1", port, local_hostname="client.example.net") as client:
        client.ehlo_or_helo_if_needed()  # smtplib.LMTP says LHLO
        assert client.mail("alice@example.net")[0] == 250
        accepted = [r for r in rcpts if client.rcpt(r)[0] == 250]
        # smtplib reads only the first reply after DATA; read the others ourselves.
        replies = [client.data(sent)]
        replies += [client.getreply() for _ in accepted[1:]]
        assert client.noop()[0] == 250  # nothing left over in the stream
    return replies


def test_lmtp_answers_per_recipient(gateway: Gateway) -> None:
    gateway.start(lmtp=True)
    sent = message("over LMTP")
    replies = lmtp_deliver(
        gateway.port, ["help@example.org", "stranger@elsewhere.test", "safety@example.org"], sent
    )
    assert [code for code, _ in replies] == [250, 250]
    (row,) = gateway.rows()
    assert row.source == "lmtp"
    assert row.envelope_to == ["help@example.org", "safety@example.org"]
    assert_stored_as_sent(row.raw, sent, proto=b"LMTP", rcpt=None)


def test_lmtp_storage_failure_fails_every_recipient(gateway: Gateway) -> None:
    gateway.start(lmtp=True)
    with gateway.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbound RENAME TO inbound_away"))
    try:
        replies = lmtp_deliver(gateway.port, ["help@example.org", "safety@example.org"], message())
    finally:
        with gateway.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_away RENAME TO inbound"))
    assert [(code, reply[:5]) for code, reply in replies] == [(451, b"4.3.0")] * 2
    assert gateway.rows() == []


def test_lmtp_refuses_helo_and_ehlo(gateway: Gateway) -> None:
    gateway.start(lmtp=True)
    with smtplib.SMTP("127.0.0.1", gateway.port) as client:
        assert client.ehlo()[0] == 500
        assert client.helo()[0] == 500


# --- Concurrency and shutdown -------------------------------------------------------------


class SlowFactory:
    """A sessionmaker stand-in whose transactions start only after `gate` is set."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def begin(self) -> Any:
        self.waiting.set()
        assert self.gate.wait(10)
        return self.factory.begin()


def send_in_thread(port: int, sent: bytes) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                outcome.append(client.sendmail("a@example.net", ["help@example.org"], sent))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_other_clients_are_served_while_a_message_is_being_stored(gateway: Gateway) -> None:
    slow = SlowFactory(gateway.factory)
    gateway.factory = slow  # type: ignore[assignment]
    gateway.start()
    thread, outcome = send_in_thread(gateway.port, message())
    assert slow.waiting.wait(5)
    # The store is blocked in its worker thread; the event loop still answers others.
    started = time.monotonic()
    with gateway.smtp() as other:
        assert other.noop()[0] == 250
    assert time.monotonic() - started < 2
    assert outcome == []
    slow.gate.set()
    thread.join(10)
    assert outcome == [{}]
    assert len(gateway.rows()) == 1


def test_shutdown_finishes_the_message_in_hand(gateway: Gateway) -> None:
    slow = SlowFactory(gateway.factory)
    gateway.factory = slow  # type: ignore[assignment]
    gateway.start()
    port = gateway.port
    thread, outcome = send_in_thread(port, message())
    assert slow.waiting.wait(5)
    stopper = threading.Thread(target=gateway.stop)
    stopper.start()
    assert wait_until(lambda: not port_open(port))  # no longer listening ...
    assert stopper.is_alive()  # ... but still waiting for the message in hand
    slow.gate.set()
    stopper.join(10)
    thread.join(10)
    assert outcome == [{}]  # it got its 250
    assert len(gateway.rows()) == 1


def test_a_client_that_leaves_during_the_store_still_counts(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """SMTP's at-least-once window: committed, but the 250 never reached the client."""
    slow = SlowFactory(gateway.factory)
    gateway.factory = slow  # type: ignore[assignment]
    gateway.start()
    caplog.set_level(logging.INFO, logger="mailgate.gateway")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for command in (b"", b"EHLO client.example.net", b"MAIL FROM:<a@example.net>",
                        b"RCPT TO:<help@example.org>", b"DATA"):  # fmt: skip
            if command:
                sock.sendall(command + b"\r\n")
            while (line := reader.readline())[3:4] == b"-":
                pass
            assert line[:1] in (b"2", b"3"), line
        sock.sendall(message() + b".\r\n")
        assert slow.waiting.wait(5)
        reader.close()  # else the socket stays open (makefile holds a reference)
    # The client is gone (the server noticed); the store finishes, is counted, wakes runners.
    assert wait_until(lambda: gateway.handler.connections() == 0)
    slow.gate.set()
    assert wait_until(lambda: gateway.stored == [1])
    assert len(gateway.rows()) == 1
    assert wait_until(lambda: "but the client left before the 250" in caplog.text)


def test_an_unexpected_error_answers_4xx_not_500(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway.handler, "_ours", None)  # RCPT now raises TypeError
    with gateway.smtp() as client:
        client.ehlo()
        client.mail("alice@example.net")
        code, reply = client.rcpt("help@example.org")
    assert (code, reply[:5]) == (451, b"4.3.0")


def test_run_gateway_logs_and_stops_when_told(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.stop()
    settings = replace(gateway.settings, gateway_port=free_port())
    stop = threading.Event()
    woken: list[int] = []
    caplog.set_level(logging.INFO, logger="mailgate.gateway")
    thread = threading.Thread(
        target=run_gateway,
        args=(settings, gateway.factory),
        kwargs={"stop": stop, "on_stored": lambda: woken.append(1)},
    )
    thread.start()
    try:
        assert wait_until(lambda: port_open(settings.gateway_port))
        with smtplib.SMTP("127.0.0.1", settings.gateway_port) as client:
            client.sendmail("alice@example.net", ["help@example.org"], message())
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert not port_open(settings.gateway_port)
    assert woken == [1]
    text_ = caplog.text
    assert f"gateway listening on 127.0.0.1:{settings.gateway_port} (SMTP)" in text_
    accepted = [r.getMessage() for r in caplog.records if "accepted message" in r.getMessage()]
    assert len(accepted) == 1
    assert "rcpts=1" in accepted[0] and "inbound=" in accepted[0]
    assert "Someone keeps writing" not in text_  # never the content


# --- The Received header alone ------------------------------------------------------------


def test_received_header_is_rfc5321_and_safe() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    header = received_header(
        helo="evil (x)\r\nBcc: y",
        peer_ip="2001:db8::1",
        hostname="mx.example.org",
        protocol="ESMTPS",
        received_id="abc123",
        recipients=["help@example.org"],
        when=when,
    )
    assert header == (
        b"Received: from evil__x___Bcc:_y ([IPv6:2001:db8::1])\r\n"
        b"\tby mx.example.org with ESMTPS id abc123\r\n"
        b"\tfor <help@example.org>;\r\n"
        b"\tWed, 14 Jan 2026 10:00:00 +0000\r\n"
    )
    several = received_header(
        helo=None, peer_ip="192.0.2.1", hostname="h", protocol="LMTP", received_id="1",
        recipients=["a@x", "b@x"], when=when,
    )  # fmt: skip
    assert several.startswith(b"Received: from unknown ([192.0.2.1])\r\n\tby h with LMTP id 1;\r\n")


def _gateway_on(url: str, tmp_path: Path) -> Gateway:
    engine = make_engine(url)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=url,
        addresses=ADDRESSES,
        own_addresses=OWN,
        hostname=HOSTNAME,
    )
    return Gateway(engine, make_sessionmaker(engine), settings).start()


def test_locked_sqlite_file_answers_451_then_the_retry_is_stored(tmp_path: Path) -> None:
    """Another process holds the write lock past the busy timeout: 451, nothing half-stored."""
    import sqlite3

    with fresh_database("sqlite", tmp_path) as url:
        gateway = _gateway_on(url, tmp_path)
        sent = message("the file is locked")
        locker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            with (
                gateway.smtp(timeout=60) as client,
                pytest.raises(smtplib.SMTPDataError) as failed,
            ):
                client.sendmail("alice@example.net", ["help@example.org"], sent)
            assert failed.value.smtp_code == 451
            assert failed.value.smtp_error.startswith(b"4.3.0")
            locker.execute("ROLLBACK")
            assert gateway.rows() == []
            with gateway.smtp() as client:
                assert client.sendmail("alice@example.net", ["help@example.org"], sent) == {}
            (row,) = gateway.rows()
            assert split_received(row.raw)[1] == sent
        finally:
            locker.close()
            gateway.stop()
            gateway.engine.dispose()


def test_database_refusing_connections_answers_451_then_the_retry_is_stored(
    tmp_path: Path, pg_database_url: str
) -> None:
    """PostgreSQL stops accepting connections to our database (and drops the open ones)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_ADMIN_URL

    with fresh_database("postgresql", tmp_path) as url:
        name = make_url(url).database
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        gateway = _gateway_on(url, tmp_path)
        sent = message("the database is away")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )
            with (
                gateway.smtp(timeout=60) as client,
                pytest.raises(smtplib.SMTPDataError) as failed,
            ):
                client.sendmail("alice@example.net", ["help@example.org"], sent)
            assert failed.value.smtp_code == 451
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            with gateway.smtp() as client:
                assert client.sendmail("alice@example.net", ["help@example.org"], sent) == {}
            (row,) = gateway.rows()
            assert split_received(row.raw)[1] == sent
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            gateway.stop()
            gateway.engine.dispose()
            admin.dispose()
