"""The similarity key of a report: its normalised words folded into a 64-bit simhash.

Charikar's simhash (STOC 2002, "Similarity estimation techniques from rounding
algorithms"), as used for near-duplicate web pages by Manku, Jain and Das Sarma (WWW 2007):
every distinct word of the normalised subject and body is hashed to 64 bits; each bit of
the key is the majority of that bit over the words. Reports that differ in a few words (a
name, a link) differ in a few bits of the key; unrelated ones in about half. Single words
rather than word shingles: reports are short, and one changed word changes three shingles
of twenty (measured on sample reports: a changed name moved the key 4 bits with words, 15
with 3-word shingles, while unrelated reports stayed 26-37 bits apart either way).

Normalisation: Unicode NFKC, case folded, digits as 0, words only (punctuation, spacing and
line breaks do not count), at most MAX_CHARS characters. A report of fewer than
`min_words` words has no key: short reports ("please help") are alike by nature and must
never be taken for a flood.
"""

from __future__ import annotations

import hashlib
import unicodedata

import regex

MAX_CHARS = 20_000
SHINGLE = 1
_WORD = regex.compile(r"\w+")
_DIGIT = regex.compile(r"\d")


def signed(key: int) -> int:
    """The key as a signed 64-bit integer (BIGINT columns are signed)."""
    key &= (1 << 64) - 1
    return key - (1 << 64) if key >= 1 << 63 else key


def words(subject: str, body: str) -> list[str]:
    text = unicodedata.normalize("NFKC", f"{subject}\n{body}"[:MAX_CHARS]).casefold()
    found: list[str] = _WORD.findall(_DIGIT.sub("0", text))
    return found


def simhash(tokens: list[str]) -> int:
    shingles = {" ".join(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}
    if not shingles:
        return 0
    bits = [
        format(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest()), "064b")
        for s in shingles
    ]
    half = len(bits) / 2
    # Column counts over the shingles' bit strings (C loops instead of 64 Python ones each).
    key = "".join("1" if column.count("1") > half else "0" for column in zip(*bits, strict=True))
    return int(key, 2)


def fingerprint(subject: str, body: str, min_words: int) -> int | None:
    """The report's key (signed 64-bit), or None when it is too short to compare."""
    tokens = words(subject, body)
    if len(tokens) < max(min_words, SHINGLE):
        return None
    return signed(simhash(tokens))


def distance(a: int, b: int) -> int:
    """Hamming distance of two keys (signed or not)."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()
