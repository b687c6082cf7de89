"""Parse address header fields (From, To, Cc, Reply-To, Sender) into `Address` values.

A tolerant tokenizer rather than a strict RFC 5322 grammar: real mail carries unquoted
"Last, First <a@b>" names, display names that are themselves addresses, encoded words
inside quotes, group syntax, route addresses, quoted local parts, and plain garbage. Names
are decoded after the address structure is found, so a comma inside an encoded word cannot
split an address.

A quoted local part ("john doe"@example.org, "#FAX#*49000783135#"@otrs.fax) is kept whole
and written the way RFC 5321 section 4.1.2 asks: bare when it is a valid dot-atom, quoted
(with backslash escapes) only when it must be. An address longer than `MAX_ADDRESS` is not
usable: no mail system takes it (RFC 5321 section 4.5.3.1 allows 64 + 1 + 255 characters),
and no column stores it; nor is one with control characters in it (binary garbage).
"""

from __future__ import annotations

import re

from mailgate.charsets import decode_header_bytes
from mailgate.headers import clean_text, decode_words, to_bytes
from queues.mail import Address

__all__ = ["MAX_ADDRESS", "parse_address_list", "parse_mailbox"]

MAX_ADDRESS = 320

# Tokens of an address list: quoted strings, comments, angle-addresses, commas, other text.
# Unterminated quotes/comments/brackets run to the end of the value instead of failing.
_TOKENS = re.compile(
    r'"(?:[^"\\]|\\.)*(?:"|$)'
    r"|\((?:[^()\\]|\\.)*(?:\)|$)"
    r"|<[^<>]*(?:>|$)"
    r"|,|;"
    r'|[^",;(<]+'
    r"|[<(]",  # a lone "<" or "(" that the patterns above could not close
    re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)")
_MAX_ADDRESSES = 1000
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_SPACED_DOTS = re.compile(r"\s*([.@])\s*")
_NAME_STRIP = " \t\"'"
# A quoted string right before "@" is a local part, not a display name (RFC 5322 3.4.1).
_QUOTED_LOCAL = re.compile(r'"((?:[^"\\]|\\.)*)"(?=[ \t]*@)')
# While the list is split, each quoted local part stands in the text as one opaque word.
_ADDRESS_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
# RFC 5322 section 3.2.3 dot-atom, with the UTF-8 atext of RFC 6532.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\x80-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")


