"""Turn the raw bytes of a received message into an `IncomingMail` (DESIGN.md step 2).

`parse_message` is a pure function that never raises: structure comes from the standard
library's compat32 parser (fast, and tolerant of broken MIME; a header block that a broken
fold or a stray line cut short is recovered first, mailgate.headerblock), every header is
decoded by mailgate.headers/addresses/params rather than by the slow and stricter modern
email policy, each part's payload is decoded once (mailgate.payload), the MIME tree is
sorted into body, attachments and forwarded messages by mailgate.mimewalk, the requester
is found by mailgate.requester, and problems are written to `defects`. If anything
unexpected still goes wrong, the result carries the raw text as its body and the error as
a defect, so the message is never lost.
"""

from __future__ import annotations

import email
import hashlib
import html
import logging
import re
from email.message import Message
from email.policy import compat32

from mailgate.addresses import parse_address_list, parse_mailbox
from mailgate.charsetguess import SAMPLE_BYTES, guess_charset
from mailgate.classify import is_auto_submitted, is_bounce, is_list_or_bulk
from mailgate.flatten import raw_payload
from mailgate.headerblock import needs_repair, repair_header_block
from mailgate.headers import decode_header, parse_date, parse_msgids, to_bytes
from mailgate.htmlsafe import sanitize_html
from mailgate.htmltext import html_to_text
from mailgate.mimewalk import Budget, NestedParser, Segment, Walker
from mailgate.params import parse_params
from mailgate.payload import decode_text
from mailgate.requester import find_requester
from queues.mail import IncomingMail

__all__ = ["parse_message"]

_LOG = logging.getLogger(__name__)
_DELIVERED_TO = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
_FALLBACK_BODY_LIMIT = 2_000_000
_HEADER_CHARSET_SCAN = 30
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t\xa0]*\n)+")


def parse_message(raw: bytes) -> IncomingMail:
    """Parse one RFC 5322 message. Never raises; problems are listed in `defects`."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        repairs: list[str] = []
        if needs_repair(message, raw):
            repaired = repair_header_block(raw)
            if repaired is not None:
                message = email.message_from_bytes(repaired[0], policy=compat32)
                repairs = repaired[1]
        mail = _build(message, digest, len(raw), _linesep(raw), Budget(), 0)
        mail.defects[:0] = repairs
        return mail
    except Exception as exc:  # the promise is "never raises": degrade, record, keep the text
        _LOG.warning("parser failure on message %s", digest, exc_info=True)
        return _fallback(raw, digest, exc)


def _linesep(raw: bytes) -> str:
    return "\r\n" if b"\r\n" in raw[:4096] else "\n"


def _build(
    message: Message, digest: str, size: int, linesep: str, budget: Budget, depth: int
) -> IncomingMail:
    """An IncomingMail for a parsed message (the received one or a forwarded one)."""
    charset = _header_charset(message)
    raws, headers = _header_maps(message, charset)
    walker = Walker(budget, depth, linesep, charset, _nested_parser(linesep, budget))
    walker.walk(message)
    mail = IncomingMail(
        raw_sha256=digest,
        size=size,
        message_id=None,
        subject=decode_header(_first(raws, "subject"), charset),
        from_=None,
        headers=headers,
    )
    _fill_addresses(mail, raws, charset)
    _fill_ids_and_date(mail, raws)
    _fill_body(mail, walker)
    mail.attachments = walker.attachments
    mail.forwarded = walker.forwarded
    mail.defects.extend(walker.defects)
    _classify(mail, walker.report_type, walker.has_dsn_part)
    mail.requester, mail.requester_source = find_requester(mail, raws, charset)
    return mail


def _nested_parser(linesep: str, budget: Budget) -> NestedParser:
    """How the walker parses a forwarded message: same budget, one level deeper."""

    def parse_nested(inner: Message, data: bytes, depth: int) -> IncomingMail:
        digest = hashlib.sha256(data).hexdigest()
        return _build(inner, digest, len(data), linesep, budget, depth)

    return parse_nested


# -- header fields --------------------------------------------------------------------------
def _header_charset(message: Message) -> str | None:
    """The charset to try for raw 8-bit header bytes: the message's own, else the first
    declared by one of its text parts (mail clients write headers in the body charset)."""
    stack = [message]
    seen = 0
    while stack and seen < _HEADER_CHARSET_SCAN:
        part = stack.pop(0)
        seen += 1
        for name, value in part.raw_items():
            if name.lower() == "content-type":
                charset = parse_params(value).get("charset")
                if charset and charset.lower() not in ("us-ascii", "ascii", "utf-8"):
                    return charset
                break
        payload = raw_payload(part)
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    return _guessed_header_charset(message)


def _guessed_header_charset(message: Message) -> str | None:
    """Nothing declared a charset: when header fields carry 8-bit bytes that are not UTF-8,
    the charset detected from all of them together (one longer sample guesses better than
    each short field alone). Costs nothing for mail with ASCII or UTF-8 headers."""
    pieces: list[bytes] = []
    size = 0
    for _name, value in message.raw_items():
        if isinstance(value, str) and not value.isascii():
            data = to_bytes(value)
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pieces.append(data)
                size += len(data) + 1
                if size >= SAMPLE_BYTES:
                    break
    if not pieces:
        return None
    return guess_charset(b"\n".join(pieces), None, "cp1252")


def _header_maps(
    message: Message, charset: str | None
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The raw values of each field, and all decoded values joined with "\\n"."""
    raws: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        raws.setdefault(name.strip().lower(), []).append(str(value))
    decoded = {
        key: "\n".join(decode_header(value, charset) for value in values)
        for key, values in raws.items()
    }
    return raws, decoded


