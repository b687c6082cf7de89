"""Split a plain-text message into the writer's own words and the text it quotes, so that a
page can fold the quotes away (the reply page shows the message being answered this way).

Quoted text is a run of lines starting with ">" (RFC 3676 4.5, and every mail client's
habit), together with the attribution line just before it ("On Tue, Ann wrote:"), and
everything from an "Original Message" separator on (Outlook's way of quoting). A forwarded
message is not a quote: it is often the very harassment being reported, so it stays open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = re.compile(
    r"(wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu)\s*:\s*$", re.IGNORECASE
)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)")


@dataclass(frozen=True)
class Part:
    """A piece of the message: its text, and whether it is quoted from an earlier one."""

    text: str
    quoted: bool

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1


def split_quotes(text: str) -> list[Part]:
    """The message's parts in order (blank stretches between them left out)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    flags = [line.lstrip().startswith(">") for line in lines]
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line):
            flags[i:] = [True] * (len(lines) - i)
            break
    for i in range(len(lines) - 1):  # the attribution belongs to the quote after it
        if flags[i] or not _ATTRIBUTION.search(lines[i]):
            continue
        after = i + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after < len(lines) and flags[after]:
            flags[i:after] = [True] * (after - i)
    parts: list[Part] = []
    start = 0
    for i in range(1, len(lines) + 1):
        if i == len(lines) or flags[i] != flags[start]:
            parts.append(Part("\n".join(lines[start:i]), flags[start]))
            start = i
    return _trimmed(parts)


def _trimmed(parts: list[Part]) -> list[Part]:
    """Blank lines at the edges of a part, and blank-only parts, are left out; nothing of
    substance is lost."""
    kept = [Part(p.text.strip("\n"), p.quoted) for p in parts if p.text.strip()]
    return kept or [Part("", False)]
