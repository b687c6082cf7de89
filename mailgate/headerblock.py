"""Recover a header block that a broken fold or a stray leading line cut short.

The compat32 parser, like every strict RFC 5322 reader, ends the header block at the first
line that is neither `Name: value` nor a continuation (section 2.2). One bad line then turns
everything after it, From and Subject included, into body text: a continuation line that
lost its leading whitespace (a broken fold), a line of garbage, `Name  : value` with the
obsolete space before the colon (section 4.5), or a stray line *before* the first header
(a blank line, a quoted `>From ` mbox separator, a line of junk).

RFC 7103 (advice for handling malformed messages, section 7) asks for tolerance here, and
established readers go on to the empty line that really ends the header block: Thunderbird's
libmime keeps reading header lines up to the blank line, and MailScanner overrides Perl's
Mail::Header for the same reason. Going on blindly would swallow real bodies that follow
the header without a blank line, though, so this module only reads on where the lines
after the break are headers beyond doubt:

- a non-header line inside the block is a broken fold, joined to the field before it, only
  when a field with a *known* name (mailgate/header_names.txt) follows before the empty
  line, within `MAX_BROKEN` lines; otherwise the body starts there, as the parser said;
- up to `MAX_STRAY` stray lines before the first header are skipped only when a field with
  a known name comes right after them;
- `Name  : value` becomes `Name: value` wherever the block is read;
- a UTF-8 byte order mark before the first header (files saved by Windows editors) is
  removed, and CR CR LF line ends (a CR doubled by a text-mode transfer, which the parser
  reads as an empty line after every header line) become CR LF.

`repair_header_block` returns new bytes to parse (the raw message is kept unchanged as
evidence) and a defect note for each repair, or None when there is nothing to repair.
"""

from __future__ import annotations

import re
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from enum import Enum
from functools import cache
from pathlib import Path

__all__ = ["MAX_BROKEN", "MAX_STRAY", "known_name", "needs_repair", "repair_header_block"]

MAX_STRAY = 5  # stray lines before the first header
MAX_BROKEN = 10  # consecutive lines of a broken fold (a long To: list without indentation)
_MAX_SCAN = 1_048_576  # bytes of header block read; the 210 KB folded Subject fits
_MAX_NOTES = 10
_LOOKAHEAD = 20  # lines read past unknown fields after stray lines, looking for a known one
_NAMES_FILE = Path(__file__).with_name("header_names.txt")

# field-name = 1*ftext (printable US-ASCII except ":"), RFC 5322 section 3.6.8; the obsolete
# syntax allows whitespace before the colon (section 4.5).
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
_OBSOLETE_FROM = re.compile(r"From[ \t]*:")
_BOM = b"\xef\xbb\xbf"


class _Kind(Enum):
    END = "end"  # the empty line that ends the block
    CONTINUATION = "continuation"
    KNOWN = "known"  # a field with a known name
    FIELD = "field"  # a syntactically valid field with a name not on the list
    MBOX = "mbox"  # "From " or ">From " envelope separator
    OTHER = "other"


@cache
def _names() -> tuple[frozenset[str], tuple[str, ...]]:
    exact: set[str] = set()
    prefixes: list[str] = []
    for line in _NAMES_FILE.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name.endswith("*"):
            prefixes.append(name[:-1])
        else:
            exact.add(name)
    return frozenset(exact), tuple(prefixes)


def known_name(name: str) -> bool:
    """Whether `name` is a header field name on the list (case-insensitive)."""
    exact, prefixes = _names()
    lowered = name.lower()
    return lowered in exact or lowered.startswith(prefixes)


