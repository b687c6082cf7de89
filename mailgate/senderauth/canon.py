"""dkimpy's message splitting and relaxed canonicalisation, done with bytes methods.

Most of a DKIM check of a long message was spent on its body in two places of dkimpy:
`rfc822_parse` splits the whole message into lines with a regular expression and joins the
body again, and the relaxed body canonicalisation (RFC 6376 3.4.4) replaces every run of
spaces and tabs, each single space of an ordinary text included, through `re.sub`. On a
67 KB text message DKIM took 3.6 ms of a 4.2 ms check; with these, 0.5 of 0.7 ms
(bench/sendercheck.py; bench/README.md, "The sender checks' cost to ingest throughput").

Both of dkimpy's functions are also quadratic on input a stranger chooses, and the gateway
runs them before it answers: a run of spaces that does not end a line (dkimpy's
`[\t ]+\r\n` tries every start in it: 0.5 s for 20,000 spaces, so about 20 minutes for the
1 MB a message may hold) and the folded lines of one header field (appended one by one to a
bytes object: 2 s for a 1 MB field). These take a few milliseconds for the same input.

The relaxed header canonicalisation is done the same way: dkimpy runs two `re.sub` per
field it hashes, about 40 a message.

`install()` puts these where dkimpy looks them up (`dkim.rfc822_parse`, and the relaxed
algorithm's `canonicalize_body` and `canonicalize_headers`), for verifying and signing
alike. Their results are dkimpy's own, byte for byte, errors included;
tests/unit/mailgate/test_senderauth_canon.py compares them with dkimpy's functions on
generated input (hypothesis). The simple algorithm is still dkimpy's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import dkim
import dkim.canonicalization as canonicalization

# dkimpy's own, which install() replaces; the tests compare against it.
_dkimpy_rfc822_parse = dkim.rfc822_parse

# The first empty line, as dkimpy's `re.split(b"\r?\n", message)` sees lines: the message
# starts with a line end, two line ends follow each other, or it ends with one.
_FIRST_EMPTY_LINE = re.compile(rb"\A\r?\n|\n\r?\n|\n\Z")
_LINE_END = re.compile(rb"\r?\n")
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")
_TAB_TO_SPACE = bytes.maketrans(b"\t", b" ")

Headers = list[list[bytes]]


def rfc822_parse(message: bytes) -> tuple[Headers, bytes]:
    """dkimpy's `rfc822_parse`: the header fields as [name, value] pairs (the value with its
    folded lines, each line ending in CR LF), and the body with every line end (CR LF or a
    bare LF) made CR LF. Raises what dkimpy raises for a header block it cannot read."""
    empty = _FIRST_EMPTY_LINE.search(message)
    if empty is None:  # no empty line: all of it is header lines, and there is no body
        return header_fields(message), b""
    return header_fields(message[: empty.end()]), crlf_lines(message[empty.end() :])


def header_fields(head: bytes) -> Headers:
    """dkimpy's loop over the header lines, up to the first empty one. dkimpy appends each
    folded line to its field's bytes, which is quadratic in the lines of one field (2 s for
    a 1 MB field); here they are joined once."""
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in _LINE_END.split(head):
        if not line:
            break
        if line[0] in (0x09, 0x20):
            fields[-1][1].append(line)  # before any field: IndexError, as dkimpy's
            continue
        name = _FIELD_NAME.match(line)
        if name is not None:
            fields.append((name.group(1), [line[name.end() :]]))
        elif not line.startswith(b"From "):  # an mbox From_ line is skipped
            raise dkim.MessageFormatError(f"Unexpected characters in RFC822 header: {line!r}")
    return [[name, b"\r\n".join(lines) + b"\r\n"] for name, lines in fields]


def crlf_lines(text: bytes) -> bytes:
    """`b"\\r\\n".join(re.split(b"\\r?\\n", text))`: CR LF and bare LF both become CR LF; a
    bare CR stays what it is. Mail taken by SMTP has CR LF throughout (RFC 5321 2.3.8):
    then the text is returned as it is, after two counts instead of two copies."""
    if text.count(b"\n") == text.count(b"\r\n"):
        return text
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def compress_spaces(text: bytes) -> bytes:
    """dkimpy's `compress_whitespace`: every run of spaces and tabs one space."""
    if b"\t" in text:
        text = text.translate(_TAB_TO_SPACE)
    # Each pass halves every run of spaces, so a run of n takes log2(n) passes.
    while b"  " in text:
        text = text.replace(b"  ", b" ")
    return text


def relaxed_body(body: bytes) -> bytes:
    """The relaxed body canonicalisation of dkimpy (RFC 6376 3.4.4), for a body whose line
    ends are CR LF: spaces and tabs at the end of a line removed, every other run of them
    one space, empty lines at the end removed, and an empty body left empty."""
    body = compress_spaces(body)
    # A run is one space now, so one pass removes every space before a line end.
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    stripped: bytes = canonicalization.strip_trailing_lines(body)
    return b"" if stripped == b"\r\n" else stripped  # dkimpy's correct_empty_body


def relaxed_headers(headers: Sequence[Sequence[bytes]]) -> list[tuple[bytes, bytes]]:
    """dkimpy's relaxed header canonicalisation (RFC 6376 3.4.2): the name in lower case,
    the value unfolded (every line end removed, CR LF or a bare LF), its runs of spaces
    and tabs one space, stripped, and ended by CR LF."""
    return [
        (field[0].lower().rstrip(), compress_spaces(_unfold(field[1])).strip() + b"\r\n")
        for field in headers
    ]


def _unfold(value: bytes) -> bytes:
    """dkimpy's `re.sub(b"\r?\n", b"", value)`."""
    if b"\n" not in value:
        return value
    return value.replace(b"\r\n", b"").replace(b"\n", b"")


def install() -> None:
    """dkimpy uses these from now on, in this process."""
    dkim.rfc822_parse = rfc822_parse
    canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)
    canonicalization.Relaxed.canonicalize_headers = staticmethod(relaxed_headers)
