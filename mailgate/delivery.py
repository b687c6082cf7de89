"""The outbox runner: sends queued outgoing mail through the relay and records each result.

Its one job is step 4 of DESIGN.md ("Deliver"). In the manner of GNU Mailman's runners, a
batch of due messages is claimed in one short transaction (a lease, queues.backlog), then
each message is sent and its result committed on its own:

- every recipient accepted: SENT;
- a 4xx reply, a socket error, a timeout or a dropped connection: QUEUED again with
  backoff (queues.backlog.retry_delay), or FAILED once the message's deadline has passed;
- a 5xx reply: FAILED, never retried, with a "delivery-failed" event on the ticket.

Recipients are settled one by one. Those a relay accepted are never sent to again: when
some recipients got a 4xx, the row keeps only those in `recipients` and is retried for them
alone. The raw bytes go out unchanged, so the Message-ID is the same on every attempt and a
receiver can drop the duplicate that a connection lost after the final "." may cause
(RFC 5321 section 6.1: without a reply, the client must assume the message was not
delivered). Bcc recipients exist only in the envelope.

With no relay configured (the embedded default of `make run`), each message is written to
the Maildir `settings.outgoing_maildir` instead.

One runner per thread: a runner holds one SMTP connection for the batch in hand.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import os
import smtplib
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Update, update
from sqlalchemy.orm import Session, sessionmaker

from queues.backlog import DEFAULT_LEASE, claim_outbox, retry_delay
from queues.idle import nap
from queues.models import OutboxMessage, OutboxState, TicketEvent, utcnow
from queues.settings import Settings

log = logging.getLogger(__name__)

# Per-command socket timeout. RFC 5321 section 4.5.3.2 suggests minutes per command; a
# runner holds a lease on its batch, so it gives up sooner and lets the retry take over.
DEFAULT_TIMEOUT = 60.0
DEFAULT_BATCH = 20
REPLY_LIMIT = 300  # characters of a server reply kept in last_error and ticket events
EVENT_KIND = "delivery-failed"


def _reply_text(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    text = " ".join(text.split())
    return text[:REPLY_LIMIT]


def _describe(exc: BaseException) -> str:
    """A one-line reason for an exception, with the SMTP code where there is one."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"connection lost ({exc})" if str(exc) else "connection lost"
    return f"{type(exc).__name__}: {exc}"[:REPLY_LIMIT]


@dataclass
class _Job:
    """What the runner needs of one claimed outbox row."""

    id: int
    attempts: int
    kind: str
    envelope_from: str
    recipients: list[str]
    raw: bytes
    deadline: datetime


@dataclass
class _Attempt:
    """How one delivery attempt went, recipient by recipient."""

    delivered: list[str] = field(default_factory=list)
    hard: dict[str, str] = field(default_factory=dict)  # permanent: recipient -> reason
    soft: dict[str, str] = field(default_factory=dict)  # transient: recipient -> reason
    codes: list[int] = field(default_factory=list)  # the negative reply codes, for the log
    stale: bool = False  # the connection was gone before the first reply of this message

    def refuse(self, recipient: str, code: int, reply: bytes | str, stage: str) -> None:
        """File a negative reply under permanent or transient, as RFC 5321 says."""
        reason = f"{code} {_reply_text(reply)} (at {stage})"
        self.codes.append(code)
        # RFC 5321 section 4.2.1: 5yz is a permanent failure (do not repeat the same
        # transaction), 4yz a transient one (try again later). Section 4.5.3.1.10: a 552 to
        # RCPT means "too many recipients" and SHOULD be treated as temporary. A 530
        # ("authentication required", RFC 4954 section 6) is our relay settings, not this
        # message: it is retried, so mail waits until the deadline for the settings fix.
        permanent = 500 <= code < 600 and code != 530 and not (stage == "RCPT" and code == 552)
        if permanent:
            self.hard[recipient] = reason
        else:
            self.soft[recipient] = reason

    def transient(self, recipients: list[str], reason: str) -> None:
        for rcpt in recipients:
            if rcpt not in self.hard and rcpt not in self.delivered:
                self.soft.setdefault(rcpt, reason)


class _ConnectionClosing(Exception):
    """The relay answered 421: it is closing the channel (RFC 5321 section 3.8)."""


class _RelayDown(Exception):
    """No usable connection could be made to the relay (connect, TLS, EHLO or AUTH)."""


