"""Find uuencoded files inside plain-text bodies, decode them and cut them out of the text.

Old mailers (and some scanners and forwarders) still embed files as
"begin 644 name" ... "end" blocks instead of MIME parts. Each line is decoded on its own
with binascii.a2b_uu, repairing lines whose padding was stripped in transit, so one broken
line costs only its own bytes. The `uu` module is gone from the standard library
(PEP 594), hence this small decoder. "begin-base64" blocks (uuencode -m) are handled too.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

__all__ = ["UuFile", "extract_uuencoded"]

_BEGIN = re.compile(r"^begin(-base64)?[ \t]+[0-7]{3,4}[ \t]+([^\n]*?)[ \t]*$", re.MULTILINE)
_END = re.compile(r"^end[ \t\r]*$", re.MULTILINE)
_END_B64 = re.compile(r"^====[ \t\r]*$", re.MULTILINE)
_MAX_FILES = 100


@dataclass(slots=True)
class UuFile:
    """One decoded file; `damaged` counts lines that could not be decoded."""

    name: str
    data: bytes
    damaged: int = 0


@dataclass(slots=True)
class UuResult:
    text: str
    files: list[UuFile] = field(default_factory=list)


def _decode_uu_line(line: str) -> bytes | None:
    """One uuencoded line; None when it cannot be repaired."""
    if not line:
        return b""
    try:
        return binascii.a2b_uu(line)
    except (binascii.Error, ValueError):
        pass
    # The first character gives the byte count; trailing spaces are often lost in transit.
    count = (ord(line[0]) - 32) & 63
    needed = (count * 4 + 2) // 3 + 1
    fixed = line[:needed].ljust(needed, " ")
    try:
        return binascii.a2b_uu(fixed)
    except (binascii.Error, ValueError):
        return None


def _decode_block(lines: list[str], base64: bool) -> tuple[bytes, int]:
    if base64:
        joined = "".join(line.strip() for line in lines if line.strip() != "====")
        try:
            return binascii.a2b_base64(joined.encode("ascii", "ignore")), 0
        except (binascii.Error, ValueError):
            return b"", len(lines)
    out = bytearray()
    damaged = 0
    for line in lines:
        decoded = _decode_uu_line(line.rstrip("\r"))
        if decoded is None:
            damaged += 1
        else:
            out += decoded
    return bytes(out), damaged


def _block_end(text: str, start: int, base64: bool) -> tuple[int, int] | None:
    """(end of the data lines, end of the block) for data starting at `start`, or None
    when the block is never terminated (then it was prose that merely began with "begin")."""
    found = (_END_B64 if base64 else _END).search(text, start)
    if found is None:
        return None
    data_end = max(start, found.start() - 1)
    return data_end, min(len(text), found.end() + 1)


def extract_uuencoded(text: str) -> UuResult:
    """Decode every uuencoded block in `text` (lines separated by "\\n")."""
    if "begin" not in text:
        return UuResult(text)
    pieces: list[str] = []
    files: list[UuFile] = []
    pos = 0
    unterminated: set[bool] = set()  # block kinds with no terminator left in the text
    for match in _BEGIN.finditer(text):
        base64 = match.group(1) is not None
        if match.start() < pos or len(files) >= _MAX_FILES or base64 in unterminated:
            continue
        data_start = match.end() + 1
        bounds = _block_end(text, data_start, base64)
        if bounds is None:
            unterminated.add(base64)  # no later block of this kind can end either
            continue
        data_end, block_end = bounds
        lines = text[data_start:data_end].split("\n") if data_end > data_start else []
        data, damaged = _decode_block(lines, base64)
        files.append(UuFile(match.group(2).strip(), data, damaged))
        pieces.append(text[pos : match.start()])
        pos = block_end
    pieces.append(text[pos:])
    return UuResult("".join(pieces), files)
