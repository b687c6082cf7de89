"""Folding: a report's text -> lower-case ASCII words between spaces, keeping the way back.

Lexicon patterns match the folded text, so case, accents and Unicode forms do not matter:
NFKD compatibility decomposition (full-width and styled letters, ligatures), accents
dropped, ß->ss, œ->oe, æ->ae, ø->o, ł->l, then ASCII lower case. Every other character
(punctuation, symbols, other scripts) becomes a space, so words are runs of [a-z0-9];
combining marks and invisible format characters (zero-width space, soft hyphen) vanish,
so they cannot hide a word.

Nearly every character folds to exactly one character, so a position in the folded text is
the same position in the original, which is what lets a hit carry offsets into the message
(hits.Span). The few characters that fold to zero or several characters are recorded as
shifts, and positions are mapped through them (bisect). Pure-ASCII text takes one
`bytes.translate`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from typing import Final

# Letters NFKD does not decompose to ASCII.
LETTERS: Final[dict[str, str]] = {
    "ß": "ss",
    "ẞ": "ss",
    "œ": "oe",
    "Œ": "oe",
    "æ": "ae",
    "Æ": "ae",
    "ø": "o",
    "Ø": "o",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ı": "i",
}
# ASCII: upper -> lower, letters and digits kept, everything else a space.
_ASCII: Final = bytes(
    (b | 0x20) if 0x41 <= b <= 0x5A else b if (0x61 <= b <= 0x7A or 0x30 <= b <= 0x39) else 0x20
    for b in range(256)
)
_CHAR_FOLD: dict[str, str] = {}  # non-ASCII character -> its fold (grows with what is seen)


def fold_char(char: str) -> str:
    """The fold of one non-ASCII character: usually one ASCII character, "" for marks and
    invisible format characters, several for ß and the like."""
    folded = _CHAR_FOLD.get(char)
    if folded is not None:
        return folded
    if char in LETTERS:
        folded = LETTERS[char]
    else:
        ascii_part = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii())
        ascii_part = ascii_part.translate(_ASCII_STR).strip()
        if ascii_part and " " not in ascii_part:
            folded = ascii_part
        elif unicodedata.category(char) in ("Mn", "Me", "Cf"):
            folded = ""  # combining mark, zero-width space, soft hyphen: part of the word
        else:
            folded = " "
    _CHAR_FOLD[char] = folded
    return folded


_ASCII_STR: Final = {i: chr(b) for i, b in enumerate(_ASCII[:128])}


class Folded:
    """A folded text: `data` is b" " + folded bytes + b" " (so every word has a space on
    each side), with the shifts that map positions back to the original string."""

    __slots__ = ("_back", "_forward", "_shifts", "data", "text")

    def __init__(self, text: str, data: bytes, shifts: list[tuple[int, int, int]]) -> None:
        self.text = text
        self.data = data
        # (original index after a shifting char, folded index after it, cumulative shift)
        self._forward = [s[0] for s in shifts]
        self._back = [s[1] for s in shifts]
        self._shifts = [s[2] for s in shifts]

    def original(self, at: int) -> int:
        """The index in `text` of position `at` of `data` (a word start or end)."""
        position = at - 1  # the leading space
        i = bisect_right(self._back, position)
        shifted = position - (self._shifts[i - 1] if i else 0)
        if i < len(self._back) and shifted > self._forward[i]:
            shifted = self._forward[i]
        return max(0, min(len(self.text), shifted))

    def position(self, index: int) -> int:
        """The position in `data` of index `index` of `text`."""
        i = bisect_right(self._forward, index)
        return index + (self._shifts[i - 1] if i else 0) + 1


def fold(text: str) -> Folded:
    """Fold `text` (see the module docstring)."""
    if text.isascii():
        return Folded(text, b" " + text.encode("ascii").translate(_ASCII) + b" ", [])
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return _fold_unicode(text)
    # Western European text: one byte per character, folded with one bytes.translate.
    if _LATIN1_UNEVEN_RE.search(raw) is None:
        return Folded(text, b" " + raw.translate(_LATIN1) + b" ", [])
    shifts = _shifts(text, (m.start() for m in _LATIN1_UNEVEN_RE.finditer(raw)))
    folded = _LATIN1_UNEVEN_RE.sub(lambda m: _LATIN1_REPLACE[m.group()], raw)
    return Folded(text, b" " + folded.translate(_LATIN1) + b" ", shifts)


def _shifts(text: str, positions: Iterable[int]) -> list[tuple[int, int, int]]:
    """The shifts for the characters of uneven fold at `positions` of `text`."""
    shifts = []
    total = 0
    for at in positions:
        total += len(fold_char(text[at])) - 1
        shifts.append((at + 1, at + 1 + total, total))
    return shifts


def _fold_unicode(text: str) -> Folded:
    table: dict[int, str] = {}
    uneven: list[str] = []
    for char in set(text):
        if not char.isascii():
            folded = fold_char(char)
            table[ord(char)] = folded
            if len(folded) != 1:
                uneven.append(char)
    shifts: list[tuple[int, int, int]] = []
    if uneven:
        pattern = "[" + "".join(re.escape(c) for c in sorted(uneven)) + "]"
        shifts = _shifts(text, (m.start() for m in re.finditer(pattern, text)))
    folded_text = text.translate(table)
    return Folded(text, b" " + folded_text.encode("ascii").translate(_ASCII) + b" ", shifts)


def _latin1() -> tuple[bytes, re.Pattern[bytes], dict[bytes, bytes]]:
    """The byte table for Latin-1 text, the characters whose fold is not one character,
    and what those become."""
    table = bytearray(_ASCII)
    uneven: dict[bytes, bytes] = {}
    for b in range(0x80, 0x100):
        folded = fold_char(chr(b))
        if len(folded) == 1:
            table[b] = ord(folded)
        else:
            uneven[bytes([b])] = folded.encode("ascii")
    pattern = re.compile(b"[" + b"".join(re.escape(k) for k in uneven) + b"]")
    return bytes(table), pattern, uneven


_LATIN1, _LATIN1_UNEVEN_RE, _LATIN1_REPLACE = _latin1()
