"""Decode header field values robustly: unfolding, RFC 2047 encoded words, raw 8-bit text.

The values arrive as the `email` package's compat32 parser stores them: the raw source
text, folded, with any 8-bit byte smuggled in as a surrogate escape. Everything here is
linear in the input (a 210 KB folded Subject exists in the wild) and never raises.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email.utils import parsedate_tz

from mailgate.charsets import decode_bytes, decode_header_bytes

__all__ = [
    "clean_text",
    "decode_header",
    "decode_words",
    "parse_date",
    "parse_msgids",
    "to_bytes",
    "unfold_text",
]

# RFC 2047 section 2: =?charset?encoding?encoded-text?=. The encoded text may not contain
# "?" (so the match cannot run away), but broken mailers put spaces in it: allowed here.
# The charset may be empty or carry an RFC 2231 language suffix (utf-8*en).
_ENCODED_WORD = re.compile(rb"=\?([^?\s]{0,64})\?([bBqQ])\?([^?]*)\?=")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]+")
_SPACES = re.compile(rb"[ \t\r\n]+")
# C0 and C1 control characters except the whitespace ones handled by _WHITESPACE.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
# Whitespace that _CONTROLS keeps and a one-line display text shows as a space.
_SPACE_CONTROLS = str.maketrans(dict.fromkeys("\t\x85\u2028\u2029", " "))
_BRACKETED_ID = re.compile(r"<([^<>]*)>")
_ID_TOKEN = re.compile(r"[^\s,<>()\"']+@[^\s,<>()\"']+")
_MAX_IDS = 500


def to_bytes(value: str) -> bytes:
    """The original bytes of a header value stored by the compat32 parser."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # A str with real non-ASCII characters (not from a bytes parse): keep it as UTF-8.
        return value.encode("utf-8", "surrogatepass")


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates, collapse all whitespace to one space."""
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    text = _CONTROLS.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


def _decode_b(text: bytes) -> bytes:
    """Base64 of an encoded word, tolerant of junk characters and wrong padding."""
    clean = _B64_JUNK.sub(b"", text)
    if len(clean) % 4 == 1:
        clean = clean[:-1]  # a dangling sextet carries no whole byte
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def _decode_q(text: bytes) -> bytes:
    """Q encoding (RFC 2047 section 4.2): "_" is a space, =XX a byte."""
    return binascii.a2b_qp(text, header=True)


def _decode_run(charset: bytes, kind: bytes, texts: list[bytes]) -> str:
    """Decode consecutive encoded words sharing a charset and encoding as one unit.

    Joining their bytes first repairs multi-byte characters that a mailer split across
    words; base64 split mid-quantum (no padding per word) is joined before decoding.
    """
    if kind in (b"b", b"B"):
        texts = [_SPACES.sub(b"", t) for t in texts]
        if all(len(t) % 4 == 0 for t in texts[:-1]):
            data = b"".join(_decode_b(t) for t in texts)
        else:
            data = _decode_b(b"".join(t.replace(b"=", b"") for t in texts))
    else:
        data = b"".join(_decode_q(t) for t in texts)
    label = charset.decode("ascii", "replace")
    return decode_bytes(data, label)[0]


def decode_words(data: bytes, fallback: str | None) -> str:
    """Decode RFC 2047 encoded words in `data`; other bytes are text in `fallback` charset.

    Whitespace between two encoded words is dropped (RFC 2047 section 6.2); adjacent words
    without whitespace, as sent by broken mailers, are decoded too.
    """
    if b"=?" not in data:
        return decode_header_bytes(data, fallback)
    out: list[str] = []
    run: list[bytes] = []
    run_key = (b"", b"")
    pos = 0
    for match in _ENCODED_WORD.finditer(data):
        between = data[pos : match.start()]
        key = (match.group(1).lower(), match.group(2).lower())
        if run and not between.strip():
            if key != run_key:  # whitespace between encoded words is dropped either way
                out.append(_decode_run(*run_key, run))
                run = []
        else:
            if run:
                out.append(_decode_run(*run_key, run))
                run = []
            out.append(decode_header_bytes(between, fallback))
        run_key = key
        run.append(match.group(3))
        pos = match.end()
    if run:
        out.append(_decode_run(*run_key, run))
    out.append(decode_header_bytes(data[pos:], fallback))
    return "".join(out)


def _unfold(value: str) -> str:
    """Join folded lines with one space. The whitespace around a line break is the folding
    mailer's, not the field's: some fold "a b" as "a\\r\\n b", others as "a \\r\\n\\tb",
    and an obsolete whitespace-only line is to be read as if it were not there (RFC 7103
    section 7.3). Whitespace inside a line is left alone."""
    if "\n" not in value:
        return value
    stripped = (line.strip(" \t") for line in value.replace("\r", "").split("\n"))
    return " ".join(line for line in stripped if line)


def unfold_text(text: str) -> str:
    """One-line display text that keeps a field's own spacing: folds joined (`_unfold`),
    other whitespace controls shown as one space each, runs of spaces kept, ends stripped,
    control characters dropped and lone surrogates replaced."""
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    text = _CONTROLS.sub("", _unfold(text).replace("\r", ""))
    return text.translate(_SPACE_CONTROLS).strip()


def decode_header(value: str | None, fallback: str | None = None) -> str:
    """A compat32 header value as display text: unfolded, decoded, one line.

    Whitespace between adjacent encoded words is dropped (RFC 2047 section 6.2); all other
    whitespace is the field's own and kept as it is, runs of spaces included (only a fold
    counts as one space)."""
    if not value:
        return ""
    return unfold_text(decode_words(to_bytes(_unfold(value)), fallback))


def parse_msgids(value: str | None, lenient: bool = False) -> list[str]:
    """Message-IDs (RFC 5322 section 3.6.4) without angle brackets, tolerant of junk.

    Normally only id-left@id-right values count: "In-Reply-To: <yes>" (a known
    git-send-email slip) must not thread unrelated mail together. `lenient` (for the
    Message-ID field itself) also keeps ids without "@" and a lone bare token, because a
    malformed id still identifies its own message for deduplication."""
    if not value:
        return []
    text = clean_text(decode_header_bytes(to_bytes(value), None))
    ids = [_WHITESPACE.sub("", m) for m in _BRACKETED_ID.findall(text)]
    ids = [i for i in ids if i and (lenient or "@" in i)]
    if not ids:
        ids = _ID_TOKEN.findall(text)  # no brackets: tokens that look like left@right
    if not ids and lenient and text and " " not in text:
        ids = [text.strip("<>\"'")]
    unique = list(dict.fromkeys(i for i in ids if i))
    return unique[:_MAX_IDS]


def parse_date(value: str | None) -> datetime | None:
    """The Date header as a UTC-aware datetime, or None when it cannot be understood."""
    if not value:
        return None
    text = clean_text(decode_header_bytes(to_bytes(value), None))
    try:
        parsed = parsedate_tz(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        return _parse_iso_date(text)
    try:
        naive = datetime(*parsed[:6])
        offset = parsed[9] or 0  # RFC 5322 section 3.3: no zone means UTC is as good as any
        stamp = naive.replace(tzinfo=UTC).timestamp() - offset
        return datetime.fromtimestamp(stamp, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _parse_iso_date(text: str) -> datetime | None:
    """Some generators write ISO 8601 dates; accept them as a last resort."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
