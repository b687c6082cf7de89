"""The SMTP/LMTP gateway: accept mail for our addresses and store it raw before saying yes.

Transport apart from policy: aiosmtpd's `Controller` runs the server (one event-loop
thread); `GatewayHandler` decides every reply. The few places where aiosmtpd's protocol
class must be touched (per-client connection count at connect, SIZE= at MAIL, enhanced
status codes, waiting for a message in hand at shutdown) live in `GatewaySMTP`.

What the gateway promises (DESIGN.md, "How a message travels", step 1):

- RCPT: only our addresses are accepted, anything else gets 550 5.1.1: never an open relay.
  The null reverse-path `MAIL FROM:<>` is accepted, because bounces must reach us.
- Size: SIZE is advertised (RFC 1870); a larger declared SIZE is refused at MAIL and larger
  data at the end of DATA, both with 552 5.3.4.
- End of DATA: a Received header is prepended (RFC 5321 4.4), the raw bytes and envelope are
  stored as an inbound row in a worker thread, and only after the commit returns do we
  answer 250. Any storage error answers 451 4.3.0 (temporary: the client keeps the message
  and retries), never a 5xx and never a 250.
- LMTP (RFC 2033): after DATA one reply per accepted recipient, in RCPT order.
- Per client IP: at most `gateway_max_connections_per_client` concurrent connections (then
  421 4.7.0 at connect) and `gateway_max_messages_per_minute_per_client` accepted messages
  per minute (then 451 4.7.1 at MAIL). Behind Postfix (LMTP) every message comes from
  Postfix's address, so raise the message limit there: a 451 only defers mail, though.
- STARTTLS (RFC 3207) when `gateway_tls_cert` and `gateway_tls_key` are both set.
- Logging: one INFO line per accepted message and per refusal; never the content.
- Reply addresses (issue 8): `help+<anything>@` is accepted wherever `help@` is; whether the
  extension is a valid reply token is for ingest to decide (queues.followup), so mail to a
  revoked or mistyped one is kept as mail to `help@`, never refused or lost.
- Sender authentication (issue 8), before the message is stored and outside any database
  transaction: the embedded SMTP gateway checks DKIM, SPF and DMARC itself
  (mailgate.senderauth, short DNS timeouts within one budget per message); behind Postfix
  (LMTP) the verdict is read from our own milters' Authentication-Results
  (queues.trust.authresults, `trusted_authserv_ids`). The client's IP and HELO name and the
  verdict are stored with the message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.orm import Session, sessionmaker

from mailgate.senderauth import check_message
from mailgate.senderauth.check import from_header_domain
from queues.ingest import store_inbound
from queues.settings import Settings, SettingsError
from queues.trust.authresults import verdict_from_headers
from queues.trust.replytokens import is_ours
from queues.trust.verdict import NONE, AuthVerdict

log = logging.getLogger(__name__)

# --- Replies (RFC 5321 4.2 reply codes, RFC 3463 enhanced status codes) -------------------

REPLY_SENDER_OK = "250 2.1.0 Sender OK"
REPLY_RECIPIENT_OK = "250 2.1.5 Recipient OK"
# "{id}" is the id in our Received header: it ties the client's log to ours.
REPLY_STORED = "250 2.0.0 OK: stored as {id}"
# RFC 5321 3.3 / 7.1: refuse what is not ours at RCPT, so we can never be used as a relay.
REPLY_UNKNOWN_RECIPIENT = "550 5.1.1 Recipient address rejected: not a mailbox here"
# RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted; more get 452 (try later).
REPLY_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
# RFC 1870 6.1: a declared SIZE over our fixed limit is refused at MAIL with 552.
REPLY_SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed maximum message size"
# RFC 1870 6.3 / RFC 5321 4.5.3.1.10: more data than advertised is refused at end of DATA.
REPLY_TOO_MUCH_DATA = "552 5.3.4 Message too big for system"
# Storage failed: 4xx so that the client keeps the message and retries (RFC 5321 4.2.1).
REPLY_STORAGE_FAILURE = "451 4.3.0 Temporary storage failure, try again later"
REPLY_LOCAL_ERROR = "451 4.3.0 Temporary local problem, try again later"
# RFC 5321 3.1 / 4.2.3: 421 at the greeting, and the server closes the connection.
REPLY_TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address, try again later"
REPLY_RATE_LIMITED = "451 4.7.1 Too many messages from your address, try again later"
REPLY_SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"

# aiosmtpd's own replies that we reword with enhanced status codes (same reply code).
_LIBRARY_REPLIES = {
    "552 Error: Too much mail data": REPLY_TOO_MUCH_DATA,
    "552 Error: message size exceeds fixed maximum message size": REPLY_SIZE_EXCEEDED,
}

MAX_RECIPIENTS = 100
RATE_WINDOW_SECONDS = 60.0
STOP_GRACE_SECONDS = 30.0  # how long a shutdown waits for a message in hand
RECEIVED_ID_BYTES = 8
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.\-:\[\]_]")
_UNSAFE_IN_PATH = re.compile(r"[^\x21-\x7e]|[<>()]")


def _peer_ip(peer: Any) -> str:
    """The client's IP address from a peername (a tuple for TCP; anything else otherwise)."""
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


