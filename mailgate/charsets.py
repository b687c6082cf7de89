"""Turn bytes of declared (or undeclared, or wrongly declared) charset into text.

Mail in the wild labels its charset badly: Korean mail says ``ks_c_5601-1987`` (which
Python maps to the too-small EUC-KR), Chinese mail says ``gb2312`` but uses GBK, Japanese
mail says ``shift_jis`` and uses Microsoft's CP932, and a great deal of UTF-8 is labelled
``us-ascii`` or ``iso-8859-1``. This module maps labels to the codec a mail reader should
really use (the WHATWG Encoding Standard's choices, which browsers and mail clients share)
and decodes with a fallback chain that never raises. Where the chain fails (the declared
charset does not decode, or nothing usable was declared and the bytes are not UTF-8), the
charset is detected (mailgate.charsetguess) before falling back to replacement characters
or windows-1252.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from mailgate.charsetguess import guess_charset

__all__ = ["decode_bytes", "decode_header_bytes", "normalize_charset"]

# Labels whose real-world meaning is a superset codec (WHATWG Encoding Standard, section 4.2).
_ALIASES: dict[str, str] = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "iso-8859-8-e": "iso-8859-8",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "korean": "cp949",
    "euc-kr": "cp949",
    "windows-949": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "x-ms-cp932": "cp932",
    "euc-jp": "euc_jis_2004",
    "x-euc-jp": "euc_jis_2004",
    # ISO-2022-JP as sent by Windows mailers carries CP932 extensions (CP50220/50221);
    # the -ext variant also accepts half-width katakana. A strict failure falls back below.
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "iso-2022-jp-1": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "windows-1250": "cp1250",
    "windows-1251": "cp1251",
    "windows-1252": "cp1252",
    "windows-1253": "cp1253",
    "windows-1254": "cp1254",
    "windows-1255": "cp1255",
    "windows-1256": "cp1256",
    "windows-1257": "cp1257",
    "windows-1258": "cp1258",
    "x-cp1250": "cp1250",
    "x-cp1251": "cp1251",
}

# Codecs Python can look up that are not charsets a message may legitimately declare
# (they transform text, e.g. backslash escapes) or that have no meaning for mail.
_REFUSED = frozenset(
    {
        "unicode-escape",
        "raw-unicode-escape",
        "idna",
        "punycode",
        "undefined",
        "mbcs",
        "oem",
        "unicode-internal",
        "palmos",
    }
)

# Stateful 7-bit encodings and multi-byte encodings: their bytes can look like valid UTF-8
# (ISO-2022-JP is pure ASCII), so the declared charset must be tried before UTF-8.
_DECLARED_FIRST_PREFIXES = (
    "iso2022",
    "utf-7",
    "hz",
    "utf-16",
    "utf-32",
    "cp932",
    "cp949",
    "cp950",
    "gb",
    "big5",
    "euc",
    "shift",
    "johab",
)


_ASCII_BYTES = bytes(range(128))
_SURROGATES = re.compile("[\ud800-\udfff]")
# One well-formed multi-byte UTF-8 sequence (2, 3 or 4 bytes).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# An ISO 2022 designation (RFC 1468, RFC 1557, RFC 1922): 7-bit Japanese, Korean or Chinese
# text sent without a charset label. Python's iso2022_jp_2 reads all three designations.
_ISO2022_ESCAPE = re.compile(rb"\x1b(?:\$[@AB(]|\$\)C|\([BJ])")
_ISO2022_CODECS = ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_kr")
_SUSPECT = re.compile("[\ufffd\ue000-\uf8ff]")


@lru_cache(maxsize=256)
def normalize_charset(label: str | None) -> str | None:
    """The Python codec name to use for a declared charset label, or None if unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    # RFC 2231 section 5 allows a language suffix on charsets in encoded words: utf-8*en.
    name = name.split("*", 1)[0]
    if not name:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


def _declared_first(codec: str) -> bool:
    return codec.startswith(_DECLARED_FIRST_PREFIXES)


