"""The outbox runner against real SMTP servers on 127.0.0.1, on SQLite and PostgreSQL.

The relay is tests/integration/relay_sink.py (aiosmtpd, told per test to fail), and once
Postfix's smtp-sink. Time moves through the runner's `clock` hook, never by sleeping.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import mailbox
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailgate.delivery import OutboxRunner
from queues.models import OutboxMessage, OutboxState, Queue, Ticket, TicketEvent, utcnow
from queues.outgoing import OutgoingMail, make_message_id, queue_outgoing
from queues.settings import Settings
from tests.conftest import service_missing
from tests.integration.relay_sink import (
    RelaySink,
    free_port,
    plain_authenticator,
    server_tls_context,
)

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class Clock:
    """The runner's idea of now; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)  # mail queued in the test is due at once

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def sink() -> Iterator[RelaySink]:
    with RelaySink() as relay:
        yield relay


@pytest.fixture
def clock() -> Clock:
    return Clock()


def relay_settings(settings: Settings, port: int, **more: Any) -> Settings:
    return dataclasses.replace(settings, relay_host="127.0.0.1", relay_port=port, **more)


@pytest.fixture
def runner(
    factory: sessionmaker[Session], settings: Settings, sink: RelaySink, clock: Clock
) -> OutboxRunner:
    return OutboxRunner(factory, relay_settings(settings, sink.port), clock=clock, timeout=5)


def make_ticket(factory: sessionmaker[Session]) -> int:
    with factory.begin() as session:
        queue = session.scalars(select(Queue).where(Queue.slug == "general-help")).one()
        ticket = Ticket(number=f"T{uuid.uuid4().hex[:10]}", subject="report", queue_id=queue.id)
        session.add(ticket)
        session.flush()
        return ticket.id


def queue(
    factory: sessionmaker[Session],
    to: Sequence[str] = ("bob@example.net",),
    *,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    envelope_from: str = "bounces@example.org",
    ticket_id: int | None = None,
    deadline: timedelta = timedelta(days=2),
    body: str = "Hello,\n\nthank you for your report. We are looking into it.\n",
) -> tuple[int, str, bytes]:
    """Queue one reply; returns its outbox id, Message-ID and raw bytes."""
    message_id = make_message_id("example.org")
    mail = OutgoingMail(
        from_email="help@example.org",
        from_name="Help team",
        to=[("", a) for a in to],
        cc=[("", a) for a in cc],
        subject="Re: your report [Ticket#1]",
        body_text=body,
        message_id=message_id,
    )
    with factory.begin() as session:
        row = queue_outgoing(
            session,
            mail,
            kind="reply",
            envelope_from=envelope_from,
            ticket_id=ticket_id,
            bcc=bcc,
            deadline=deadline,
        )
        return row.id, message_id, row.raw


def row_of(factory: sessionmaker[Session], outbox_id: int) -> OutboxMessage:
    with factory() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def events_of(factory: sessionmaker[Session], ticket_id: int) -> list[TicketEvent]:
    with factory() as session:
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
        return list(session.scalars(stmt.order_by(TicketEvent.id)))


def message_id_of(content: bytes) -> str:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    return str(msg["Message-ID"])


def drain(runner: OutboxRunner, rounds: int = 20) -> int:
    total = 0
    for _ in range(rounds):
        handled = runner.run_once()
        if not handled:
            return total
        total += handled
    raise AssertionError("the outbox did not drain")


# --- delivered ---------------------------------------------------------------------------


