"""Find what a template left for the agent to fill in, before a reply reaches a person.

A reply template may hold instructions to the agent in square brackets ("[What happens
next, in plain words.]"), and staff may mark gaps with a marker of their own
(settings.placeholder_markers, by default "[[", "]]" and "TODO:"). A reply that still
holds either must not be sent (queues.replies.send_reply refuses it and says where).

A bracketed instruction is told from ordinary brackets by its shape: it starts with a
capital letter and holds only words and sentence punctuation, on one line ("[Name]",
"[What we are doing about the report.]"). The ticket tag ("[Ticket#2026...]"), numbered
references ("[1]"), "[...]" and "[sic]" are not instructions. Lines quoted from the message
being answered (starting with ">", RFC 3676 4.5) are the requester's words, not a
template's, so brackets there are left alone; a staff marker counts anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

# "[" + an upper-case letter + letters, marks, spaces and sentence punctuation + "]".
_BRACKETED = regex.compile(r"\[\p{Lu}[\p{L}\p{M}\s.,;:!?'’\"“”()/&-]{0,300}\]")
MAX_FOUND = 10


@dataclass(frozen=True)
class Placeholder:
    """One placeholder: its line (1-based) in the text and the placeholder as written."""

    line: int
    text: str

    def describe(self) -> str:
        return f"line {self.line}: {self.text}"


def find_placeholders(text: str, markers: tuple[str, ...] = ()) -> list[Placeholder]:
    """Placeholders in `text`, in order, at most MAX_FOUND: bracketed instructions outside
    quoted lines, and any of `markers` anywhere (the rest of the line after it, briefly)."""
    found: list[Placeholder] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, 1):
        # (start, end, text): a marker reaches to the end of its line, so "[[Name]]" is
        # one placeholder, not a marker, a bracketed word and another marker.
        spans: list[tuple[int, int, str]] = []
        if not line.lstrip().startswith(">"):
            spans += [(m.start(), m.end(), m.group(0)) for m in _BRACKETED.finditer(line)]
        for marker in markers:
            at = line.find(marker) if marker else -1
            if at >= 0:
                spans.append((at, len(line), _excerpt(line[at:])))
        taken: list[tuple[int, int]] = []
        for start, end, shown in sorted(spans, key=lambda span: (span[0], -span[1])):
            if not any(a <= start < b for a, b in taken):
                taken.append((start, end))
                found.append(Placeholder(number, shown))
        if len(found) >= MAX_FOUND:
            return found[:MAX_FOUND]
    return found


def _excerpt(rest: str, limit: int = 60) -> str:
    rest = rest.strip()
    return rest if len(rest) <= limit else rest[: limit - 1] + "…"
