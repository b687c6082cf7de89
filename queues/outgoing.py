"""Build outgoing mail safely and put it in the outbox backlog.

Headers are built with `email.message.EmailMessage`; a CR, LF or NUL in any value that came
from a user is refused (header injection, DESIGN.md "Outgoing headers"). A message gets its
Message-ID here, once, and keeps it across every delivery retry.
"""

from __future__ import annotations

import email.charset
import email.policy
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr

from sqlalchemy import insert
from sqlalchemy.orm import Session

from queues.models import OutboxMessage, OutboxState, table_of, utcnow

# SMTP wants CRLF on the wire; a line length of 78 keeps old relays happy (RFC 5322 2.1.1).
WIRE_POLICY = email.policy.compat32.clone(linesep="\r\n", max_line_length=78)
UTF8_WIRE_POLICY = email.policy.SMTPUTF8.clone(max_line_length=78)
# UTF-8 bodies quoted-printable (readable in any client's source view).
_UTF8 = email.charset.Charset("utf-8")
_UTF8.body_encoding = email.charset.QP
_ASCII = email.charset.Charset("us-ascii")
DEFAULT_DEADLINE = timedelta(days=2)


class HeaderInjectionError(ValueError):
    """A header value carried CR, LF or NUL."""


def check_header_value(name: str, value: str) -> str:
    if any(ch in value for ch in ("\r", "\n", "\0")):
        raise HeaderInjectionError(f"refusing {name} header: it contains a line break or NUL")
    return value


def make_message_id(domain: str) -> str:
    """A fresh Message-ID (without brackets); random so it reveals nothing about the ticket."""
    return f"{secrets.token_hex(12)}@{domain or 'switchboard.invalid'}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


@dataclass
class OutgoingMail:
    """What we want to send; `build()` turns it into the bytes that go out."""

    from_email: str
    from_name: str
    to: Sequence[tuple[str, str]]  # (name, email)
    subject: str
    body_text: str
    message_id: str
    cc: Sequence[tuple[str, str]] = ()
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    extra_headers: dict[str, str] = field(default_factory=dict)
    date: datetime | None = None

    def build(self) -> bytes:
        """The message as it goes on the wire (CRLF, lines of at most 78 characters).

        Built with the compat32 API: for short generated mail it does the same job as
        `EmailMessage` with `policy.SMTP` in less than half the time, and every new ticket
        pays for one (the acknowledgement).
        """
        check_header_value("Subject", self.subject)
        people = [(self.from_name, self.from_email), *self.to, *self.cc]
        if not all(e.rpartition("@")[0].isascii() for _, e in people):
            return self._build_utf8()
        msg = Message(policy=WIRE_POLICY)
        msg["MIME-Version"] = "1.0"
        # Adds Content-Type (text/plain; charset) and Content-Transfer-Encoding, and encodes.
        msg.set_payload(self.body_text, _body_charset(self.body_text))
        msg["From"] = _format_address(self.from_name, self.from_email)
        msg["To"] = ", ".join(_format_address(n, e) for n, e in self.to)
        if self.cc:
            msg["Cc"] = ", ".join(_format_address(n, e) for n, e in self.cc)
        # compat32 folds each value on output and RFC 2047-encodes it when it is not ASCII.
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.date or utcnow())
        msg["Message-ID"] = f"<{check_header_value('Message-ID', self.message_id)}>"
        if self.in_reply_to:
            msg["In-Reply-To"] = f"<{check_header_value('In-Reply-To', self.in_reply_to)}>"
        refs = [check_header_value("References", r) for r in self.references]
        if refs:
            # RFC 5322 3.6.4: the parent's References followed by the parent's Message-ID.
            msg["References"] = " ".join(f"<{r}>" for r in refs)
        for name, value in self.extra_headers.items():
            msg[check_header_value("header name", name)] = check_header_value(name, value)
        return msg.as_bytes(policy=WIRE_POLICY)

    def _build_utf8(self) -> bytes:
        """For a non-ASCII local part (RFC 6532): UTF-8 headers, sent only with SMTPUTF8."""
        msg = EmailMessage(policy=UTF8_WIRE_POLICY)
        msg["From"] = _header_address(self.from_name, self.from_email)
        msg["To"] = [_header_address(n, e) for n, e in self.to]
        if self.cc:
            msg["Cc"] = [_header_address(n, e) for n, e in self.cc]
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.date or utcnow())
        msg["Message-ID"] = f"<{check_header_value('Message-ID', self.message_id)}>"
        if self.in_reply_to:
            msg["In-Reply-To"] = f"<{check_header_value('In-Reply-To', self.in_reply_to)}>"
        refs = [check_header_value("References", r) for r in self.references]
        if refs:
            msg["References"] = " ".join(f"<{r}>" for r in refs)
        for name, value in self.extra_headers.items():
            msg[check_header_value("header name", name)] = check_header_value(name, value)
        msg.set_content(self.body_text, charset="utf-8")
        return msg.as_bytes()


def _split_address(email_address: str) -> tuple[str, str]:
    """(local part, domain); a non-ASCII domain becomes its IDNA form (RFC 5890)."""
    check_header_value("address", email_address)
    local, _, domain = email_address.rpartition("@")
    if not local or not domain or any(c in email_address for c in ' <>(),;:"'):
        raise ValueError(f"not an email address: {email_address!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"not a valid domain: {domain!r}") from exc
    return local, domain


def _header_address(display: str, email_address: str) -> HeaderAddress:
    local, domain = _split_address(email_address)
    return HeaderAddress(
        display_name=check_header_value("address", display), username=local, domain=domain
    )


def _body_charset(body: str) -> email.charset.Charset:
    """7bit when it may be (ASCII, lines within RFC 5322's 998), else UTF-8 quoted-printable."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return _ASCII
    return _UTF8


def _format_address(display: str, email_address: str) -> str:
    """`"Name" <local@domain>`, the name RFC 2047-encoded when it is not ASCII."""
    check_header_value("address", display)
    local, domain = _split_address(email_address)
    return formataddr((display, f"{local}@{domain}"), charset=_UTF8)


@dataclass(frozen=True)
class QueuedMail:
    """What `queue_outgoing` stored."""

    id: int
    message_id: str
    raw: bytes


_INSERT_OUTBOX = insert(table_of(OutboxMessage)).returning(table_of(OutboxMessage).c.id)


def queue_outgoing(
    session: Session,
    mail: OutgoingMail,
    *,
    kind: str,
    envelope_from: str,
    ticket_id: int | None = None,
    article_id: int | None = None,
    bcc: Iterable[str] = (),
    deadline: timedelta = DEFAULT_DEADLINE,
) -> QueuedMail:
    """Put `mail` in the outbox inside the caller's transaction.

    Bcc recipients are envelope recipients only: they never appear in the headers.
    """
    raw = mail.build()
    recipients = [e for _, e in mail.to] + [e for _, e in mail.cc] + list(bcc)
    now = utcnow()
    values = {
        "ticket_id": ticket_id,
        "article_id": article_id,
        "kind": kind,
        "message_id": mail.message_id,
        "envelope_from": envelope_from,
        "recipients": list(dict.fromkeys(recipients)),
        "raw": raw,
        "state": OutboxState.QUEUED,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "deadline": now + deadline,
    }
    outbox_id: int = session.connection().execute(_INSERT_OUTBOX, values).scalar_one()
    return QueuedMail(id=outbox_id, message_id=mail.message_id, raw=raw)
