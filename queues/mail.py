"""The value types that cross from the mail edge into the core.

`mailgate.parser.parse_message` turns raw bytes into an `IncomingMail`; the core
(`queues.ingest`) decides what to do with it. They live here, in the core, so that every
import arrow points inward (DESIGN.md, "Packages and who may import whom").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: a lower-cased-domain address and a decoded display name ("" if none)."""

    email: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class IncomingAttachment:
    """A file carried by a message, decoded once.

    `filename` is already safe: no directory parts, no control characters, bounded length.
    `inline` marks parts referenced from the HTML body (multipart/related, Content-ID).
    """

    filename: str
    content_type: str
    data: bytes
    sha256: str
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @classmethod
    def from_bytes(
        cls,
        filename: str,
        content_type: str,
        data: bytes,
        content_id: str | None = None,
        inline: bool = False,
    ) -> IncomingAttachment:
        return cls(
            filename=filename,
            content_type=content_type,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            content_id=content_id,
            inline=inline,
        )


@dataclass(slots=True)
class IncomingMail:
    """Everything the core needs to know about one received message.

    Produced by a pure function of the raw bytes; it never raises. Problems with the input
    are listed in `defects` (human-readable strings), never hidden.
    """

    raw_sha256: str
    size: int
    message_id: str | None  # without angle brackets; None when absent or unusable
    subject: str
    from_: Address | None  # None when From is missing or has no usable address
    # Who wrote it, for answering: From first, else the first parseable From, Reply-To,
    # Sender or the envelope sender (mailgate.requester: Return-Path; `with_envelope`: the
    # envelope it arrived with); `requester_source` names which ("from", "from:N" for the
    # N-th From field, "reply-to", "sender", "envelope", or "" when none was found).
    requester: Address | None = None
    requester_source: str = ""
    sender: Address | None = None  # the Sender header, if any
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    # Envelope-ish headers that tell which of our addresses the message was for.
    delivered_to: list[str] = field(default_factory=list)
    date: datetime | None = None  # UTC-aware
    in_reply_to: list[str] = field(default_factory=list)  # Message-IDs without brackets
    references: list[str] = field(default_factory=list)
    content_type: str = "text/plain"  # main body as sent: text/plain or text/html
    body_text: str = ""  # always readable text (HTML-only mail is converted)
    body_html: str | None = None  # sanitized with nh3, or None
    attachments: list[IncomingAttachment] = field(default_factory=list)
    # Decoded header values the routing rules and loop guards look at, lower-cased names.
    # Multi-valued headers are joined with "\n".
    headers: dict[str, str] = field(default_factory=dict)
    is_bounce: bool = False  # a delivery status notification (RFC 3464) or similar
    is_auto_submitted: bool = False  # Auto-Submitted other than "no", or an auto-reply
    is_list_or_bulk: bool = False  # List-* headers or Precedence: bulk/junk/list
    forwarded: list[IncomingMail] = field(default_factory=list)  # message/rfc822 parts
    defects: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        """The decoded value of header `name` (case-insensitive), or ""."""
        return self.headers.get(name.lower(), "")

    @property
    def reply_address(self) -> Address | None:
        """Where a human reply goes: the first Reply-To, else From."""
        return self.reply_to[0] if self.reply_to else self.from_


def with_envelope(mail: IncomingMail, envelope_from: str | None) -> IncomingMail:
    """`mail` with the SMTP envelope sender it arrived with taken into account (in place).

    The parser sees only the message: a requester it found in a Return-Path field
    ("envelope") was written by whoever handed the bytes over. When the message came to our
    own gateway, the envelope it really arrived with replaces that; it also stands in when
    no header held a usable address. None means unknown (IMAP, files): nothing changes.
    "" is the null reverse-path of a bounce (RFC 5321 section 4.5.5): no requester from it,
    and a bounce never gets one from the envelope (mailgate.requester)."""
    if envelope_from is None:
        return mail
    if mail.requester_source == "envelope":
        mail.requester, mail.requester_source = None, ""
    address = _envelope_address(envelope_from)
    # A value built without the parser may leave `requester` unset while From is usable.
    if mail.requester is None and mail.from_ is None and address is not None and not mail.is_bounce:
        mail.requester, mail.requester_source = Address(address), "envelope"
    return mail


def _envelope_address(value: str) -> str | None:
    """An SMTP reverse-path as `local@domain` (domain lower-cased), or None if unusable."""
    address = value.strip().removeprefix("<").removesuffix(">").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>" for c in address):
        return None
    return f"{local}@{domain.lower()}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