class _Relay:
    """One SMTP connection to the configured relay, reused for a batch of messages."""

    def __init__(
        self,
        settings: Settings,
        timeout: float,
        tls_context: ssl.SSLContext | None,
        environ: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.tls_context = tls_context
        self.environ = environ
        self.conn: smtplib.SMTP | None = None
        self.connections = 0  # opened so far (for tests and the benchmark)

    @property
    def where(self) -> str:
        return f"{self.settings.relay_host}:{self.settings.relay_port}"

    def _context(self) -> ssl.SSLContext:
        return self.tls_context or ssl.create_default_context()

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP
        try:
            if s.relay_security == "tls":
                conn = smtplib.SMTP_SSL(
                    s.relay_host,
                    s.relay_port,
                    local_hostname=s.hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = smtplib.SMTP(
                    s.relay_host, s.relay_port, local_hostname=s.hostname, timeout=self.timeout
                )
        except (OSError, smtplib.SMTPException) as exc:
            raise _RelayDown(f"relay {self.where}: {_describe(exc)}") from exc
        self.connections += 1
        try:
            conn.ehlo_or_helo_if_needed()
            if s.relay_security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.relay_username:
                password = self.environ.get(s.relay_password_env) if s.relay_password_env else ""
                if password is None:
                    raise _RelayDown(
                        f"relay {self.where}: ${s.relay_password_env} (relay_password_env) "
                        "is not set"
                    )
                conn.login(s.relay_username, password)
        except (OSError, smtplib.SMTPException) as exc:
            self._abort(conn)
            raise _RelayDown(f"relay {self.where}: {_describe(exc)}") from exc
        except _RelayDown:
            self._abort(conn)
            raise
        return conn

    @staticmethod
    def _abort(conn: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError):
            conn.close()

    def drop(self) -> None:
        """Forget the connection without a QUIT (it is broken or the relay is closing)."""
        if self.conn is not None:
            self._abort(self.conn)
            self.conn = None

    def close(self) -> None:
        """End the session politely (QUIT) at the end of a batch."""
        if self.conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.conn.quit()
            self.drop()

    def send(self, job: _Job) -> _Attempt:
        """One attempt for `job`; reconnects once if a reused connection turns out dead."""
        reused = self.conn is not None
        if self.conn is None:
            self.conn = self._open()  # _RelayDown propagates: the caller stops the batch
        result = self._transaction(self.conn, job)
        if result.stale and reused:
            # The relay had closed the idle connection before we spoke (its timeout, RFC
            # 5321 section 4.5.3.2.7): nothing of this message was sent, so try afresh.
            log.debug("outbox %d: reused connection was closed; reconnecting", job.id)
            self.conn = self._open()
            result = self._transaction(self.conn, job)
        return result

    def _reset(self, conn: smtplib.SMTP) -> None:
        # RFC 5321 section 4.1.1.5: RSET aborts the transaction so the next message starts
        # clean on the same connection; if even that fails, the connection is dropped.
        try:
            code, _ = conn.rset()
        except (OSError, smtplib.SMTPException):
            code = -1
        if code != 250:
            self.drop()

    def _transaction(self, conn: smtplib.SMTP, job: _Job) -> _Attempt:
        result = _Attempt()
        stage = "MAIL"
        replied = False
        code: int
        reply: bytes | str
        try:
            options: list[str] = []
            if not job.raw.isascii() and conn.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")  # RFC 6152
            addresses = [job.envelope_from, *job.recipients]
            conn.command_encoding = "ascii"
            if not all(a.isascii() for a in addresses):
                if not conn.has_extn("smtputf8"):
                    for rcpt in job.recipients:
                        result.hard[rcpt] = "the relay does not offer SMTPUTF8 (RFC 6531)"
                    return result
                options.append("SMTPUTF8")
            # RFC 5321 sections 4.5.5 and 3.6.3: "" is the null reverse-path, sent as
            # MAIL FROM:<> (smtplib quotes "" as <>), so that no bounce comes back to it.
            code, reply = conn.mail(job.envelope_from, options)
            replied = True
            if code != 250:
                for rcpt in job.recipients:
                    result.refuse(rcpt, code, reply, "MAIL")
                if code == 421:
                    raise _ConnectionClosing
                self._reset(conn)
                return result
            stage = "RCPT"
            accepted = []
            for rcpt in job.recipients:
                code, reply = conn.rcpt(rcpt)
                if code in (250, 251):
                    accepted.append(rcpt)
                else:
                    result.refuse(rcpt, code, reply, "RCPT")
                    if code == 421:
                        raise _ConnectionClosing
            if not accepted:
                self._reset(conn)
                return result
            stage = "DATA"
            try:
                code, reply = conn.data(job.raw)  # dot-stuffed by smtplib, bytes unchanged
            except smtplib.SMTPDataError as exc:  # DATA itself refused (not 354)
                code, reply = exc.smtp_code, exc.smtp_error
            if code == 250:
                result.delivered = accepted
                return result
            for rcpt in accepted:
                result.refuse(rcpt, code, reply, "DATA")
            if code == 421:
                raise _ConnectionClosing
            self._reset(conn)
            return result
        except _ConnectionClosing:
            self.drop()
            result.transient(job.recipients, f"421 the relay closed the connection ({stage})")
            return result
        except (OSError, smtplib.SMTPException) as exc:
            # A socket error, a timeout or a dropped connection: nothing accepted so far
            # counts (no 250 after DATA), so every open recipient is retried.
            self.drop()
            result.stale = not replied and isinstance(exc, smtplib.SMTPServerDisconnected)
            result.transient(job.recipients, f"{_describe(exc)} (at {stage})")
            return result


class OutboxRunner:
    """Claims due outbox messages, sends them, records each result.

    `clock` (default: the real UTC time) lets tests move time forward; `environ` is where
    the relay password is read from (default: os.environ); `tls_context` replaces the
    default certificate checks for relay_security tls/starttls (e.g. a private CA).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        batch: int = DEFAULT_BATCH,
        timeout: float = DEFAULT_TIMEOUT,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = utcnow,
        environ: Mapping[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.batch = batch
        self.lease = lease
        self.clock = clock
        self._relay = _Relay(
            settings, timeout, tls_context, os.environ if environ is None else environ
        )
        self._maildir: mailbox.Maildir | None = None

    @property
    def connections(self) -> int:
        """SMTP connections opened so far by this runner."""
        return self._relay.connections

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event, idle_seconds: float = 1.0) -> None:
        """Work until `stop` is set; a stop finishes the message in hand."""
        log.info(
            "outbox runner started; sending to %s",
            self._relay.where if self.settings.relay_host else self.settings.outgoing_maildir,
        )
        while not stop.is_set():
            try:
                handled = self.run_once(stop)
            except Exception:  # the database may be away for a while: keep trying
                log.exception("outbox runner: claiming or recording failed; retrying")
                handled = 0
                stop.wait(min(idle_seconds * 5, 10))
            if not handled:
                nap(stop, wake, idle_seconds)
                wake.clear()
        log.info("outbox runner stopped")

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim due messages, send them, record each result; returns how many were handled.

        Messages not started when `stop` is set (or when half the lease has gone by, so a
        slow relay never lets a lease run out under a send) are given back at once.
        """
        claimed_at = self.clock()
        jobs = self._claim(claimed_at)
        handled = 0
        down: str | None = None  # after a failed connect, the rest of the batch waits too
        try:
            for n, job in enumerate(jobs):
                if (stop is not None and stop.is_set()) or (
                    self.clock() - claimed_at > self.lease / 2
                ):
                    self._release(jobs[n:])
                    break
                if not self.settings.relay_host:
                    result = self._to_maildir(job)
                elif down is not None:
                    result = _Attempt()
                    result.transient(job.recipients, down)
                else:
                    try:
                        result = self._relay.send(job)
                    except _RelayDown as exc:
                        down = str(exc)
                        log.warning("outbox runner: %s; the batch waits for a retry", down)
                        result = _Attempt()
                        result.transient(job.recipients, down)
                self._record(job, result)
                handled += 1
        finally:
            self._relay.close()
        return handled

    # --- the database ---------------------------------------------------------------

    def _claim(self, now: datetime) -> list[_Job]:
        hours = timedelta(hours=self.settings.outbox_deadline_hours)
        with self.factory.begin() as session:
            ids = claim_outbox(session, limit=self.batch, lease=self.lease, now=now)
            # claim_outbox loaded and changed these rows: get() finds them without a query.
            rows = [session.get(OutboxMessage, i) for i in ids]
            return [
                _Job(
                    id=row.id,
                    attempts=row.attempts,
                    kind=row.kind,
                    envelope_from=row.envelope_from,
                    recipients=list(row.recipients),
                    raw=row.raw,
                    # queue_outgoing always sets a deadline; rows without one get the setting.
                    deadline=row.deadline or row.created_at + hours,
                )
                for row in rows
                if row is not None
            ]

    @staticmethod
    def _mine(job: _Job) -> Update:
        """An UPDATE of `job`'s row that matches only while our claim on it holds."""
        return update(OutboxMessage).where(
            OutboxMessage.id == job.id,
            OutboxMessage.state == OutboxState.SENDING,
            # claim_outbox counts an attempt with each claim: if another runner has claimed
            # the row since (our lease ran out), the count differs and its result counts.
            OutboxMessage.attempts == job.attempts,
        )

    def _release(self, jobs: list[_Job]) -> None:
        """Give back claimed messages that were not started (not counted as attempts)."""
        now = self.clock()
        with self.factory.begin() as session:
            for job in jobs:
                session.execute(
                    self._mine(job).values(
                        state=OutboxState.QUEUED,
                        attempts=max(0, job.attempts - 1),
                        next_attempt_at=now,
                    )
                )
        log.info("outbox runner: gave back %d claimed messages", len(jobs))

    def _record(self, job: _Job, result: _Attempt) -> None:
        now = self.clock()
        hard, soft = dict(result.hard), dict(result.soft)
        if soft and now >= job.deadline:
            stamp = job.deadline.strftime("%Y-%m-%d %H:%M UTC")
            for rcpt, why in soft.items():
                hard[rcpt] = f"{why}; gave up: the deadline {stamp} passed"
            soft = {}
        values: dict[str, Any] = {"last_error": self._summary(result.delivered, hard, soft)}
        if soft:
            # Only the recipients still open are retried; accepted ones are done.
            retry_at = min(now + retry_delay(job.attempts), job.deadline)
            values.update(
                state=OutboxState.QUEUED,
                recipients=[r for r in job.recipients if r in soft],
                next_attempt_at=retry_at,
            )
            outcome = "retry at " + retry_at.strftime("%H:%M:%S")
        elif result.delivered:
            values.update(state=OutboxState.SENT, sent_at=now)
            outcome = "sent" if not hard else "sent, some refused"
        else:
            values.update(state=OutboxState.FAILED)
            outcome = "failed"
        with self.factory.begin() as session:
            # One statement: the update, the ownership check and the ticket (as it is now).
            stmt = self._mine(job).values(**values).returning(OutboxMessage.ticket_id)
            found = session.execute(stmt, execution_options={"synchronize_session": False})
            row = found.first()
            if row is None:
                log.warning("outbox %d: lease lost before the result was recorded", job.id)
                return
            ticket_id: int | None = row[0]
            if hard and ticket_id is not None:
                detail = self._event_detail(job, result.delivered, hard, soft)
                session.add(
                    TicketEvent(ticket_id=ticket_id, at=now, kind=EVENT_KIND, detail=detail)
                )
        total = len(job.recipients)
        # One line per message: id, counts and reply codes; never addresses or content.
        level = logging.WARNING if hard else logging.INFO
        codes = f"; replies {','.join(map(str, result.codes))}" if result.codes else ""
        log.log(
            level,
            "outbox %d: %s (%d recipients: %d delivered, %d refused, %d to retry; attempt %d%s)",
            job.id,
            outcome,
            total,
            len(result.delivered),
            len(hard),
            len(soft),
            job.attempts,
            codes,
        )

    @staticmethod
    def _summary(delivered: list[str], hard: dict[str, str], soft: dict[str, str]) -> str | None:
        if not hard and not soft:
            return None if delivered else "no recipients"
        parts = [f"{rcpt}: {why}" for rcpt, why in {**hard, **soft}.items()]
        if delivered:
            parts.append(f"delivered to {len(delivered)} other recipient(s)")
        return "; ".join(parts)

    @staticmethod
    def _event_detail(
        job: _Job, delivered: list[str], hard: dict[str, str], soft: dict[str, str]
    ) -> str:
        lines = [f"The {job.kind} mail (outbox {job.id}) could not be delivered to:"]
        lines += [f"- {rcpt}: {why}" for rcpt, why in hard.items()]
        if delivered:
            lines.append(f"It was delivered to {', '.join(delivered)}.")
        if soft:
            lines.append(f"Still trying: {', '.join(soft)}.")
        return "\n".join(lines)

    # --- the embedded default: a Maildir ----------------------------------------------

    def _to_maildir(self, job: _Job) -> _Attempt:
        """Write the message to the outgoing Maildir, as a local delivery would."""
        result = _Attempt()
        try:
            if self._maildir is None:
                path = Path(self.settings.outgoing_maildir)
                path.parent.mkdir(parents=True, exist_ok=True)  # Maildir makes one level only
                self._maildir = mailbox.Maildir(path, create=True)
            # Like an MTA's final delivery: Return-Path from the envelope (RFC 5321 section
            # 4.4), the envelope recipients in a header of our own, local (LF) line ends.
            # The recipients header names Bcc recipients too: it shows, on this machine
            # only, where the mail would have gone.
            head = (
                f"Return-Path: <{job.envelope_from}>\n"
                f"X-Switchboard-Envelope-To: {', '.join(job.recipients)}\n"
            ).encode()
            self._maildir.add(head + job.raw.replace(b"\r\n", b"\n"))
        except OSError as exc:
            result.transient(job.recipients, f"maildir {self.settings.outgoing_maildir}: {exc}")
            return result
        result.delivered = list(job.recipients)
        return result
