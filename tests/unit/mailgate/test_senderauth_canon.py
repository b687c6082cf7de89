"""dkimpy's splitting and relaxed body canonicalisation by bytes methods
(mailgate.senderauth.canon): byte for byte dkimpy's own results on generated messages and
bodies, the same errors for header blocks dkimpy refuses; and the checks use them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import dkim.canonicalization as canonicalization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailgate.senderauth.check  # noqa: F401  (importing the checks installs them)
from mailgate.senderauth import canon
from tests.dnsstub import new_dkim_key

PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that make canonicalisation interesting: runs of spaces and tabs, every kind of
# line end and bare CR, empty lines at the end, bytes that are not text.
BODY_PIECES = [b" ", b"  ", b"\t", b" \t ", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"a", b"b c"]
BODY_PIECES += [b"\x00", b"\xff", b"\x0b", b"\x0c", b"\xa0"]
bodies = st.one_of(
    st.lists(st.sampled_from(BODY_PIECES), max_size=80).map(b"".join),
    st.binary(max_size=400),
)
# Header lines, good and bad: fields, folded lines, an mbox From_ line, lines dkimpy refuses.
HEADER_LINES = [b"From: a@example.net", b"X-A:b", b"Subject: x  y\t", b" folded", b"\tfolded"]
HEADER_LINES += [b"From sender Mon Jan  1", b"no colon", b":", b"Bad Name: v", b"", b"\r"]
LINE_ENDS = [b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r"]
messages = st.builds(
    lambda lines, body: b"".join(line + end for line, end in lines) + body,
    st.lists(st.tuples(st.sampled_from(HEADER_LINES), st.sampled_from(LINE_ENDS)), max_size=12),
    bodies,
)


def dkimpy_relaxed_body(body: bytes) -> bytes:
    """dkimpy's Relaxed.canonicalize_body, from its own parts (the method is ours now)."""
    return canonicalization.correct_empty_body(
        canonicalization.strip_trailing_lines(
            canonicalization.compress_whitespace(canonicalization.strip_trailing_whitespace(body))
        )
    )