def _address_literal(ip: str) -> str:
    """RFC 5321 4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]`."""
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def _helo_text(name: str | None) -> str:
    """The client's HELO name, made safe for a header: no spaces, controls or parentheses."""
    if not name:
        return "unknown"
    return _HELO_UNSAFE.sub("_", name)[:255] or "unknown"


def received_header(
    *,
    helo: str | None,
    peer_ip: str,
    hostname: str,
    protocol: str,
    received_id: str,
    recipients: list[str],
    when: datetime | None = None,
) -> bytes:
    """The trace header we prepend, RFC 5321 4.4 (folded, CRLF line ends).

    We do no reverse DNS, so the TCP-info is the bare address literal. `protocol` is one of
    RFC 3848's "with" keywords (SMTP, ESMTP, ESMTPS, LMTP, LMTPS). The `for` clause is given
    only with exactly one recipient, so that no message reveals its other recipients.
    """
    stamp = format_datetime((when or datetime.now(UTC)).astimezone(UTC))
    lines = [
        f"Received: from {_helo_text(helo)} ({_address_literal(peer_ip)})",
        f"\tby {hostname} with {protocol} id {received_id}",
    ]
    if len(recipients) == 1:
        lines.append(f"\tfor <{_UNSAFE_IN_PATH.sub('_', recipients[0])[:320]}>;")
    else:
        lines[-1] += ";"
    lines.append(f"\t{stamp}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii", "replace")


@dataclass(frozen=True)
class Client:
    """Who handed us a message: IP, HELO name, envelope sender ("" = the null path)."""

    ip: str
    helo: str | None
    mail_from: str


