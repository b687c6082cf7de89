"""Serialize a parsed (compat32) message tree back to bytes, as close to its source as possible.

Needed for message/rfc822 parts, which the parser has already split into a tree but which
are kept as ".eml" attachments. email.generator would re-fold long headers through
email.header.Header (slow on huge headers, and it rewrites them); this writes the stored
raw header values and payloads unchanged. Only the line ending around boundaries and
between header fields is chosen (RFC 2046 section 5.1.1 makes the CRLF before a boundary
part of the boundary). Iteration depth is bounded.
"""

from __future__ import annotations

from email.message import Message

from mailgate.headers import to_bytes

__all__ = ["flatten_message", "flatten_payload", "raw_payload"]

_MAX_DEPTH = 100


def raw_payload(part: Message) -> str | list[Message] | None:
    """The payload exactly as the parser stored it (Message.get_payload() would decode
    8-bit text with the declared charset, losing the original bytes)."""
    payload = part.__dict__.get("_payload")
    if isinstance(payload, str | list) or payload is None:
        return payload
    return None


def _write(part: Message, out: list[str], nl: str, depth: int) -> None:
    for name, value in part.raw_items():
        out.append(f"{name}: {value}{nl}")
    out.append(nl)
    payload = raw_payload(part)
    if isinstance(payload, str):
        out.append(payload)
        return
    if not payload or depth >= _MAX_DEPTH:
        return
    boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
    if boundary is None:
        for sub in payload:  # message/rfc822, or the field groups of message/delivery-status
            _write(sub, out, nl, depth + 1)
        return
    _write_multipart(part, payload, boundary, out, nl, depth)


def _write_multipart(
    part: Message, payload: list[Message], boundary: str, out: list[str], nl: str, depth: int
) -> None:
    if part.preamble is not None:
        out.append(part.preamble + nl)
    for index, sub in enumerate(payload):
        out.append(f"{nl if index else ''}--{boundary}{nl}")
        _write(sub, out, nl, depth + 1)
    out.append(f"{nl}--{boundary}--{nl}")
    if part.epilogue:
        out.append(part.epilogue)


def flatten_message(part: Message, linesep: str = "\r\n") -> bytes:
    """The bytes of `part` (a message or a body part) with its original 8-bit content."""
    out: list[str] = []
    _write(part, out, linesep, 0)
    return to_bytes("".join(out))


def flatten_payload(part: Message, linesep: str = "\r\n") -> bytes:
    """The bytes of the body of `part` only, without its own header fields."""
    payload = raw_payload(part)
    if isinstance(payload, str):
        return to_bytes(payload)
    out: list[str] = []
    for sub in payload or []:
        _write(sub, out, linesep, 1)
    return to_bytes("".join(out))
