"""Build outgoing mail safely and put it in the outbox backlog.

Headers are built with `email.message.EmailMessage`; a CR, LF or NUL in any value that came
from a user is refused (header injection, DESIGN.md "Outgoing headers"). A message gets its
Message-ID here, once, and keeps it across every delivery retry.
"""

from __future__ import annotations

import email.policy
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy.orm import Session

from queues.models import OutboxMessage, utcnow

# SMTP wants CRLF on the wire; a line length of 78 keeps old relays happy (RFC 5322 2.1.1).
SMTP_POLICY = email.policy.SMTP.clone(max_line_length=78)
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


def _addr(display: str, email_address: str) -> HeaderAddress:
    check_header_value("address", display)
    check_header_value("address", email_address)
    local, _, domain = email_address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an email address: {email_address!r}")
    return HeaderAddress(display_name=display, username=local, domain=domain)


@dataclass
class OutgoingMail:
    """What we want to send; `build()` turns it into an EmailMessage."""

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

    def build(self) -> EmailMessage:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = _addr(self.from_name, self.from_email)
        msg["To"] = [_addr(n, e) for n, e in self.to]
        if self.cc:
            msg["Cc"] = [_addr(n, e) for n, e in self.cc]
        msg["Subject"] = check_header_value("Subject", self.subject)
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
        msg.set_content(self.body_text, charset="utf-8")
        return msg


def queue_outgoing(
    session: Session,
    mail: OutgoingMail,
    *,
    kind: str,
    envelope_from: str,
    ticket_id: int | None,
    article_id: int | None,
    bcc: Iterable[str] = (),
    deadline: timedelta = DEFAULT_DEADLINE,
) -> OutboxMessage:
    """Put `mail` in the outbox inside the caller's transaction.

    Bcc recipients are envelope recipients only: they never appear in the headers.
    """
    msg = mail.build()
    recipients = [e for _, e in mail.to] + [e for _, e in mail.cc] + list(bcc)
    now = utcnow()
    row = OutboxMessage(
        ticket_id=ticket_id,
        article_id=article_id,
        kind=kind,
        message_id=mail.message_id,
        envelope_from=envelope_from,
        recipients=list(dict.fromkeys(recipients)),
        raw=msg.as_bytes(),
        created_at=now,
        next_attempt_at=now,
        deadline=now + deadline,
    )
    session.add(row)
    return row
