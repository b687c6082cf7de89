"""Parse Content-Type and Content-Disposition values: the main token and its parameters.

Implements RFC 2045 section 5.1 (type/subtype; attribute=value) and RFC 2231 (parameter
value continuations `name*0`, `name*1`, and charset/language encoding `name*=utf-8'en'...`),
tolerating what mailers actually send: unquoted values with spaces, missing closing quotes,
RFC 2047 encoded words inside quoted values, raw 8-bit bytes, duplicate parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from mailgate.charsets import decode_bytes, decode_header_bytes
from mailgate.headers import clean_text, decode_words, to_bytes

__all__ = ["HeaderParams", "parse_params"]

# One `;`-separated element: quoted strings may contain `;`; an unterminated quote runs on.
_ELEMENT = re.compile(r'(?:[^;"]|"(?:[^"\\]|\\.)*(?:"|$))+', re.DOTALL)
_SECTION = re.compile(r"^(?P<name>[^*]+)(?:\*(?P<num>\d+))?(?P<star>\*)?$")
_ESCAPE = re.compile(r"\\(.)")
_MAX_SECTIONS = 100
_HEAD = re.compile(r"(?P<main>[^\s;=]*)\s*(?P<rest>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class HeaderParams:
    """A parsed parameterized header: `value` lower-cased, `params` by lower-cased name."""

    value: str
    params: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.params.get(name)


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        inner = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        return _ESCAPE.sub(r"\1", inner)
    return value


@dataclass(slots=True)
class _Sections:
    """RFC 2231 pieces of one parameter, collected before they are joined."""

    plain: str | None = None
    parts: dict[int, tuple[bool, str]] = field(default_factory=dict)


def _collect(elements: list[str]) -> dict[str, _Sections]:
    found: dict[str, _Sections] = {}
    for element in elements:
        name, eq, raw = element.partition("=")
        if not eq:
            continue
        match = _SECTION.match(name.strip().lower())
        if match is None:
            continue
        entry = found.setdefault(match["name"].strip(), _Sections())
        if match["num"] is None and match["star"] is None:
            if entry.plain is None:  # the first occurrence wins, like most readers
                entry.plain = _unquote(raw)
        elif len(entry.parts) < _MAX_SECTIONS:
            number = int(match["num"] or 0)
            entry.parts.setdefault(number, (match["star"] is not None, _unquote(raw)))
    return found


def _join_2231(parts: dict[int, tuple[bool, str]], fallback: str | None) -> str:
    """RFC 2231 sections 3 and 4: join the numbered pieces, percent-decode the starred ones
    and decode the bytes with the charset named in the first piece."""
    charset: str | None = None
    data = bytearray()
    for index, number in enumerate(sorted(parts)):
        encoded, text = parts[number]
        if encoded and index == 0 and text.count("'") >= 2:
            charset, _lang, text = text.split("'", 2)
        raw = to_bytes(text)
        data += unquote_to_bytes(raw) if encoded else raw
    if charset:
        return decode_bytes(bytes(data), charset)[0]
    return decode_header_bytes(bytes(data), fallback)


def _finish(entry: _Sections, fallback: str | None) -> str:
    if entry.parts:
        return clean_text(_join_2231(entry.parts, fallback))
    plain = entry.plain or ""
    # Encoded words in quoted parameters are forbidden by RFC 2047 section 5 but common.
    return clean_text(decode_words(to_bytes(plain), fallback))


def parse_params(value: str | None, fallback: str | None = None) -> HeaderParams:
    """Parse a compat32 Content-Type / Content-Disposition value. Never raises."""
    if not value:
        return HeaderParams("")
    text = value.replace("\r", "").replace("\n", "")
    elements = _ELEMENT.findall(text)
    if not elements:
        return HeaderParams("")
    head = _HEAD.match(elements[0].strip())
    main = head["main"].strip("\"'").lower() if head else ""
    rest = elements[1:]
    if head and "=" in head["rest"]:
        rest.insert(0, head["rest"])  # "text/plain charset=x": a forgotten semicolon
    collected = _collect(rest)
    params = {name: _finish(entry, fallback) for name, entry in collected.items()}
    return HeaderParams(main, params)