def _try(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    # UTF-7 (and other codecs) can produce lone surrogates, which no UTF-8 consumer accepts.
    return _SURROGATES.sub("\ufffd", text) if not text.isascii() else text


def _lenient(data: bytes, codec: str) -> str:
    """Decode with replacement characters; never raises, never yields lone surrogates."""
    text = data.decode(codec, errors="replace")
    return _SURROGATES.sub("\ufffd", text) if not text.isascii() else text


def _candidates(codec: str | None) -> list[str]:
    """The strict decoding attempts, in order, for a normalized declared charset."""
    if codec is None or codec == "utf-8":
        return ["utf-8"]
    if _declared_first(codec):
        extra = ["iso2022_jp_2", "iso2022_jp_2004"] if codec.startswith("iso2022_jp") else []
        return [codec, *extra, "utf-8"]
    # A single-byte charset decodes anything, so valid UTF-8 is only detectable first;
    # text in a real single-byte charset practically never happens to be valid UTF-8.
    return ["utf-8", codec]


def _note(declared: str | None, codec: str | None, used: str) -> str | None:
    """A defect note when the declared charset was unknown or wrong, else None."""
    if codec is None:
        return f"unknown charset {declared!r}; decoded as {used}" if declared else None
    if used == "utf-8" and codec != "utf-8":
        return f"charset {declared!r} was wrong; the text decoded as utf-8"
    return None


def _mostly_utf8(data: bytes) -> bool:
    """True when UTF-8 with a few damaged bytes is likelier than a single-byte charset."""
    if _UTF8_SEQUENCE.search(data) is None:
        return False
    replaced = data.decode("utf-8", errors="replace").count("\ufffd")
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    return replaced * 4 <= non_ascii


def _by_line(data: bytes, single: str, codec: str | None) -> tuple[str, str | None]:
    """Decode line by line: UTF-8 where a line is UTF-8 (with a few damaged bytes at most),
    the other lines in one charset detected from them, else in `single` (a single-byte
    charset). Mail assembled from pieces (a UTF-8 body with a Latin-1 footer, a damaged
    base64 block) is then readable everywhere except the damaged lines. Returns the text
    and the charset used for the lines that are not UTF-8 (None if there were none)."""
    lines = data.split(b"\n")
    out: list[str] = []
    others: list[int] = []
    for index, line in enumerate(lines):
        if line.isascii():
            out.append(line.decode("ascii"))
            continue
        text = _try(line, "utf-8")
        if text is None and _mostly_utf8(line):
            text = _lenient(line, "utf-8")
        if text is None:
            others.append(index)
            text = ""
        out.append(text)
    if not others:
        return "\n".join(out), None
    rest = b"\n".join(lines[i] for i in others)
    used = single
    guess = guess_charset(rest, codec, single)
    if guess is not None and guess != single and _try(rest, guess) is not None:
        used = guess
    for index in others:
        out[index] = _lenient(lines[index], used)
    return "\n".join(out), used


def _undeclared_iso2022(data: bytes) -> str | None:
    """7-bit ISO 2022 text (escape sequences) decoded, or None if it is not that."""
    if b"\x1b" not in data or _ISO2022_ESCAPE.search(data) is None:
        return None
    for codec in _ISO2022_CODECS:
        text = _try(data, codec)
        if text is not None:
            return text
    return None


def _suspect(text: str) -> int:
    """Characters that show a wrong multi-byte decoding: replacements and private use."""
    return len(_SUSPECT.findall(text)) if not text.isascii() else 0


def _redetected(data: bytes, codec: str, text: str) -> tuple[str, str] | None:
    """A multi-byte charset that decoded with replacement or private-use characters (Big5
    read as GB18030 does): a detected charset's text when it has fewer of them."""
    guess = guess_charset(data, codec, codec)
    if guess is None or guess == codec:
        return None
    other = _lenient(data, guess)
    return (other, guess) if _suspect(other) < _suspect(text) else None


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode `data` labelled `declared`; returns the text and a defect note or None.

    Multi-byte and stateful charsets are tried as declared first; if they fail or yield
    replacement or private-use characters, a detected charset that reads better is used.
    Otherwise valid UTF-8 wins (it is the commonest mislabelling), then the declared
    single-byte charset, then line by line: UTF-8 lines as UTF-8, the others in a detected
    charset or the single-byte one. Never raises.
    """
    codec = normalize_charset(declared)
    label = declared or "none"
    if data.isascii() and (codec is None or not _declared_first(codec)):
        # 7-bit ISO 2022 text labelled us-ascii (or not at all) is common in Japanese mail.
        text = _undeclared_iso2022(data)
        if text is not None:
            return text, f"charset {label!r} was wrong; the text is ISO-2022"
        return data.decode("ascii"), None
    for candidate in _candidates(codec):
        decoded = _try(data, candidate)
        if decoded is None:
            continue
        if candidate == codec and _declared_first(codec) and _SUSPECT.search(decoded):
            better = _redetected(data, codec, decoded)
            if better is not None:
                return better[0], f"charset {label!r} read as private-use; detected {better[1]}"
        return decoded, _note(declared, codec, candidate)
    if codec is not None and _declared_first(codec):
        text = _lenient(data, codec)
        better = _redetected(data, codec, text)
        if better is not None and not _suspect(better[0]):
            return better[0], f"charset {label!r} did not decode; detected {better[1]}"
        note = f"charset {label!r} did not decode cleanly; replacement characters used"
        return (better[0], f"{note} (detected {better[1]})") if better else (text, note)
    single = codec if codec is not None and codec != "utf-8" else "cp1252"
    text, used = _by_line(data, single, codec)
    if used is None:
        return text, f"charset {label!r}: damaged UTF-8; replacement characters used"
    if used != single:
        return text, f"charset {label!r} did not decode; detected {used}"
    return text, f"charset {label!r} did not fit every line; used {single} there"


def decode_header_bytes(data: bytes, fallback: str | None) -> str:
    """Decode raw 8-bit header bytes: UTF-8 (RFC 6532), then `fallback`, then a detected
    charset, then windows-1252. 7-bit ISO-2022 text is read by its escape sequences."""
    if data.isascii():
        if b"\x1b" in data:
            return _undeclared_iso2022(data) or data.decode("ascii")
        return data.decode("ascii")
    text = _try(data, "utf-8")
    if text is not None:
        return text
    if _mostly_utf8(data):
        return _lenient(data, "utf-8")
    codec = normalize_charset(fallback)
    if codec is not None and codec != "utf-8":
        text = _try(data, codec)
        if text is not None:
            return text
    guess = guess_charset(data, codec, "cp1252")
    if guess is not None and guess not in ("cp1252", codec):
        text = _try(data, guess)
        if text is not None:
            return text
    return _lenient(data, "cp1252")
