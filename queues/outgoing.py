"""Build outgoing mail safely and put it in the outbox backlog.

Headers are built with `email.message.EmailMessage`; a CR, LF or NUL in any value that came
from a user is refused (header injection, DESIGN.md "Outgoing headers"). A message gets its
Message-ID here, once, and keeps it across every delivery retry.

Addresses are checked against RFC 5321 before they reach a header or the envelope
(`split_mailbox`): a dot-atom or quoted-string local part of at most 64 octets, a domain
(IDNA-encoded when it is not ASCII) of at most 255, at most 254 in all (4.5.3.1). A quoted
local part that needs no quotes is written without them (4.1.2), one that needs them keeps
them (`"#FAX# 49000783135"@otrs.fax`). Anything else is `AddressError`: callers that
answer mail automatically check `usable_address` first and say why they did not answer.
"""

from __future__ import annotations

import email.charset
import email.policy
import re
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


class AddressError(ValueError):
    """Not an address mail can be sent to (RFC 5321 4.1.2, 4.5.3.1)."""


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
    reply_to: str | None = None  # e.g. a ticket's reply address (queues.trust.replytokens)

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
        if self.reply_to:
            msg["Reply-To"] = _format_address("", self.reply_to)
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
        if self.reply_to:
            msg["Reply-To"] = _header_address("", self.reply_to)
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


# RFC 5322 3.2.3 atext, plus any non-ASCII character (RFC 6532 3.2, sent with SMTPUTF8).
_DOT_ATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\U0010ffff]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\x80-\U0010ffff]+)*"
)
# The content of a quoted-string local part: printable characters, or quoted pairs.
_QUOTED = re.compile(r'(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*')
_QUOTED_PAIR = re.compile(r"\\(.)")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)
_MAX_LOCAL = 64
_MAX_DOMAIN = 255
_MAX_PATH = 254  # RFC 5321 4.5.3.1.3: 256 octets of path, angle brackets included


def split_mailbox(email_address: str) -> tuple[str, str]:
    """(local part, domain) of a mailbox mail can be sent to; AddressError if it is not one.

    The local part is returned unquoted (its content); the domain lower-cased and, when it
    is not ASCII, in its IDNA form (RFC 5890).
    """
    try:
        check_header_value("address", email_address)
    except HeaderInjectionError as exc:
        raise AddressError(str(exc)) from None
    local, at, domain = email_address.strip().rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"not an email address: {email_address[:100]!r}")
    if len(local) >= 2 and local[0] == local[-1] == '"':
        if not _QUOTED.fullmatch(local[1:-1]):
            raise AddressError(f"not a valid quoted local part: {local[:100]!r}")
        content = _QUOTED_PAIR.sub(r"\1", local[1:-1])
    elif _DOT_ATOM.fullmatch(local):
        content = local
    else:
        raise AddressError(f"not an email address: {email_address[:100]!r}")
    domain = domain.lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise AddressError(f"not a valid domain: {domain[:100]!r}") from exc
    if len(domain) > _MAX_DOMAIN or not all(_LABEL.fullmatch(p) for p in domain.split(".")):
        raise AddressError(f"not a valid domain: {domain[:100]!r}")
    if len(content.encode("utf-8", "replace")) > _MAX_LOCAL:
        raise AddressError(f"local part longer than {_MAX_LOCAL} octets")
    if len(addr_spec(content, domain).encode("utf-8", "replace")) > _MAX_PATH:
        raise AddressError(f"address longer than {_MAX_PATH} octets")
    return content, domain


def addr_spec(local: str, domain: str) -> str:
    """`local@domain`, the local part quoted only when it must be (RFC 5321 4.1.2)."""
    if _DOT_ATOM.fullmatch(local):
        return f"{local}@{domain}"
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"@{domain}'


def mailbox(email_address: str) -> str:
    """The address as it goes into a header or the envelope; AddressError if unusable."""
    return addr_spec(*split_mailbox(email_address))


def usable_address(email_address: str) -> bool:
    """Can mail be sent to this address at all?"""
    try:
        split_mailbox(email_address)
    except AddressError:
        return False
    return True


def _header_address(display: str, email_address: str) -> HeaderAddress:
    local, domain = split_mailbox(email_address)
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
    return formataddr((display, mailbox(email_address)), charset=_UTF8)


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
    raw: bytes | None = None,
) -> QueuedMail:
    """Put `mail` in the outbox inside the caller's transaction.

    Bcc recipients are envelope recipients only: they never appear in the headers. `raw`:
    `mail.build()` when the caller already built it (to fail before writing anything).
    """
    raw = mail.build() if raw is None else raw
    recipients = [mailbox(e) for e in [*(e for _, e in mail.to), *(e for _, e in mail.cc), *bcc]]
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