def _strip_eol(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def _classify(line: bytes) -> tuple[_Kind, re.Match[bytes] | None]:
    text = _strip_eol(line)
    if not text:
        return _Kind.END, None
    if text[0] in b" \t":
        return _Kind.CONTINUATION, None
    match = _FIELD.match(text)
    if match is not None:
        name = match.group(1).decode("ascii")
        return (_Kind.KNOWN if known_name(name) else _Kind.FIELD), match
    if text.startswith((b"From ", b">From ")):
        return _Kind.MBOX, None
    return _Kind.OTHER, None


def needs_repair(message: Message, raw: bytes) -> bool:
    """Whether the compat32 parse of `raw` shows a header block cut short: a non-header line
    ended it early, "From  :" was taken for an mbox separator, no header was found at all,
    or the first line ends in CR CR LF."""
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        return True
    unixfrom = message.get_unixfrom()
    if unixfrom and _OBSOLETE_FROM.match(unixfrom):
        return True
    return len(message) == 0 or _doubled_cr(raw)


def _doubled_cr(raw: bytes) -> bool:
    end = raw.find(b"\n", 0, _MAX_SCAN)
    return end >= 2 and raw[end - 2 : end] == b"\r\r"


def _prepare(raw: bytes) -> tuple[bytes, list[str]]:
    """`raw` without a byte order mark and with CR CR LF as CR LF, and notes on what changed."""
    notes: list[str] = []
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
        notes.append("header block: removed a byte order mark before the header")
    if _doubled_cr(raw):
        raw = raw.replace(b"\r\r\n", b"\r\n")
        notes.append("header block: line ends were CR CR LF")
    return raw, notes


def _lines(raw: bytes) -> list[bytes]:
    """The lines of the first `_MAX_SCAN` bytes, each with its own line end."""
    lines: list[bytes] = []
    pos = 0
    limit = min(len(raw), _MAX_SCAN)
    while pos < limit:
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end + 1
        lines.append(raw[pos:end])
        pos = end
    return lines


def _first_header(lines: list[bytes]) -> int | None:
    """Index of the first header line, after up to MAX_STRAY stray lines; None if no known
    field follows them (directly, or after other fields such as a misspelled "Recieved:")."""
    for index, line in enumerate(lines[: MAX_STRAY + 1]):
        kind, _ = _classify(line)
        if kind is _Kind.KNOWN:
            return index
        if kind is _Kind.FIELD:
            return index if index == 0 or _known_field_follows(lines, index) else None
    return None


def _known_field_follows(lines: list[bytes], start: int) -> bool:
    """Whether a known field comes after line `start` with only fields between."""
    for line in lines[start + 1 : start + 1 + _LOOKAHEAD]:
        kind, _ = _classify(line)
        if kind is _Kind.KNOWN:
            return True
        if kind not in (_Kind.FIELD, _Kind.CONTINUATION):
            return False
    return False


class _Repair:
    """The header lines read so far, the lines held back after a break, and the notes."""

    def __init__(self, lines: list[bytes], first: int, notes: list[str]) -> None:
        self.lines = lines
        self.header: list[bytes] = []
        self.held: list[int] = []  # indices after a break, not yet known to be header
        self.notes = notes
        if first:
            self.notes.append(f"header block: skipped {first} stray line(s) before the header")

    def accept(self, index: int, match: re.Match[bytes] | None) -> None:
        """Line `index` is a header line: so are the held lines before it."""
        for held in self.held:
            self._take_held(held)
        self.held = []
        self.header.append(self._field(index, match))

    def _take_held(self, index: int) -> None:
        line = self.lines[index]
        kind, match = _classify(line)
        if kind is _Kind.MBOX:
            self._note(f"header block: dropped an mbox separator at line {index + 1}")
        elif kind is _Kind.OTHER:
            self._note(f"header block: line {index + 1} had lost its fold; joined to its field")
            self.header.append(b" " + line)
        else:
            self.header.append(self._field(index, match))

    def _field(self, index: int, match: re.Match[bytes] | None) -> bytes:
        line = self.lines[index]
        if match is None or not match.group(2):
            return line
        name = match.group(1)
        self._note(f"header block: space before the colon of {name.decode('ascii')!r}")
        return name + b":" + line[match.end() :]

    def _note(self, note: str) -> None:
        if len(self.notes) < _MAX_NOTES:
            self.notes.append(note)


def repair_header_block(raw: bytes) -> tuple[bytes, list[str]] | None:
    """`raw` with its header block recovered, and what was repaired; None if nothing was."""
    raw, notes = _prepare(raw)
    lines = _lines(raw)
    first = _first_header(lines)
    if first is None:
        return (raw, notes) if notes else None
    repair = _Repair(lines, first, list(notes))
    body_start: int | None = None
    broken = 0  # held lines that are no header line at all
    for index in range(first, len(lines)):
        kind, match = _classify(lines[index])
        if kind is _Kind.END:
            body_start = index
            break
        if kind is _Kind.KNOWN:
            repair.accept(index, match)
            broken = 0
        elif repair.held or kind in (_Kind.OTHER, _Kind.MBOX):
            repair.held.append(index)
            broken += kind is _Kind.OTHER
            if broken > MAX_BROKEN:
                break
        else:
            repair.accept(index, match)
    if repair.held:
        body_start = repair.held[0]  # the body began there after all, as the parser said
    elif body_start is None and len(raw) <= _MAX_SCAN:
        body_start = len(lines)  # a message of header lines only
    if body_start is None or repair.notes == notes:
        # nothing repaired in the block, or no end of it within the bytes read
        return (raw, notes) if notes else None
    return _assemble(raw, lines, repair.header, body_start), repair.notes


def _assemble(raw: bytes, lines: list[bytes], header: list[bytes], body_start: int) -> bytes:
    """The repaired header lines, the empty line, and the body from line `body_start` on."""
    linesep = b"\r\n" if header and header[-1].endswith(b"\r\n") else b"\n"
    if header and not header[-1].endswith(b"\n"):
        header[-1] += linesep
    offset = sum(len(line) for line in lines[:body_start])
    rest = raw[offset:]
    if body_start < len(lines) and _classify(lines[body_start])[0] is _Kind.END:
        return b"".join(header) + rest
    return b"".join(header) + linesep + rest