class _Mailbox:
    """The pieces of one comma-separated element while it is being assembled."""

    __slots__ = ("angle", "comments", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.comments: list[str] = []
        self.angle: str | None = None

    def empty(self) -> bool:
        return not (self.words or self.comments or self.angle)

    def text(self) -> str:
        return " ".join(w for w in self.words if w)


def _unquote(token: str) -> str:
    """The content of a quoted string or comment token, backslash escapes resolved."""
    close = '"' if token[0] == '"' else ")"
    inner = token[1:-1] if len(token) > 1 and token.endswith(close) else token[1:]
    return _ESCAPE.sub(r"\1", inner)


def _split(text: str) -> list[_Mailbox]:
    """Split an address list into mailboxes at top-level commas (and group semicolons)."""
    boxes = [_Mailbox()]
    for match in _TOKENS.finditer(text):
        token = match.group(0)
        box = boxes[-1]
        first = token[0]
        if first in ",;":
            boxes.append(_Mailbox())
        elif first == '"':
            box.words.append(_unquote(token))
        elif first == "(":
            box.comments.append(_unquote(token))
        elif first == "<":
            box.angle = token[1:].rstrip(">")
        else:
            box.words.append(_strip_group_name(token, box))
    return [b for b in boxes if not b.empty()]


def _strip_group_name(token: str, box: _Mailbox) -> str:
    """RFC 5322 section 3.4 group syntax "name: a, b;": the group name is not a mailbox."""
    if ":" in token and not box.words and box.angle is None:
        head, _, tail = token.partition(":")
        if "@" not in head:
            return tail
    return token


def _canonical_local(content: str) -> str:
    """A quoted local part's content as RFC 5321 section 4.1.2 wants it written: a bare
    dot-atom when it is one, else a quoted string with backslash escapes."""
    if _DOT_ATOM.fullmatch(content):
        return content
    return '"' + content.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _protect_quoted_locals(text: str) -> tuple[str, list[str]]:
    """`text` with each quoted local part replaced by an opaque word, and their contents."""
    contents: list[str] = []

    def protect(match: re.Match[str]) -> str:
        contents.append(_ESCAPE.sub(r"\1", match.group(1)))
        return f"\ue000{len(contents) - 1}\ue001"

    if '"' not in text:
        return text, contents
    return _QUOTED_LOCAL.sub(protect, text), contents


def _restore(text: str, contents: list[str], quote: bool) -> str:
    """Put the quoted local parts back: in canonical form in an address, as text in a name."""

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(contents):
            return match.group(0)
        return _canonical_local(contents[index]) if quote else contents[index]

    return _PLACEHOLDER.sub(restore, text) if "\ue000" in text else text


def _clean_address(raw: str, quoted: list[str]) -> str | None:
    """`local@domain` with the domain lower-cased, or None if there is no usable address."""
    addr = "".join(_COMMENT.sub("", raw).split()).strip("<>\"'")
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    if ":" in addr and addr.startswith("@"):
        addr = addr.split(":", 1)[1]  # obsolete route address, RFC 5322 section 4.4
    local, at, domain = addr.rpartition("@")
    domain = domain.strip(".")
    if not at or not local or not domain:
        return None
    if any(c in addr for c in '<>()[],;\\"') and not domain.startswith("["):
        return None
    address = f"{_restore(local, quoted, True)}@{domain.lower()}"
    if len(address) > MAX_ADDRESS or _ADDRESS_CONTROLS.search(address):
        return None  # too long, or binary garbage (a NUL would make PostgreSQL refuse it)
    return address


_Picked = tuple[str | None, str, bool]


def _pick(box: _Mailbox, quoted: list[str]) -> list[_Picked]:
    """Address, undecoded display name, and whether <angle brackets> were used, for each
    mailbox in `box` (several when a mailer forgot the commas between bare addresses)."""
    if box.angle is not None:
        name = box.text() or " ".join(box.comments)
        return [(_clean_address(box.angle, quoted), name, True)]
    words = box.text().split()
    if any(w[0] in ".@" or w.endswith("@") for w in words):
        # Obsolete syntax (RFC 5322 section 4.4) allows spaces around "." and "@".
        words = _SPACED_DOTS.sub(r"\1", box.text()).split()
    addresses = [w for w in words if "@" in w]
    if not addresses:
        return [(None, box.text(), False)]
    name = " ".join(w for w in words if "@" not in w) or " ".join(box.comments)
    return [
        (_clean_address(a, quoted), name if i == 0 else "", False) for i, a in enumerate(addresses)
    ]


def _display_name(raw: str, addr: str) -> str:
    """Decode RFC 2047 words in a name; "" if it is empty or just repeats the address."""
    # `raw` is already text: its literal parts are UTF-8 once re-encoded.
    name = clean_text(decode_words(raw.encode("utf-8", "surrogatepass"), "utf-8"))
    name = name.strip(_NAME_STRIP).strip()
    if name.lower() in (addr.lower(), f"<{addr.lower()}>"):
        return ""
    return name


def _merge_orphans(picked: list[_Picked]) -> list[tuple[str, str]]:
    """Re-join an unquoted "Last, First <a@b>": the name-only piece just before an
    angle-bracketed address is the first half of that address's display name."""
    merged: list[tuple[str, str]] = []
    pending = ""
    for addr, name, angled in picked:
        if addr is None:
            pending = name.strip() if name.strip() and "@" not in name else ""
            continue
        if pending and angled and name.strip():
            name = f"{pending}, {name.strip()}"
        pending = ""
        merged.append((addr, name))
    return merged


def parse_address_list(value: str | None, fallback: str | None = None) -> list[Address]:
    """All usable addresses in a compat32 header value, in order, without duplicates.

    Names are decoded after the structure is found; only when that finds no address at all
    is the whole value decoded first, for mailers that encode a whole mailbox ("Ann
    <ann@example.net>") as one encoded word, which RFC 2047 section 5 forbids."""
    if not value:
        return []
    data = to_bytes(value)
    found = _addresses(decode_header_bytes(data, fallback))
    if not found and b"=?" in data:
        found = _addresses(decode_words(data, fallback))
    return found


def _addresses(text: str) -> list[Address]:
    text, quoted = _protect_quoted_locals(text.replace("\r", " ").replace("\n", " "))
    boxes = _split(text)[:_MAX_ADDRESSES]
    result: list[Address] = []
    seen: set[str] = set()
    picked = [item for box in boxes for item in _pick(box, quoted)]
    for addr, raw_name in _merge_orphans(picked):
        if addr.lower() in seen:
            continue
        seen.add(addr.lower())
        name = _display_name(_restore(raw_name, quoted, False), addr)
        result.append(Address(email=addr, name=name))
    return result


def parse_mailbox(value: str | None, fallback: str | None = None) -> Address | None:
    """The first usable address of a single-mailbox header (From, Sender), or None."""
    found = parse_address_list(value, fallback)
    return found[0] if found else None