def _first(raws: dict[str, list[str]], name: str) -> str | None:
    values = raws.get(name)
    return values[0] if values else None


def _fill_addresses(mail: IncomingMail, raws: dict[str, list[str]], charset: str | None) -> None:
    raw_from = _first(raws, "from")
    mail.from_ = parse_mailbox(raw_from, charset)
    if raw_from is None:
        mail.defects.append("missing From header")
    elif mail.from_ is None:
        mail.defects.append(f"From header has no usable address: {mail.header('from')[:200]!r}")
    mail.sender = parse_mailbox(_first(raws, "sender"), charset)
    mail.reply_to = parse_address_list(_first(raws, "reply-to"), charset)
    # Repeated To/Cc fields are invalid (RFC 5322 section 3.6) but their addresses count.
    mail.to = parse_address_list(", ".join(raws.get("to", [])), charset)
    mail.cc = parse_address_list(", ".join(raws.get("cc", [])), charset)
    delivered: list[str] = []
    for name in _DELIVERED_TO:
        for address in parse_address_list(", ".join(raws.get(name, [])), charset):
            if address.email.lower() not in delivered:
                delivered.append(address.email.lower())
    mail.delivered_to = delivered


def _fill_ids_and_date(mail: IncomingMail, raws: dict[str, list[str]]) -> None:
    ids = parse_msgids(_first(raws, "message-id"), lenient=True)
    mail.message_id = ids[0] if ids else None
    if mail.message_id is None:
        mail.defects.append("missing or unusable Message-ID")
    mail.in_reply_to = parse_msgids(_first(raws, "in-reply-to"))
    mail.references = parse_msgids(_first(raws, "references"))
    raw_date = _first(raws, "date")
    mail.date = parse_date(raw_date)
    if mail.date is None:
        what = "unparsable Date header" if raw_date else "missing Date header"
        mail.defects.append(what + (f": {mail.header('date')[:100]!r}" if raw_date else ""))


# -- body -------------------------------------------------------------------------------------
def _segment_text(segment: Segment) -> tuple[str, bool]:
    """Readable text of one body segment and whether it came from HTML."""
    if segment.text is not None and segment.text.strip():
        return segment.text, False
    if segment.html:
        return html_to_text(segment.html), True
    return "", False


def _fill_body(mail: IncomingMail, walker: Walker) -> None:
    """body_text from the segments in order (HTML converted where there is no plain text),
    content_type from the first segment that has text, body_html from the HTML segments;
    a TNEF body stands in when the MIME body is empty."""
    texts: list[str] = []
    content_type: str | None = None
    for segment in walker.segments:
        text, from_html = _segment_text(segment)
        if text.strip():
            texts.append(_LEADING_BLANK_LINES.sub("", text).rstrip())
        if text.strip() or (segment.html or "").strip():
            # An HTML body that shows only images still was sent as text/html.
            content_type = content_type or ("text/html" if from_html else "text/plain")
    html_pieces = _html_pieces(walker.segments)
    if not texts:
        tnef = Segment(text=walker.tnef_text or None, html=walker.tnef_html or None)
        text, from_html = _segment_text(tnef)
        if text.strip():
            texts.append(text.strip())
            content_type = "text/html" if from_html else "text/plain"
            html_pieces.extend([tnef.html] if tnef.html else [])
    mail.body_text = "\n".join(texts)
    mail.content_type = content_type or "text/plain"
    mail.body_html = sanitize_html("\n".join(html_pieces)) if html_pieces else None


def _html_pieces(segments: list[Segment]) -> list[str]:
    """The HTML body: HTML segments, with plain-only segments (footers) as <pre> blocks."""
    if not any(s.html for s in segments):
        return []
    pieces: list[str] = []
    for segment in segments:
        if segment.html:
            pieces.append(segment.html)
        elif segment.text and segment.text.strip():
            pieces.append(f"<pre>{html.escape(segment.text)}</pre>")
    return pieces


# -- last resort ------------------------------------------------------------------------------
def _fallback(raw: bytes, digest: str, exc: Exception) -> IncomingMail:
    """What is left when parsing failed: the headers if they can be read, the text as body."""
    mail = IncomingMail(
        raw_sha256=digest,
        size=len(raw),
        message_id=None,
        subject="",
        from_=None,
        defects=[f"parser error: {exc!r}"],
    )
    separator = b"\r\n\r\n" if b"\r\n\r\n" in raw[:65536] else b"\n\n"
    head, found, body = raw.partition(separator)
    try:
        headers_only = email.message_from_bytes(head + separator, policy=compat32)
        charset = _header_charset(headers_only)
        raws, mail.headers = _header_maps(headers_only, charset)
        mail.subject = decode_header(_first(raws, "subject"), charset)
        _fill_addresses(mail, raws, charset)
        _fill_ids_and_date(mail, raws)
        _classify(mail, "", False)
        mail.requester, mail.requester_source = find_requester(mail, raws, charset)
    except Exception as inner:  # even the headers are unreadable: keep only the text
        mail.defects.append(f"header fallback failed: {inner!r}")
        found = b""
    mail.body_text = decode_text((body if found else raw)[:_FALLBACK_BODY_LIMIT], None)[0]
    return mail


def _classify(mail: IncomingMail, report_type: str, has_dsn_part: bool) -> None:
    mail.is_bounce = is_bounce(mail.headers, mail.from_, report_type, has_dsn_part)
    mail.is_auto_submitted = is_auto_submitted(mail.headers, report_type)
    mail.is_list_or_bulk = is_list_or_bulk(mail.headers)
