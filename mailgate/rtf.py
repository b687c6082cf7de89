"""Read the RTF message bodies that Outlook puts inside TNEF: decompress, then extract text.

Decompression follows [MS-OXRTFCP] (LZFu: a 4 KB sliding dictionary primed with a fixed
RTF prologue). Text extraction is a small RTF tokenizer, not a renderer: groups that are
destinations (font and colour tables, pictures, "\\*" extensions) are skipped, "\\par"
becomes a line break, "\\'hh" bytes are decoded in the document's ANSI code page and
"\\uN" gives Unicode characters. RTF that Outlook generated from HTML ("\\fromhtml1",
[MS-OXRTFEX]) is turned back into that HTML instead, so the caller can render it like any
HTML body.
"""

from __future__ import annotations

import re
import struct

__all__ = ["decompress_rtf", "rtf_to_html_or_text"]

# [MS-OXRTFCP] section 3.1.3.1: the dictionary's initial content (207 bytes).
_PRIMER = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
    b"\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
    b"{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
_COMPRESSED = 0x75465A4C  # "LZFu"
_UNCOMPRESSED = 0x414C454D  # "MELA"
_MAX_OUTPUT = 2_000_000  # a message body; bounds the pure-Python decompression loop

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
    re.DOTALL,
)
_SKIPPED = frozenset(
    {
        b"fonttbl",
        b"colortbl",
        b"stylesheet",
        b"info",
        b"pict",
        b"object",
        b"header",
        b"footer",
        b"headerl",
        b"headerr",
        b"headerf",
        b"footerl",
        b"footerr",
        b"footerf",
        b"listtable",
        b"listoverridetable",
        b"revtbl",
        b"rsidtbl",
        b"filetbl",
        b"themedata",
        b"colorschememapping",
        b"datastore",
        b"latentstyles",
        b"xmlnstbl",
        b"generator",
        b"fldinst",
        b"bkmkstart",
        b"bkmkend",
    }
)
_SYMBOLS = {
    b"par": "\n",
    b"line": "\n",
    b"tab": "\t",
    b"emdash": "\u2014",
    b"endash": "\u2013",
    b"lquote": "\u2018",
    b"rquote": "\u2019",
    b"ldblquote": "\u201c",
    b"rdblquote": "\u201d",
    b"bullet": "\u2022",
    b"emspace": " ",
    b"enspace": " ",
    b"qmspace": " ",
}
_ESCAPES = {b"~": "\u00a0", b"_": "-", b"-": "", b"{": "{", b"}": "}", b"\\": "\\"}


def decompress_rtf(data: bytes) -> bytes | None:
    """The RTF text of a PR_RTF_COMPRESSED stream, or None if it is not one."""
    if len(data) < 16:
        return None
    _size, raw_size, kind, _crc = struct.unpack_from("<IIII", data)
    if kind == _UNCOMPRESSED:
        return data[16 : 16 + raw_size]
    if kind != _COMPRESSED:
        return None
    return _lzfu(data, 16, min(raw_size, _MAX_OUTPUT))


def _lzfu(data: bytes, pos: int, limit: int) -> bytes:
    window = bytearray(_PRIMER.ljust(4096, b" "))
    write = len(_PRIMER)
    out = bytearray()
    while pos < len(data) and len(out) < limit:
        control = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(data):
                break
            if not control & (1 << bit):
                window[write] = data[pos]
                out.append(data[pos])
                write = (write + 1) % 4096
                pos += 1
                continue
            if pos + 1 >= len(data):
                return bytes(out)
            reference = (data[pos] << 8) | data[pos + 1]
            pos += 2
            offset, length = reference >> 4, (reference & 0xF) + 2
            if offset == write:
                return bytes(out)  # the end marker
            for step in range(length):
                byte = window[(offset + step) % 4096]
                window[write] = byte
                out.append(byte)
                write = (write + 1) % 4096
    return bytes(out)


class _Reader:
    """Walks the RTF tokens; group state is (skipping, html-suppressed, unicode skip count)."""

    def __init__(self, html_mode: bool) -> None:
        self.html_mode = html_mode
        self.codepage = "cp1252"
        self.out: list[str] = []
        self.pending = bytearray()  # \'hh bytes waiting to be decoded together
        self.stack: list[tuple[bool, bool, int]] = []
        self.skip, self.suppress, self.uc = False, False, 1
        self.to_drop = 0  # characters to ignore after a \uN
        self.star = False

    def flush(self) -> None:
        if self.pending:
            self.out.append(bytes(self.pending).decode(self.codepage, errors="replace"))
            self.pending.clear()

    def emit(self, text: str) -> None:
        if self.skip or self.suppress or not text:
            return
        self.flush()
        self.out.append(text)

    def group(self, opening: bool) -> None:
        self.flush()
        if opening:
            self.stack.append((self.skip, self.suppress, self.uc))
        elif self.stack:
            self.skip, self.suppress, self.uc = self.stack.pop()
        self.star = False

    def control(self, word: bytes, arg: int | None) -> None:
        if word == b"ansicpg" and arg:
            self.codepage = f"cp{arg}" if _known(f"cp{arg}") else "cp1252"
        elif word == b"htmltag" and self.html_mode and self.star:
            self.skip = False  # the HTML itself: [MS-OXRTFEX] section 2.1.3.1
            self.suppress = False
        elif word in _SKIPPED or self.star:
            self.skip = True
        elif word == b"htmlrtf":
            self.suppress = self.html_mode and arg != 0
        elif word == b"uc" and arg is not None:
            self.uc = max(0, arg)
        elif word == b"u" and arg is not None:
            self.emit(chr(arg % 65536) if arg % 65536 < 0xD800 or arg % 65536 > 0xDFFF else "")
            self.to_drop = self.uc
        elif word in _SYMBOLS and not self.html_mode:
            self.emit(_SYMBOLS[word])
        elif word in (b"par", b"line") and self.html_mode:
            self.emit("\r\n")
        self.star = False

    def text(self, chunk: bytes) -> None:
        if self.to_drop:
            dropped = min(self.to_drop, len(chunk))
            self.to_drop -= dropped
            chunk = chunk[dropped:]
        if chunk and not (self.skip or self.suppress):
            self.flush()
            self.out.append(chunk.decode(self.codepage, errors="replace"))

    def byte(self, value: int) -> None:
        if self.to_drop:
            self.to_drop -= 1
        elif not (self.skip or self.suppress):
            self.pending.append(value)


def _known(codec: str) -> bool:
    try:
        b"".decode(codec)
    except LookupError:
        return False
    return True


def _feed(reader: _Reader, rtf: bytes) -> None:
    for match in _TOKEN.finditer(rtf):
        word, arg, hexbyte, symbol, brace, text = match.groups()
        if word is not None:
            reader.control(word, int(arg) if arg else None)
        elif hexbyte is not None:
            reader.byte(int(hexbyte, 16))
        elif symbol is not None:
            if symbol == b"*":
                reader.star = True
            elif symbol in _ESCAPES:
                reader.emit(_ESCAPES[symbol])
        elif brace is not None:
            reader.group(brace == b"{")
        elif text is not None:
            reader.text(text)
    reader.flush()


def rtf_to_html_or_text(rtf: bytes) -> tuple[str, bool]:
    """(content, is_html): the original HTML for HTML-derived RTF, else plain text."""
    html_mode = b"\\fromhtml" in rtf[:1024]
    reader = _Reader(html_mode)
    _feed(reader, rtf)
    content = "".join(reader.out)
    if not html_mode:
        content = re.sub(r"[ \t]+\n", "\n", content).strip()
    return content, html_mode
