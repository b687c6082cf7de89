"""The words of a report that fired a hit, as a short one-line excerpt a person can check.

The excerpt shows the matched words with a few words of context on each side, on one line
(line breaks, white space and the "> " of quoted replies collapsed), with "…" where it is
cut. Several
pieces (the concepts of a window rule, sentences apart) are joined with " … ". The
excerpt never crosses from the subject into the body.
"""

from __future__ import annotations

import re
from typing import Final

CONTEXT: Final = 30  # characters of context on each side, cut back to a whole word
MAX_PIECE: Final = 120  # a longer match is shown by its start and its end
_SPACE: Final = re.compile(r"\s+")
_QUOTE_MARKS: Final = re.compile(r"(?:^|\n)[ \t]*[>|][>| \t]*")  # "> " of quoted replies


def excerpt(text: str, spans: list[tuple[int, int]], lo: int = 0, hi: int | None = None) -> str:
    """An excerpt of text[lo:hi] showing `spans` (sorted (start, end) indices in `text`)."""
    hi = len(text) if hi is None else hi
    pieces: list[tuple[int, int]] = []
    for start, end in spans:
        a = _back(text, max(lo, start - CONTEXT), start, lo)
        b = _forward(text, end, min(hi, end + CONTEXT), hi)
        if pieces and a <= pieces[-1][1] + CONTEXT:
            pieces[-1] = (pieces[-1][0], max(b, pieces[-1][1]))
        else:
            pieces.append((a, b))
    parts = []
    for a, b in pieces:
        if b - a > MAX_PIECE + 2 * CONTEXT:
            half = MAX_PIECE // 2
            middle = _flat(text[a : a + half]) + " … " + _flat(text[b - half : b])
        else:
            middle = _flat(text[a:b])
        parts.append(middle)
    out = " … ".join(parts)
    if pieces and pieces[0][0] > lo:
        out = "…" + out
    if pieces and pieces[-1][1] < hi:
        out += "…"
    return out


def _flat(piece: str) -> str:
    return _SPACE.sub(" ", _QUOTE_MARKS.sub(" ", piece)).strip()


def _back(text: str, limit: int, start: int, lo: int) -> int:
    """Where context before `start` begins: from `limit` on, at the start of a word."""
    if limit <= lo:
        return lo
    a = limit
    while a < start and not text[a - 1].isspace():
        a += 1
    return a


def _forward(text: str, end: int, limit: int, hi: int) -> int:
    """Where context after `end` stops: up to `limit`, at the end of a word."""
    if limit >= hi:
        return hi
    b = limit
    while b > end and not text[b].isspace():
        b -= 1
    return b
