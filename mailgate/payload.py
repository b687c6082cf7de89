"""Decode one MIME leaf part: its transfer encoding to bytes, and text parts to str.

Content-Transfer-Encoding per RFC 2045 section 6 (base64, quoted-printable, 7bit/8bit/
binary), plus the non-standard x-uuencode. Damaged base64 (bad padding, junk characters,
truncation) is repaired as far as possible and reported, never fatal. Text is decoded
with the declared charset and its fallbacks (mailgate.charsets), line endings become
"\\n", and NUL and other C0 control characters (except tab and form feed) are removed.
"""

from __future__ import annotations

import binascii
import re
from email.message import Message

from mailgate.charsets import decode_bytes
from mailgate.flatten import flatten_message, raw_payload
from mailgate.headers import to_bytes
from mailgate.uuencode import extract_uuencoded

__all__ = ["decode_part_bytes", "decode_text", "html_meta_charset", "transfer_encoding"]

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_B64_ALPHABET_JUNK = re.compile(rb"[^A-Za-z0-9+/]+")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([A-Za-z0-9_:.+-]{1,40})", re.I)


def transfer_encoding(part: Message) -> str:
    """The Content-Transfer-Encoding, normalized ("base-64" and "Base64;" are base64)."""
    value = ""
    for name, raw in part.raw_items():
        if name.lower() == "content-transfer-encoding":
            value = raw
            break
    name = _NOT_ALNUM.sub("", value.split(";", 1)[0].lower())
    if name.startswith("base64") or name in ("b64", "base64"):
        return "base64"
    if name.startswith("quotedprint") or name in ("qp", "quotedprintable"):
        return "quoted-printable"
    if name in ("xuuencode", "uuencode", "xuue", "uue"):
        return "x-uuencode"
    return "8bit"


def _decode_base64(data: bytes) -> tuple[bytes, str | None]:
    try:
        return binascii.a2b_base64(data), None
    except (binascii.Error, ValueError):
        pass
    clean = _B64_ALPHABET_JUNK.sub(b"", data.replace(b"=", b""))
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean), "base64 payload was damaged; decoded what was readable"
    except (binascii.Error, ValueError):
        return b"", "base64 payload could not be decoded"


def _decode_uu(data: bytes) -> tuple[bytes, str | None]:
    text = data.decode("latin-1").replace("\r\n", "\n")
    if not text.lstrip().startswith("begin"):
        text = "begin 644 x\n" + text.strip("\n") + "\nend\n"
    found = extract_uuencoded(text).files
    if not found:
        return data, "x-uuencode payload could not be decoded"
    return found[0].data, None


def decode_part_bytes(part: Message) -> tuple[bytes, str | None]:
    """The decoded content of a leaf part and a defect note (or None)."""
    payload = raw_payload(part)
    if isinstance(payload, list):
        return flatten_message(part), None
    data = to_bytes(payload or "")
    encoding = transfer_encoding(part)
    if encoding == "base64":
        return _decode_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data), None
    if encoding == "x-uuencode":
        return _decode_uu(data)
    return data, None


def html_meta_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag within its first 4 KB."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Text of a text/* part with "\\n" line ends; returns (text, defect note or None)."""
    text, note = decode_bytes(data, charset)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _TEXT_CONTROLS.sub("", text), note