def test_delivered_exactly_once_with_headers_intact(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    oid, message_id, raw = queue(factory, ["bob@example.net"], cc=["carol@example.net"])
    assert runner.run_once() == 1
    clock.advance(hours=1)
    assert runner.run_once() == 0
    assert len(sink.messages) == 1
    got = sink.messages[0]
    assert got.mail_from == "bounces@example.org"
    assert got.rcpt_tos == ["bob@example.net", "carol@example.net"]
    assert got.content == raw  # byte for byte: DATA is the stored message unchanged
    assert message_id_of(got.content) == f"<{message_id}>"
    row = row_of(factory, oid)
    assert row.state == OutboxState.SENT
    assert row.sent_at is not None
    assert row.last_error is None
    assert row.attempts == 1


def test_null_reverse_path(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    queue(factory, envelope_from="")
    assert runner.run_once() == 1
    assert sink.messages[0].mail_from == ""  # MAIL FROM:<>


def test_bcc_recipient_gets_the_mail_but_no_header(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    oid, _, _ = queue(factory, ["bob@example.net"], bcc=["mentor@example.org"])
    runner.run_once()
    [got] = sink.received_by("mentor@example.org")
    assert got.rcpt_tos == ["bob@example.net", "mentor@example.org"]
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert msg["Bcc"] is None
    assert b"mentor@example.org" not in got.content
    assert row_of(factory, oid).state == OutboxState.SENT


def test_non_ascii_body_goes_as_8bitmime(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    _, _, raw = queue(factory, body="Grüße, 你好 — nous avons bien reçu votre message.\n")
    runner.run_once()
    [got] = sink.messages
    assert got.content == raw
    if not raw.isascii():
        assert "BODY=8BITMIME" in got.mail_options


def test_many_messages_go_over_few_connections(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    sent = {queue(factory, [f"user{i}@example.net"])[1] for i in range(50)}
    assert drain(runner) == 50
    assert len(sink.messages) == 50
    assert {message_id_of(m.content) for m in sink.messages} == {f"<{m}>" for m in sent}
    # One connection per claimed batch (20): 3 connections, not 50.
    assert sink.connections == runner.connections == 3


# --- transient failures: retried, delivered once, same Message-ID ----------------------------


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("RCPT", "451 4.3.0 Try again later"),
        ("DATA", "451 4.3.0 Try again later"),
        ("MAIL", "452 4.3.1 Insufficient system storage"),
        ("MAIL", "421 4.3.2 Service shutting down"),
        # RFC 5321 section 4.5.3.1.10: a 552 to RCPT ("too many recipients") is temporary.
        ("RCPT", "552 5.5.3 Too many recipients"),
        # RFC 4954 section 6: our relay settings lack credentials; not the message's fault.
        ("MAIL", "530 5.7.0 Authentication required"),
    ],
)
def test_transient_reply_then_accept_delivers_once(
    factory: sessionmaker[Session],
    runner: OutboxRunner,
    sink: RelaySink,
    clock: Clock,
    stage: str,
    reply: str,
) -> None:
    {"MAIL": sink.fail_mail, "RCPT": sink.fail_rcpt, "DATA": sink.fail_data}[stage](reply)
    oid, message_id, raw = queue(factory)
    assert runner.run_once() == 1
    row = row_of(factory, oid)
    assert row.state == OutboxState.QUEUED
    assert row.attempts == 1
    assert row.last_error and reply.split()[0] in row.last_error
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)  # retry_delay(1)
    assert sink.messages == []

    assert runner.run_once() == 0  # not due yet
    clock.advance(seconds=31)
    assert runner.run_once() == 1
    assert len(sink.messages) == 1
    assert sink.messages[0].content == raw
    assert message_id_of(sink.messages[0].content) == f"<{message_id}>"
    row = row_of(factory, oid)
    assert row.state == OutboxState.SENT
    assert row.attempts == 2
    clock.advance(hours=3)
    assert runner.run_once() == 0
    assert len(sink.messages) == 1


def test_backoff_grows_between_attempts(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    sink.fail_rcpt("451 4.3.0 Try again later", messages=3)
    oid, _, _ = queue(factory)
    delays = []
    for _ in range(3):
        runner.run_once()
        row = row_of(factory, oid)
        delays.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    assert delays == [timedelta(seconds=s) for s in (30, 60, 120)]
    runner.run_once()
    assert row_of(factory, oid).state == OutboxState.SENT
    assert len(sink.messages) == 1


def test_connection_dropped_mid_data_is_retried_and_others_reconnect(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    sink.drop_data(messages=1)
    ids = [queue(factory, [f"user{i}@example.net"]) for i in range(3)]
    assert runner.run_once() == 3
    first = row_of(factory, ids[0][0])
    assert first.state == OutboxState.QUEUED
    assert first.last_error and "connection" in first.last_error.lower()
    assert [row_of(factory, i).state for i, _, _ in ids[1:]] == [OutboxState.SENT] * 2
    assert runner.connections == 2  # the runner reconnected for the other two
    clock.advance(seconds=31)
    assert runner.run_once() == 1
    assert row_of(factory, ids[0][0]).state == OutboxState.SENT
    got = sorted(message_id_of(m.content) for m in sink.messages)
    assert got == sorted(f"<{mid}>" for _, mid, _ in ids)  # each exactly once


def test_relay_closing_a_used_connection_is_met_by_reconnecting(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    sink.max_per_connection = 2  # then it hangs up without a word, as some relays do
    ids = [queue(factory, [f"user{i}@example.net"])[0] for i in range(5)]
    assert runner.run_once() == 5
    assert {row_of(factory, i).state for i in ids} == {OutboxState.SENT}  # no retry needed
    assert len(sink.messages) == 5
    assert sink.connections == 3


def test_relay_down_keeps_mail_queued_until_it_recovers(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    ids = [queue(factory, [f"user{i}@example.net"])[0] for i in range(5)]
    with sink.down():
        for _ in range(3):  # down for a while: three rounds of retries
            assert runner.run_once() == 5
            rows = [row_of(factory, i) for i in ids]
            assert {r.state for r in rows} == {OutboxState.QUEUED}
            assert all(r.last_error and "refused" in r.last_error.lower() for r in rows)
            clock.now = max(r.next_attempt_at for r in rows)
    assert runner.run_once() == 5
    assert {row_of(factory, i).state for i in ids} == {OutboxState.SENT}
    assert len(sink.messages) == 5
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
        f"user{i}@example.net" for i in range(5)
    ]


# --- permanent failures ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_permanent_failure_fails_with_a_ticket_note_and_is_not_retried(
    factory: sessionmaker[Session],
    runner: OutboxRunner,
    sink: RelaySink,
    clock: Clock,
    stage: str,
) -> None:
    reply = "550 5.1.1 No such user here"
    {"MAIL": sink.fail_mail, "RCPT": sink.fail_rcpt, "DATA": sink.fail_data}[stage](reply)
    ticket_id = make_ticket(factory)
    oid, _, _ = queue(factory, ["nobody@example.net"], ticket_id=ticket_id)
    assert runner.run_once() == 1
    row = row_of(factory, oid)
    assert row.state == OutboxState.FAILED
    assert row.last_error and "550 5.1.1 No such user here" in row.last_error
    [event] = events_of(factory, ticket_id)
    assert event.kind == "delivery-failed"
    assert "nobody@example.net" in event.detail and "550" in event.detail
    clock.advance(days=1)
    assert runner.run_once() == 0
    assert sink.messages == []
    assert row_of(factory, oid).attempts == 1


def test_partial_refusal_sends_to_the_others_and_names_the_refused(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    sink.fail_rcpt("550 5.1.1 No such user", addresses=["gone@example.net"])
    ticket_id = make_ticket(factory)
    oid, _, _ = queue(factory, ["bob@example.net"], cc=["gone@example.net"], ticket_id=ticket_id)
    runner.run_once()
    [got] = sink.messages
    assert got.rcpt_tos == ["bob@example.net"]
    row = row_of(factory, oid)
    assert row.state == OutboxState.SENT
    assert row.last_error and "gone@example.net" in row.last_error
    [event] = events_of(factory, ticket_id)
    assert "gone@example.net" in event.detail and "bob@example.net" in event.detail
    clock.advance(days=1)
    assert runner.run_once() == 0


def test_transient_refusal_of_some_recipients_retries_only_them(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    sink.fail_rcpt("450 4.2.0 Mailbox busy", addresses=["busy@example.net"])
    oid, message_id, raw = queue(factory, ["bob@example.net", "busy@example.net"])
    runner.run_once()
    row = row_of(factory, oid)
    assert row.state == OutboxState.QUEUED
    assert row.recipients == ["busy@example.net"]
    clock.advance(seconds=31)
    runner.run_once()
    assert row_of(factory, oid).state == OutboxState.SENT
    assert [m.rcpt_tos for m in sink.messages] == [["bob@example.net"], ["busy@example.net"]]
    assert {m.content for m in sink.messages} == {raw}  # same bytes, same Message-ID
    assert message_id_of(raw) == f"<{message_id}>"


def test_deadline_passed_fails_the_message(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    ticket_id = make_ticket(factory)
    oid, _, _ = queue(factory, ticket_id=ticket_id, deadline=timedelta(minutes=10))
    sink.fail_rcpt("451 4.3.0 Try again later", messages=100)
    runner.run_once()
    row = row_of(factory, oid)
    assert row.state == OutboxState.QUEUED
    clock.advance(minutes=9)
    runner.run_once()
    row = row_of(factory, oid)
    # The last retry is due no later than the deadline itself.
    assert row.state == OutboxState.QUEUED
    assert row.deadline is not None and row.next_attempt_at == row.deadline
    clock.now = row.deadline + timedelta(seconds=1)
    runner.run_once()
    row = row_of(factory, oid)
    assert row.state == OutboxState.FAILED
    assert row.last_error and "deadline" in row.last_error and "451" in row.last_error
    [event] = events_of(factory, ticket_id)
    assert event.kind == "delivery-failed" and "deadline" in event.detail
    assert sink.messages == []


def test_deadline_passed_while_relay_down(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink, clock: Clock
) -> None:
    oid, _, _ = queue(factory, deadline=timedelta(minutes=1))
    clock.advance(minutes=5)
    sink.stop()
    runner.run_once()
    row = row_of(factory, oid)
    assert row.state == OutboxState.FAILED
    assert row.last_error and "deadline" in row.last_error


# --- connection security and the loop ------------------------------------------------------


@pytest.fixture(scope="module")
def certificate() -> Iterator[tuple[str, str]]:
    if not shutil.which("openssl"):
        service_missing("openssl is not installed (needed for a test certificate)")
    folder = tempfile.mkdtemp()
    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    yield cert, key
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_authentication(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    certificate: tuple[str, str],
    security: str,
) -> None:
    cert, key = certificate
    server_tls = server_tls_context(cert, key)
    tls_kwargs: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True}
        if security == "starttls"
        # Implicit TLS happens below aiosmtpd, which then cannot tell the session is
        # encrypted: let it offer AUTH anyway.
        else {"ssl_context": server_tls, "auth_require_tls": False}
    )
    users = {"switchboard": "s3cret"}
    with RelaySink(
        authenticator=plain_authenticator(users), auth_required=True, **tls_kwargs
    ) as relay:
        client_tls = ssl.create_default_context(cafile=cert)
        config = relay_settings(
            settings,
            relay.port,
            relay_security=security,
            relay_username="switchboard",
            relay_password_env="RELAY_PASSWORD",
        )
        wrong = OutboxRunner(
            factory, config, clock=clock, tls_context=client_tls, environ={"RELAY_PASSWORD": "no"}
        )
        oid, _, raw = queue(factory)
        wrong.run_once()
        row = row_of(factory, oid)
        assert row.state == OutboxState.QUEUED
        assert row.last_error and "535" in row.last_error
        clock.advance(seconds=31)
        right = OutboxRunner(
            factory,
            config,
            clock=clock,
            tls_context=client_tls,
            environ={"RELAY_PASSWORD": "s3cret"},
        )
        right.run_once()
        assert row_of(factory, oid).state == OutboxState.SENT
        assert [m.content for m in relay.messages] == [raw]


def test_missing_password_variable_keeps_mail_queued(
    factory: sessionmaker[Session], settings: Settings, sink: RelaySink, clock: Clock
) -> None:
    config = relay_settings(
        settings, sink.port, relay_username="switchboard", relay_password_env="NO_SUCH_VAR"
    )
    runner = OutboxRunner(factory, config, clock=clock, environ={})
    oid, _, _ = queue(factory)
    runner.run_once()
    row = row_of(factory, oid)
    assert row.state == OutboxState.QUEUED
    assert row.last_error and "$NO_SUCH_VAR" in row.last_error
    assert sink.messages == []


def test_untrusted_certificate_is_not_used(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    certificate: tuple[str, str],
) -> None:
    cert, key = certificate
    with RelaySink(tls_context=server_tls_context(cert, key), require_starttls=True) as relay:
        runner = OutboxRunner(
            factory, relay_settings(settings, relay.port, relay_security="starttls"), clock=clock
        )
        oid, _, _ = queue(factory)
        runner.run_once()
        row = row_of(factory, oid)
        assert row.state == OutboxState.QUEUED
        assert row.last_error and "certificate" in row.last_error.lower()
        assert relay.messages == []


def test_run_loop_wakes_sends_and_stops(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    oid, _, _ = queue(factory)
    stop, wake = threading.Event(), threading.Event()
    wake.set()
    thread = threading.Thread(target=runner.run, args=(stop, wake, 0.2), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not sink.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(sink.messages) == 1
    assert row_of(factory, oid).state == OutboxState.SENT


def test_stop_gives_back_the_messages_not_started(
    factory: sessionmaker[Session], runner: OutboxRunner, sink: RelaySink
) -> None:
    ids = [queue(factory, [f"user{i}@example.net"])[0] for i in range(3)]
    stop = threading.Event()
    stop.set()
    assert runner.run_once(stop) == 0
    rows = [row_of(factory, i) for i in ids]
    assert {(r.state, r.attempts) for r in rows} == {(OutboxState.QUEUED, 0)}
    assert sink.messages == []


def test_a_result_is_not_recorded_over_another_runners_claim(
    factory: sessionmaker[Session],
    runner: OutboxRunner,
    sink: RelaySink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oid, _, _ = queue(factory)
    relay = runner._relay
    real_send = relay.send

    def send_slowly(job: Any) -> Any:
        # While we send, our lease runs out and another runner claims the row.
        with factory.begin() as session:
            row = session.get(OutboxMessage, oid)
            assert row is not None
            row.attempts += 1
        return real_send(job)

    monkeypatch.setattr(relay, "send", send_slowly)
    assert runner.run_once() == 1
    row = row_of(factory, oid)
    assert (row.state, row.attempts) == (OutboxState.SENDING, 2)  # left to the other runner
    assert len(sink.messages) == 1


# --- the embedded default: a Maildir ----------------------------------------------------------


def test_maildir_mode_writes_files(
    factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    assert settings.relay_host == ""
    runner = OutboxRunner(factory, settings, clock=clock)
    ids = [queue(factory, [f"user{i}@example.net"], bcc=["mentor@example.org"]) for i in range(2)]
    assert runner.run_once() == 2
    box = mailbox.Maildir(settings.outgoing_maildir, create=False)
    stored = sorted((box.get_bytes(key) for key in box.iterkeys()), key=len)
    assert len(stored) == 2
    assert {message_id_of(b) for b in stored} == {f"<{mid}>" for _, mid, _ in ids}
    for data, (oid, _, raw) in zip(sorted(stored), sorted(ids, key=lambda i: i[2]), strict=True):
        assert data.endswith(raw.replace(b"\r\n", b"\n"))
        assert data.startswith(b"Return-Path: <bounces@example.org>\n")
        assert row_of(factory, oid).state == OutboxState.SENT


# --- Postfix's smtp-sink ------------------------------------------------------------------------


def _start_smtp_sink(port: int, dump: str, *options: str) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    args = [SMTP_SINK, *user, "-d", f"{dump}/%M.", *options, f"127.0.0.1:{port}", "64"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(100).startswith(b"220"):
                    return proc
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"smtp-sink did not start: {proc.communicate()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.communicate(timeout=10)  # waits and closes the stderr pipe


def test_postfix_smtp_sink_450_then_accept(
    factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    if not Path(SMTP_SINK).exists():
        service_missing("Postfix's smtp-sink is not installed (apt-get install postfix)")
    dump = tempfile.mkdtemp()
    os.chmod(dump, 0o777)  # smtp-sink writes as nobody
    port = free_port()
    runner = OutboxRunner(factory, relay_settings(settings, port), clock=clock, timeout=5)
    oid, message_id, _ = queue(factory, ["bob@example.net", "carol@example.net"])
    try:
        proc = _start_smtp_sink(port, dump, "-r", "RCPT")  # every RCPT TO gets a 450
        try:
            assert runner.run_once() == 1
        finally:
            _stop(proc)
        row = row_of(factory, oid)
        assert row.state == OutboxState.QUEUED
        assert row.last_error and "450" in row.last_error
        assert row.recipients == ["bob@example.net", "carol@example.net"]
        assert os.listdir(dump) == []

        proc = _start_smtp_sink(port, dump)
        try:
            clock.advance(seconds=31)
            assert runner.run_once() == 1
        finally:
            _stop(proc)
        assert row_of(factory, oid).state == OutboxState.SENT
        [name] = os.listdir(dump)
        dumped = Path(dump, name).read_bytes()
        assert f"Message-ID: <{message_id}>".encode() in dumped
        assert b"bob@example.net" in dumped and b"carol@example.net" in dumped
    finally:
        shutil.rmtree(dump, ignore_errors=True)