def dkimpy_relaxed_headers(headers: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
    """dkimpy's Relaxed.canonicalize_headers, from its own parts."""
    return [
        (
            name.lower().rstrip(),
            canonicalization.compress_whitespace(
                canonicalization.unfold_header_value(value)
            ).strip()
            + b"\r\n",
        )
        for name, value in headers
    ]


def outcome(function: Callable[[bytes], Any], data: bytes) -> Any:
    """The result, or the error's type and text: dkimpy refuses some header blocks."""
    try:
        return function(data)
    except Exception as exc:
        return type(exc), str(exc)


def test_the_checks_install_them_in_dkimpy() -> None:
    assert dkim.rfc822_parse is canon.rfc822_parse
    assert canonicalization.Relaxed.canonicalize_body is canon.relaxed_body
    assert canonicalization.Relaxed.canonicalize_headers is canon.relaxed_headers
    policy = canonicalization.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    assert policy.canonicalize_body(b"a  b \t\r\n\r\n") == b"a b\r\n"


@PROPERTY
@given(body=bodies)
def test_relaxed_body_is_dkimpys(body: bytes) -> None:
    assert canon.relaxed_body(body) == dkimpy_relaxed_body(body)


@PROPERTY
@given(body=bodies)
def test_relaxed_body_of_a_body_as_dkimpy_hands_it_over(body: bytes) -> None:
    # dkimpy canonicalises the body rfc822_parse made: CR LF line ends only.
    crlf = canon.crlf_lines(body)
    assert canon.relaxed_body(crlf) == dkimpy_relaxed_body(crlf)


@PROPERTY
@given(
    headers=st.lists(
        st.lists(
            st.one_of(bodies, st.sampled_from([b"From ", b"X-A\t ", b"SUBJECT"])),
            min_size=2,
            max_size=2,
        ),
        max_size=6,
    )
)
def test_relaxed_headers_are_dkimpys(headers: list[list[bytes]]) -> None:
    assert canon.relaxed_headers(headers) == dkimpy_relaxed_headers(headers)


@PROPERTY
@given(text=bodies)
def test_compress_spaces_is_dkimpys(text: bytes) -> None:
    assert canon.compress_spaces(text) == canonicalization.compress_whitespace(text)


@PROPERTY
@given(text=bodies)
def test_crlf_lines_is_dkimpys_split_and_join(text: bytes) -> None:
    assert canon.crlf_lines(text) == b"\r\n".join(re.split(b"\r?\n", text))


@PROPERTY
@given(message=messages)
def test_rfc822_parse_is_dkimpys(message: bytes) -> None:
    assert outcome(canon.rfc822_parse, message) == outcome(canon._dkimpy_rfc822_parse, message)


def test_rfc822_parse_at_the_edges() -> None:
    cases = [
        b"",
        b"\n",
        b"\r\n",
        b"\r\n\r\n",
        b"From: a\r\n",
        b"From: a",
        b"From: a\r",
        b"From: a\n\nbody",
        b"From: a\n\r\nbody\n",
        b"From: a\r\n\nbody \r\n\r\n",
        b"From: a\r\n folded\r\n\r\nbody\rwith a bare CR\n",
        b" starts folded\r\n\r\nbody",  # dkimpy raises IndexError: the same here
        b"not a header\r\n\r\nbody",
    ]
    for message in cases:
        assert outcome(canon.rfc822_parse, message) == outcome(
            canon._dkimpy_rfc822_parse, message
        ), message


def test_a_long_run_of_spaces_is_one_space() -> None:
    body = b"a" + b" \t" * 100_000 + b"b\r\n" + b" " * 99_999 + b"\r\n"
    assert canon.relaxed_body(body) == b"a b\r\n"
    short = b"a" + b" \t" * 1_000 + b"b\r\n" + b" " * 999 + b"\r\n\r\n"
    assert canon.relaxed_body(short) == dkimpy_relaxed_body(short)


def test_a_field_folded_many_times_is_one_value() -> None:
    head = b"X-Padding: start\r\n" + b" folded\r\n" * 100_000 + b"From: a@example.net\r\n\r\n"
    headers, body = canon.rfc822_parse(head + b"body")
    assert headers == [
        [b"X-Padding", b" start\r\n" + b" folded\r\n" * 100_000],
        [b"From", b" a@example.net\r\n"],
    ]
    assert body == b"body"


# Signs and verifies, with dkimpy as the checks leave it, what makes dkimpy's own functions
# quadratic, and prints the results. In a process of its own: dkimpy's regular expression
# holds the interpreter's lock for as long as it runs, so no thread could time it out.
HOSTILE = r"""
import json, sys
import dkim
import mailgate.senderauth.check  # installs mailgate.senderauth.canon
key = json.load(sys.stdin)
head = "From: <a@evil.test>\r\nTo: help@example.org\r\n"
messages = {
    # dkimpy's relaxed body canonicalisation tries every start in a run of spaces that
    # does not end a line: about 20 minutes for 1 MB of them.
    "spaces": head + "Subject: x\r\n\r\nHelp." + " " * 1_000_000 + "x\r\n",
    # dkimpy appends each folded line of a field to its bytes: about a minute for 4 MB.
    "folded": head + "Subject: x\r\n" + " folded line of padding\r\n" * 180_000 + "\r\nHelp.\r\n",
}
results = {}
for name, text in messages.items():
    raw = text.encode()
    signature = dkim.sign(raw, b"s", b"evil.test", key["pem"].encode(),
                          canonicalize=(b"relaxed", b"relaxed"))
    results[name] = dkim.verify(signature + raw, dnsfunc=lambda *a, **k: key["record"].encode())
print(json.dumps(results))
"""


def test_messages_that_make_dkimpy_quadratic_are_checked_at_once() -> None:
    """The gateway answers only after the check: these must not hold it (or, in `serve`,
    every thread) for minutes."""
    key = new_dkim_key()
    try:
        done = subprocess.run(
            [sys.executable, "-c", HOSTILE],
            input=json.dumps({"pem": key.private_pem.decode(), "record": key.record}),
            capture_output=True,
            text=True,
            timeout=90,
            cwd=Path(__file__).resolve().parents[3],
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("signing and verifying the two messages took over 90 s") from None
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"spaces": True, "folded": True}
