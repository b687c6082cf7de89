"""Guess the charset of text whose declared charset failed, with charset-normalizer.

mailgate.charsets calls this only after the declared charset, its known supersets and UTF-8
all failed to decode (or when no charset was declared and the bytes are not UTF-8), so
ordinary mail never pays for it, and charset-normalizer only sees a bounded prefix of the
bytes, cut at a line end so that no multi-byte character is split.

Detection on short text (a subject, a display name) is a guess among charsets whose byte
ranges overlap: Shift_JIS, EUC-JP, EUC-KR, GBK and Big5 bytes are valid in each other. So
the guess is made within the *family* of the declared charset when there is one (Shift_JIS
bytes labelled ISO-2022-JP are still Japanese), among the charsets mail is actually written
in otherwise; the caller's preferred single-byte fallback wins whenever it reads the same
text; and between East Asian charsets that read about equally well, the one whose reading
uses its language's common repertoire wins (Shift_JIS read as Korean gives rare Hangul
syllables outside KS X 1001, read as Japanese it gives kana and JIS X 0208 kanji).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charset_normalizer import CharsetMatches

__all__ = ["SAMPLE_BYTES", "guess_charset"]

SAMPLE_BYTES = 16_384
# Python codec names (codecs.lookup(...).name) of one language family each.
_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("cp932", "shift_jis", "euc_jis_2004", "euc_jp", "iso2022_jp_ext", "iso2022_jp"),
    ("gb18030", "gbk", "gb2312", "big5hkscs", "big5", "cp950", "hz"),
    ("cp949", "euc_kr", "iso2022_kr", "johab"),
    ("cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866", "mac-cyrillic"),
)
# What to try within each family, in charset-normalizer's spelling.
_FAMILY_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("cp932", "euc_jis_2004"),
    ("gb18030", "big5hkscs"),
    ("cp949",),
    ("cp1251", "koi8_r", "koi8_u", "cp866"),
)
# The charsets mail without a usable declaration is written in, in practice. Thai, Hebrew
# and Arabic single-byte charsets are left out: on short text they "fit" almost any bytes
# (they stay reachable when the message declares them).
_GENERAL = (
    "cp1252",
    "cp1250",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1257",
    "cp932",
    "euc_jis_2004",
    "gb18030",
    "big5hkscs",
    "cp949",
)
# charset-normalizer's names for codecs whose Python name differs.
_PYTHON_NAME = {"koi8_r": "koi8-r", "koi8_u": "koi8-u"}
# East Asian readings within this much "chaos" of the best are compared by repertoire.
_CHAOS_MARGIN = 0.1
_SCORED_CHARS = 2000
# For each East Asian codec, the legacy charset that holds its language's common characters.
_COMMON_REPERTOIRE = {
    "cp932": "shift_jis",
    "euc_jis_2004": "shift_jis",
    "cp949": "euc_kr",
    "gb18030": "gb2312",
    "big5hkscs": "big5",
}

log = logging.getLogger(__name__)


def _family(codec: str | None) -> tuple[str, ...] | None:
    if codec is None:
        return None
    for members, candidates in zip(_FAMILIES, _FAMILY_CANDIDATES, strict=True):
        if codec in members:
            return candidates
    return None


def _sample(data: bytes) -> bytes:
    """At most SAMPLE_BYTES of `data`, cut after a line end when the data is longer."""
    if len(data) <= SAMPLE_BYTES:
        return data
    cut = data.rfind(b"\n", 0, SAMPLE_BYTES)
    return data[: cut + 1] if cut > 0 else data[:SAMPLE_BYTES]


def guess_charset(data: bytes, declared: str | None = None, prefer: str = "cp1252") -> str | None:
    """The Python codec name charset-normalizer finds likeliest for `data`, or None.

    `declared` is the (normalized) codec that failed: its language family is searched first.
    `prefer` is returned whenever it decodes the sample to the same text as the best guess.
    """
    if data.isascii():
        return None
    return _guess(_sample(data), declared, prefer)


def _normalizer_name(codec: str) -> str:
    return codec.replace("-", "_")


@lru_cache(maxsize=512)
def _guess(sample: bytes, declared: str | None, prefer: str) -> str | None:
    family = _family(declared)
    preferred = _normalizer_name(prefer)
    general = _GENERAL if preferred in _GENERAL else (*_GENERAL, preferred)
    for isolation in (family, general) if family else (general,):
        try:
            encoding = _choose(sample, isolation, preferred)
        except Exception:  # a detector bug must not cost the message: fall back as before
            log.warning("charset detection failed", exc_info=True)
            return None
        if encoding == preferred:
            return prefer
        if encoding is not None:
            return _PYTHON_NAME.get(encoding, encoding)
    return None


def _choose(sample: bytes, isolation: tuple[str, ...], preferred: str) -> str | None:
    """charset-normalizer's choice among `isolation` (its spelling), or None."""
    # Imported on first use: most mail never needs it, and the import costs 25 ms at start.
    from charset_normalizer import from_bytes

    matches = from_bytes(sample, cp_isolation=list(isolation), preemptive_behaviour=False)
    best = matches.best()
    if best is None or best.encoding in ("ascii", "utf_8"):
        return None
    # The preferred charset wins a tie: Portuguese reads as well in windows-1250 as in
    # windows-1252 to the detector, but not to a Portuguese reader.
    for match in matches:
        if match.chaos <= best.chaos and (
            preferred == match.encoding or preferred in match.could_be_from_charset
        ):
            return preferred
    return _east_asian_choice(matches, best.chaos) or best.encoding


def _east_asian_choice(matches: CharsetMatches, chaos: float) -> str | None:
    """Among East Asian readings about as good as the best, the one that reads most like
    its language (see the module docstring); None when there is nothing to compare."""
    close = [
        m for m in matches if m.encoding in _COMMON_REPERTOIRE and m.chaos <= chaos + _CHAOS_MARGIN
    ]
    if len(close) < 2:
        return None
    scores = [(*_shares(str(m), m.encoding), -m.chaos, m.encoding) for m in close]
    return max(scores)[3]


def _shares(text: str, encoding: str) -> tuple[float, float]:
    """The shares of a reading's non-ASCII characters that are typical of its language, and
    that are kana in a Japanese reading: between equally typical readings, kana decide
    (Japanese text has them; they come out of Japanese bytes only when read as Japanese)."""
    common = _COMMON_REPERTOIRE[encoding]
    japanese = common == "shift_jis"
    total = hits = kana = 0
    for char in text:
        if char.isascii():
            continue
        total += 1
        hits += _typical(char, common, japanese)
        kana += japanese and "\u3040" <= char <= "\u30ff"
        if total >= _SCORED_CHARS:
            break
    return (hits / total, kana / total) if total else (0.0, 0.0)


def _typical(char: str, common: str, japanese: bool) -> bool:
    """East Asian punctuation and full-width forms; kana in Japanese only; Hangul syllables
    and ideographs when they are among the language's common two-byte characters. Kana,
    jamo and Greek are in every one of these repertoires, but typical of none but one."""
    if "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef":
        return True
    if "\u3040" <= char <= "\u30ff":
        return japanese
    if not ("\u4e00" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7a3"):
        return False
    try:
        # Two bytes: Python's euc_kr also writes rare syllables, as 8-byte KS X 1001
        # Annex 3 sequences; those are not common.
        return len(char.encode(common)) == 2
    except UnicodeEncodeError:
        return False
