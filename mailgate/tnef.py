"""Unpack Microsoft TNEF (application/ms-tnef, "winmail.dat") with tnefparse.

Outlook wraps attachments (and sometimes the whole body, as RTF or HTML) in TNEF when it
believes the recipient uses Exchange. A help desk must show what is inside: the files, and
the text when the MIME body is empty. tnefparse is not typed and raises assorted errors on
damaged input, so everything here is defensive; the caller keeps winmail.dat itself when
`ok` is False. Compressed RTF bodies are read by mailgate.rtf (tnefparse would need the
compressed_rtf package for that).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from tnefparse.tnef import TNEF

from mailgate.charsets import decode_bytes
from mailgate.rtf import decompress_rtf, rtf_to_html_or_text

__all__ = ["TnefFile", "TnefResult", "unpack_tnef"]

_SIGNATURE = 0x223E9F78
_MAX_OBJECTS = 20_000  # tnefparse copies the remaining buffer per object: bound the work
_MAX_FILES = 500
_LOG = logging.getLogger(__name__)


@dataclass(slots=True)
class TnefFile:
    name: str
    data: bytes


@dataclass(slots=True)
class TnefResult:
    """What a TNEF blob held; `ok` False means it could not be read at all."""

    ok: bool
    files: list[TnefFile] = field(default_factory=list)
    body_text: str = ""
    body_html: str = ""
    defects: list[str] = field(default_factory=list)


def _object_count(data: bytes) -> int:
    """How many TNEF objects the blob claims (stops counting past the limit)."""
    offset, count = 6, 0
    while offset + 12 < len(data) and count <= _MAX_OBJECTS:
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += min(len(data) - offset, length + 11)
        count += 1
    return count


def _as_text(value: Any, codepage: str | None) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes | bytearray):
        return decode_bytes(bytes(value).rstrip(b"\x00"), codepage)[0].replace("\x00", "")
    return ""


def _file_name(attachment: Any, codepage: str | None) -> str:
    # `_name` holds the raw bytes when tnefparse's own (UTF-8 only) decoding fails.
    for getter in ("long_filename", "name", "_name"):
        try:
            value = getattr(attachment, getter)
            name = _as_text(value() if callable(value) else value, codepage)
        except Exception:  # tnefparse decodes names with a bare .decode(): any error
            name = ""
        if name.strip():
            return name.strip()
    return ""


def _collect(parsed: Any, result: TnefResult) -> None:
    codepage = getattr(parsed, "codepage", None)
    for attachment in list(getattr(parsed, "attachments", []))[:_MAX_FILES]:
        data = getattr(attachment, "data", b"")
        name = _file_name(attachment, codepage)
        if isinstance(data, bytes | bytearray) and (data or name):
            result.files.append(TnefFile(name, bytes(data)))
    result.body_text = _as_text(getattr(parsed, "body", None), codepage).strip("\r\n")
    result.body_html = _as_text(getattr(parsed, "htmlbody", None), codepage)
    rtf = getattr(parsed, "_rtfbody", None)
    if isinstance(rtf, bytes) and rtf and not (result.body_text.strip() or result.body_html):
        _use_rtf(rtf, result)


def _use_rtf(compressed: bytes, result: TnefResult) -> None:
    """Outlook's RTF body (PR_RTF_COMPRESSED): as HTML when it was made from HTML."""
    rtf = decompress_rtf(compressed)
    if rtf is None:
        result.defects.append("TNEF RTF body could not be decompressed")
        return
    content, is_html = rtf_to_html_or_text(rtf)
    content = content.replace("\x00", "")
    if is_html:
        result.body_html = content
    else:
        result.body_text = content.strip()


def unpack_tnef(data: bytes) -> TnefResult:
    """Parse a TNEF blob. Never raises."""
    if len(data) < 12 or struct.unpack_from("<I", data)[0] != _SIGNATURE:
        return TnefResult(ok=False, defects=["TNEF attachment has no TNEF signature"])
    if _object_count(data) > _MAX_OBJECTS:
        return TnefResult(ok=False, defects=["TNEF attachment has too many objects"])
    try:
        parsed = TNEF(data, do_checksum=False)
        result = TnefResult(ok=True)
        _collect(parsed, result)
    except Exception as exc:  # tnefparse raises assorted errors on damaged input
        _LOG.debug("TNEF parse failed", exc_info=True)
        return TnefResult(ok=False, defects=[f"TNEF attachment could not be read: {exc!r}"])
    if not (result.files or result.body_text or result.body_html):
        result.ok = False
        result.defects.append("TNEF attachment held no files and no body")
    return result
