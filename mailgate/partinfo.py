"""What a MIME part says about itself: raw header lookup, Content-ID, and its file name
when no filename parameter gives one.

Small pure helpers for mailgate.mimewalk; they read the compat32 parser's stored header
values and never raise.
"""

from __future__ import annotations

import re
from email.message import Message

from mailgate.flatten import flatten_payload
from mailgate.headers import decode_header

__all__ = ["as_leaf", "content_id", "fallback_name", "header"]

_FILE_LIKE = re.compile(r"^[^/\\]{1,200}\.[A-Za-z][A-Za-z0-9]{1,4}$")

# Names for well-known unnamed parts (what mail clients show for them).
_DEFAULT_NAMES = {
    "application/pgp-signature": "signature.asc",
    "application/pkcs7-signature": "smime.p7s",
    "application/x-pkcs7-signature": "smime.p7s",
    "application/pkcs7-mime": "smime.p7m",
    "application/x-pkcs7-mime": "smime.p7m",
    "application/ms-tnef": "winmail.dat",
    "application/vnd.ms-tnef": "winmail.dat",
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/feedback-report": "feedback-report.txt",
    "text/rfc822-headers": "message-headers.txt",
    "message/rfc822-headers": "message-headers.txt",
}


def header(part: Message, name: str) -> str | None:
    """The first raw (compat32) value of header field `name` (lower-case), or None."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return value
    return None


def content_id(part: Message) -> str | None:
    """Content-ID (RFC 2045 section 7) without angle brackets or whitespace, or None."""
    raw = header(part, "content-id")
    if raw is None:
        return None
    value = "".join(decode_header(raw).split()).strip("<>")
    return value or None


def _location_name(part: Message) -> str | None:
    """The last path segment of Content-Location (RFC 2557), which some mailers use
    instead of a file name."""
    location = decode_header(header(part, "content-location"))
    path = location.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1] or None


def _content_id_name(cid: str | None) -> str | None:
    """Outlook's Content-IDs look like "image001.png@01D9..."; that left part is a name."""
    if not cid:
        return None
    local = cid.split("@", 1)[0]
    return local if _FILE_LIKE.match(local) else None


def fallback_name(part: Message, cid: str | None, content_type: str) -> str | None:
    """A name for a part without filename/name parameters, or None (then one is generated)."""
    return _location_name(part) or _content_id_name(cid) or _DEFAULT_NAMES.get(content_type)


def as_leaf(part: Message, linesep: str) -> Message:
    """A copy of a message/* part whose parsed payload is put back as its raw text."""
    leaf = Message()
    for name, value in part.raw_items():
        leaf[name] = value
    leaf.set_payload(flatten_payload(part, linesep).decode("ascii", "surrogateescape"))
    return leaf
