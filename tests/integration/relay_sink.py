"""A fake SMTP relay for delivery tests: an aiosmtpd server that records and fails on request.

Its one job: stand in for the relay the outbox runner talks to, on 127.0.0.1 and a free
port. It records every accepted transaction (envelope and content, byte for byte) and
counts connections. A test can tell it to answer the next N transactions with a given reply
at MAIL, RCPT (optionally for some addresses only) or DATA, to close the connection after
the data instead of answering, or to stop (relay down) and start again on the same port.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    """One transaction the sink accepted."""

    mail_from: str  # "" for the null reverse-path
    rcpt_tos: list[str]
    content: bytes  # what came after DATA, dot-unstuffed, CRLF line ends kept
    mail_options: list[str]
    session: int  # which connection it came over (1, 2, ...)


@dataclass
class _Fault:
    stage: str  # "MAIL", "RCPT" or "DATA"
    reply: str | None  # None: close the connection instead of answering (DATA only)
    remaining: int  # transactions still to hit
    addresses: frozenset[str] | None = None  # RCPT only: None = every recipient
    hit: list[Envelope] = field(default_factory=list)  # transactions counted so far

    def applies(self, envelope: Envelope, address: str | None = None) -> bool:
        if self.addresses is not None and address is not None and address not in self.addresses:
            return False
        if any(e is envelope for e in self.hit):
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        self.hit.append(envelope)
        return True


class _Handler:
    def __init__(self, sink: RelaySink) -> None:
        self.sink = sink

    def _session_number(self, session: Session) -> int:
        number: int | None = getattr(session, "sink_number", None)
        if number is None:
            with self.sink.lock:
                self.sink.connections += 1
                number = self.sink.connections
            session.sink_number = number  # type: ignore[attr-defined]
        return number

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        self._session_number(session)
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        session.host_name = hostname
        self._session_number(session)
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.sink.fault("MAIL", envelope)
        if fault is not None and fault.reply is not None:
            return fault.reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.sink.fault("RCPT", envelope, address)
        if fault is not None and fault.reply is not None:
            return fault.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.sink.fault("DATA", envelope)
        if fault is not None:
            if fault.reply is None:
                # The whole message arrived, but the final reply never will: the client
                # cannot know whether we took it (RFC 5321 section 6.1), so it must retry.
                assert server.transport is not None
                server.transport.close()
                return "451 4.4.2 connection dropped by the test sink"  # never reaches the client
            return fault.reply
        mail_from = "" if envelope.mail_from == "<>" else str(envelope.mail_from)
        content = envelope.original_content or b""
        number = self._session_number(session)
        with self.sink.lock:
            self.sink.messages.append(
                Received(
                    mail_from,
                    list(envelope.rcpt_tos),
                    bytes(content),
                    list(envelope.mail_options),
                    number,
                )
            )
            count = sum(1 for m in self.sink.messages if m.session == number)
        limit = self.sink.max_per_connection
        if limit is not None and count >= limit and server.transport is not None:
            # Runs after the reply below has been written: the client sees the 250 first.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 OK queued"


class RelaySink:
    """The fake relay; use as a context manager or call start() and stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, **smtp: Any) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.smtp_kwargs = smtp  # e.g. tls_context, authenticator, auth_require_tls
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.connections = 0
        # Close a connection (after the 250) once it has carried this many messages, as
        # relays with a per-connection limit do; None: no limit.
        self.max_per_connection: int | None = None
        self._faults: list[_Fault] = []
        self._controller: Controller | None = None

    # --- running ---------------------------------------------------------------------

    def start(self) -> RelaySink:
        assert self._controller is None, "already running"
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=5, **self.smtp_kwargs
        )
        controller.start()
        # Controller.start() makes one connection of its own to check the server answers;
        # it never says EHLO, so it is not counted.
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening: the relay is down (connections are refused) until start()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> RelaySink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def down(self) -> Iterator[None]:
        """The relay is away inside the block and back (same port) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    # --- failures on request -------------------------------------------------------------

    def fail_mail(self, reply: str, messages: int = 1) -> None:
        """Answer MAIL FROM with `reply` for the next `messages` transactions."""
        self._add(_Fault("MAIL", reply, messages))

    def fail_rcpt(
        self, reply: str, messages: int = 1, addresses: Collection[str] | None = None
    ) -> None:
        """Answer RCPT TO with `reply` (for `addresses`, or all) in the next transactions."""
        self._add(
            _Fault("RCPT", reply, messages, frozenset(addresses) if addresses is not None else None)
        )

    def fail_data(self, reply: str, messages: int = 1) -> None:
        """Answer the end of DATA with `reply` for the next `messages` transactions."""
        self._add(_Fault("DATA", reply, messages))

    def drop_data(self, messages: int = 1) -> None:
        """Close the connection at the end of DATA, before any reply, `messages` times."""
        self._add(_Fault("DATA", None, messages))

    def _add(self, fault: _Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def fault(self, stage: str, envelope: Envelope, address: str | None = None) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.stage == stage and fault.applies(envelope, address):
                    return fault
        return None

    # --- what arrived --------------------------------------------------------------------

    def received_by(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]


def plain_authenticator(users: dict[str, str]) -> Any:
    """An aiosmtpd authenticator accepting LOGIN/PLAIN for the given user: password pairs."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if users.get(user) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return authenticate


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