class GatewayHandler:
    """The policy: which envelopes we accept, and how a message is stored.

    aiosmtpd calls the `handle_*` hooks on its event-loop thread; the per-client bookkeeping
    is touched only there, so it needs no lock. Storing runs in a worker thread.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        lmtp: bool = False,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.lmtp = lmtp
        self.on_stored = on_stored
        self._ours = settings.all_own_addresses
        self._connections: dict[str, int] = defaultdict(int)
        self._accepted: dict[str, deque[float]] = defaultdict(deque)
        self._in_hand = 0
        self._idle = threading.Event()
        self._idle.set()
        self.stopping = False

    # --- bookkeeping called by GatewaySMTP ------------------------------------------------

    def connection_opened(self, ip: str) -> bool:
        """Count a new connection; False when this client already has too many."""
        if self._connections[ip] >= self.settings.gateway_max_connections_per_client:
            log.info("refused connection from %s: too many connections", ip)
            return False
        self._connections[ip] += 1
        return True

    def connection_closed(self, ip: str) -> None:
        self._connections[ip] -= 1
        if self._connections[ip] <= 0:
            del self._connections[ip]

    def connections(self, ip: str | None = None) -> int:
        """Open connections that were admitted (from `ip`, or from everyone)."""
        if ip is None:
            return sum(self._connections.values())
        return self._connections.get(ip, 0)

    def data_started(self) -> None:
        self._in_hand += 1
        self._idle.clear()

    def data_finished(self) -> None:
        self._in_hand -= 1
        if self._in_hand <= 0:
            self._in_hand = 0
            self._idle.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no message is in hand (DATA received, stored and answered)."""
        return self._idle.wait(timeout)

    def _recent(self, ip: str) -> deque[float]:
        stamps = self._accepted[ip]
        horizon = time.monotonic() - RATE_WINDOW_SECONDS
        while stamps and stamps[0] < horizon:
            stamps.popleft()
        if not stamps:
            del self._accepted[ip]
            return deque()
        return stamps

    # --- aiosmtpd hooks -------------------------------------------------------------------

    async def handle_MAIL(
        self,
        server: SMTP,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        ip = _peer_ip(session.peer)
        if self.stopping:
            log.info("refused MAIL from %s: shutting down", ip)
            # RFC 5321 3.8: 421 means the server closes the channel; close once it is sent.
            if server.transport is not None:
                asyncio.get_running_loop().call_soon(server.transport.close)
            return REPLY_SHUTTING_DOWN
        if len(self._recent(ip)) >= self.settings.gateway_max_messages_per_minute_per_client:
            log.info(
                "refused MAIL from %s: more than %d messages a minute",
                ip,
                self.settings.gateway_max_messages_per_minute_per_client,
            )
            return REPLY_RATE_LIMITED
        # Returning a reply replaces aiosmtpd's default, so we record the sender ourselves.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return REPLY_SENDER_OK

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        ip = _peer_ip(session.peer)
        if not is_ours(address, self._ours):
            log.info("refused RCPT from %s: unknown recipient %s", ip, address)
            return REPLY_UNKNOWN_RECIPIENT
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            log.info("refused RCPT from %s: more than %d recipients", ip, MAX_RECIPIENTS)
            return REPLY_TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return REPLY_RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        """Store, commit, then answer: 250 only for a committed row, else 451 (never 5xx)."""
        ip = _peer_ip(session.peer)
        recipients = list(envelope.rcpt_tos)
        sender = envelope.mail_from or ""
        # `<>` is the null reverse-path (RFC 5321 4.5.5): bounces. Stored as "".
        envelope_from = "" if sender.strip("<> ") == "" else sender
        received_id = secrets.token_hex(RECEIVED_ID_BYTES)
        content = bytes(envelope.original_content or b"")
        raw = self._received(session, ip, received_id, recipients) + content
        client = Client(ip, session.host_name, envelope_from)
        loop = asyncio.get_running_loop()
        stored = loop.run_in_executor(None, self._store, raw, content, client, recipients)
        # The store runs to its end even if this client goes away meanwhile (the task is
        # cancelled then): shield it, and let the callback account for a committed row.
        client_left = threading.Event()
        self.data_started()
        stored.add_done_callback(lambda done: self._store_done(done, ip, received_id, client_left))
        try:
            inbound_id = await asyncio.shield(stored)
        except asyncio.CancelledError:
            client_left.set()
            raise
        except Exception as exc:
            log.warning(
                "refused message from %s (id %s): storage failed: %s: %s",
                ip,
                received_id,
                type(exc).__name__,
                exc,
            )
            return self._replies(REPLY_STORAGE_FAILURE, len(recipients))
        log.info(
            "accepted message from %s (id %s): from=<%s> rcpts=%d size=%d inbound=%d",
            ip,
            received_id,
            envelope_from,
            len(recipients),
            len(raw),
            inbound_id,
        )
        return self._replies(REPLY_STORED.format(id=received_id), len(recipients))

    def _store_done(
        self, done: asyncio.Future[int], ip: str, received_id: str, client_left: threading.Event
    ) -> None:
        """Event loop, once the store finished: count the message and wake the runners."""
        self.data_finished()
        if done.cancelled() or done.exception() is not None:
            return
        self._accepted[ip].append(time.monotonic())
        if client_left.is_set():
            # SMTP's at-least-once window: committed, but the 250 never reached the client,
            # which will send the message again; ingest's dedupe drops the second copy.
            log.info(
                "stored message from %s (id %s) as inbound %d, but the client left before the 250",
                ip,
                received_id,
                done.result(),
            )
        if self.on_stored is not None:
            try:
                self.on_stored()
            except Exception:
                log.exception("on_stored callback failed (the message is stored)")

    async def handle_exception(self, error: Exception) -> str:
        """Any other unexpected error: temporary (aiosmtpd's default would be a 500)."""
        log.error("gateway error: %s: %s", type(error).__name__, error, exc_info=error)
        return REPLY_LOCAL_ERROR

    # --- helpers --------------------------------------------------------------------------

    def _replies(self, reply: str, recipients: int) -> str:
        """SMTP: one reply. LMTP (RFC 2033 4.2): one reply per accepted RCPT, in order.

        aiosmtpd pushes the string followed by CRLF, so CRLF-joined complete replies reach
        the client as separate replies (not one multi-line reply).
        """
        if not self.lmtp:
            return reply
        return "\r\n".join([reply] * max(recipients, 1))

    def _received(
        self, session: SMTPSession, ip: str, received_id: str, recipients: list[str]
    ) -> bytes:
        if self.lmtp:
            protocol = "LMTPS" if session.ssl is not None else "LMTP"
        elif session.ssl is not None:
            protocol = "ESMTPS"
        else:
            protocol = "ESMTP" if session.extended_smtp else "SMTP"
        return received_header(
            helo=session.host_name,
            peer_ip=ip,
            hostname=self.settings.hostname,
            protocol=protocol,
            received_id=received_id,
            recipients=recipients,
        )

    def _store(self, raw: bytes, content: bytes, client: Client, recipients: list[str]) -> int:
        """Worker thread: the sender checks, then one transaction; returns the inbound id
        once the commit returned. `content` is the message as the client sent it."""
        verdict = self.verdict(content, client)
        with self.factory.begin() as session:
            row = store_inbound(
                session,
                raw,
                source="lmtp" if self.lmtp else "smtp",
                envelope_from=client.mail_from,
                envelope_to=recipients,
                client_ip=client.ip,
                client_helo=client.helo,
                auth=verdict,
            )
            inbound_id = row.id
        log.info(
            "message from %s: sender verdict %s %s", client.ip, verdict.verdict, verdict.summary()
        )
        return inbound_id

    def verdict(self, content: bytes, client: Client) -> AuthVerdict:
        """Sender authentication of one message (DNS work; never inside a transaction)."""
        if self.lmtp:
            return verdict_from_headers(
                content,
                self.settings.trusted_authserv_ids,
                from_header_domain(content),
                skip_own_received=False,
            )
        if not self.settings.sender_checks:
            return AuthVerdict(NONE, source="smtp", notes=("sender checks are off",))
        return check_message(
            content,
            client_ip=client.ip,
            helo=client.helo,
            mail_from=client.mail_from,
            settings=self.settings,
        )


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with the per-client connection limit and our enhanced status codes."""

    event_handler: GatewayHandler

    def __init__(self, handler: GatewayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._client_ip = "unknown"
        self._admitted = False
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # aiosmtpd calls this again after STARTTLS on the same connection: count only once.
        if self._original_transport is None and not self._counted:
            self._client_ip = _peer_ip(transport.get_extra_info("peername"))
            self._admitted = self.event_handler.connection_opened(self._client_ip)
            self._counted = self._admitted
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.event_handler.connection_closed(self._client_ip)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if not self._admitted:
            # RFC 5321 3.1: a server that cannot serve now answers 421 instead of 220.
            await self.push(REPLY_TOO_MANY_CONNECTIONS)
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    async def smtp_MAIL(self, arg: str | None) -> None:
        # RFC 1870 6.1: refuse a declared SIZE over the limit with our enhanced code (aiosmtpd
        # would too, but as a bare 552); only once HELO/EHLO was given, as aiosmtpd checks.
        declared = _declared_size(arg)
        if (
            declared is not None
            and self.data_size_limit
            and declared > self.data_size_limit
            and self.session is not None
            and self.session.host_name
            and self.session.extended_smtp
        ):
            log.info(
                "refused MAIL from %s: declared SIZE %d over %d",
                self._client_ip,
                declared,
                self.data_size_limit,
            )
            await self.push(REPLY_SIZE_EXCEEDED)
            return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        # "In hand" from the DATA command until its reply is sent: shutdown waits for it.
        self.event_handler.data_started()
        try:
            await super().smtp_DATA(arg)
        finally:
            self.event_handler.data_finished()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status in _LIBRARY_REPLIES:
            if status.startswith("552 Error: Too much"):
                log.info(
                    "refused message from %s: more than %s bytes",
                    self._client_ip,
                    self.data_size_limit,
                )
            await super().push(_LIBRARY_REPLIES[status])
            return
        await super().push(status)


class GatewayLMTP(GatewaySMTP, LMTP):
    """The same, speaking LMTP (RFC 2033): LHLO instead of EHLO, replies per recipient."""


_SIZE_PARAM = re.compile(r"(?:^|\s)SIZE=(\d{1,20})(?=\s|$)", re.IGNORECASE)


def _declared_size(arg: str | None) -> int | None:
    """The SIZE= parameter of `MAIL FROM:<a> SIZE=n` (looked for after the address only)."""
    if not arg:
        return None
    params = arg.rpartition(">")[2] if ">" in arg else arg
    match = _SIZE_PARAM.search(params)
    return int(match.group(1)) if match else None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A server-side context for STARTTLS (RFC 3207), or None when TLS is not configured."""
    cert, key = settings.gateway_tls_cert, settings.gateway_tls_key
    if not cert and not key:
        return None
    if not (cert and key):
        raise SettingsError("set both gateway_tls_cert and gateway_tls_key, or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class _GatewayController(Controller):
    """aiosmtpd's threaded Controller, building our protocol class for each connection."""

    def __init__(
        self, handler: GatewayHandler, server_class: type[GatewaySMTP], **kwargs: Any
    ) -> None:
        self._server_class = server_class
        super().__init__(handler, **kwargs)

    def factory(self) -> GatewaySMTP:
        return self._server_class(self.handler, **self.SMTP_kwargs)


def make_controller(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    lmtp: bool = False,
    host: str | None = None,
    port: int | None = None,
    on_stored: Callable[[], None] | None = None,
) -> Controller:
    """A controller for the gateway, not started; host/port default to the settings.

    `controller.handler` is the `GatewayHandler`. Stop it with `shutdown(controller)` so that
    a message in hand is finished first (`controller.stop()` cancels it).
    """
    # aiosmtpd logs every command line at INFO and DATA lines (the content) at DEBUG on
    # "mail.log"; we log our own summary lines instead, so keep it to warnings.
    library_log = logging.getLogger("mail.log")
    if library_log.level == logging.NOTSET:
        library_log.setLevel(logging.WARNING)
    handler = GatewayHandler(factory, settings, lmtp=lmtp, on_stored=on_stored)
    return _GatewayController(
        handler,
        GatewayLMTP if lmtp else GatewaySMTP,
        hostname=settings.gateway_host if host is None else host,
        port=settings.gateway_port if port is None else port,
        server_hostname=settings.hostname,
        ident="Switchboard LMTP" if lmtp else "Switchboard ESMTP",
        # RFC 1870: advertised in EHLO as SIZE <n>; larger data gets 552 at end of DATA.
        data_size_limit=settings.max_message_bytes,
        decode_data=False,  # envelope.original_content: the bytes exactly as received
        enable_SMTPUTF8=True,
        tls_context=tls_context(settings),
        require_starttls=False,
    )


def shutdown(controller: Controller, *, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop listening, let a message in hand finish (up to `grace` seconds), then stop."""
    handler = controller.handler
    if isinstance(handler, GatewayHandler):
        handler.stopping = True
        server = controller.server
        if server is not None:
            controller.loop.call_soon_threadsafe(server.close)
        if not handler.wait_idle(grace):
            log.warning("gateway stopping with a message in hand after %.0f s", grace)
    controller.stop()


def run_gateway(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    lmtp: bool = False,
    on_stored: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until `stop` is set (the caller's signal handlers set it), then stop cleanly."""
    controller = make_controller(factory, settings, lmtp=lmtp, on_stored=on_stored)
    controller.start()
    log.info(
        "gateway listening on %s:%s (%s)",
        settings.gateway_host,
        settings.gateway_port,
        "LMTP" if lmtp else "SMTP",
    )
    stop = stop or threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        shutdown(controller)
        log.info("gateway stopped")
