"""Contexts in which a match is everyday help, not a risk: fewer false alarms, on purpose few.

- **quoted-title**: the match lies inside a short quotation that a word for a work names
  (`the film "I Know Where You Live"`, `mon article « Menaces de mort en ligne »`). A quoted
  threat ("he wrote: 'I will kill you'") is evidence, not a title: without such a word next
  to the quotation it still counts.
- **policy-question**: the match is in a question about the rules themselves ("what is your
  policy on death threats?") that says nothing about the writer (no "me", "my", "I was":
  the `personal` concept). "Is it allowed that he threatens to kill me?" still counts.
- **edit-dispute**: the match is within a sentence of words about editing articles (edits,
  reverts, talk pages): on-site hounding of edits is everyday help. Only entries and rules
  that list it in `everyday_in` (stalking, following) can be made everyday this way; a
  threat to kill is never an edit dispute.

The words (`title_cue`, `policy`, `personal`, `edit_dispute`) are concepts in the language
files. A missed report costs more than a false alarm: each context needs positive evidence
in the text, and when in doubt the match counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from queues.triage.document import Document
from queues.triage.fold import fold

OPENING: Final = "\"“„«‹‘'"
CLOSING: Final = "\"”“»›’'"
_APOSTROPHES: Final = "'’‘"
_REACH: Final = 80  # characters from the match to the quotation marks, at most
_MAX_TITLE_WORDS: Final = 10
_CUE_WORDS: Final = 4  # words before or after the quotation where a title cue may be


class Contexts:
    """The contexts of one report, worked out on demand and remembered per sentence."""

    def __init__(self, doc: Document, concept: Callable[[str], re.Pattern[bytes]]) -> None:
        self._doc = doc
        self._concept = concept
        self._quotes = any(q in doc.text for q in OPENING)
        self._policy: dict[int, bool] = {}
        self._edits: dict[int, bool] = {}

    def everyday(self, start: int, end: int, also: tuple[str, ...]) -> bool:
        """Whether the match at data[start:end] is everyday help in its context; `also`
        names the optional contexts (those the entry or rule lists in `everyday_in`)."""
        if self._quotes and self.quoted_title(start, end):
            return True
        if self.policy_question(start):
            return True
        return "edit-dispute" in also and self.edit_dispute(start)

    def quoted_title(self, start: int, end: int) -> bool:
        text = self._doc.text
        s, e = self._doc.original(start, end)
        opening = _opening(text, s)
        closing = _closing(text, e)
        if opening is None or closing is None:
            return False
        if len(text[opening + 1 : closing].split()) > _MAX_TITLE_WORDS:
            return False
        line_start = text.rfind("\n", 0, opening) + 1
        line_end = text.find("\n", closing)
        line_end = len(text) if line_end < 0 else line_end
        before = " ".join(text[line_start:opening].split()[-_CUE_WORDS:])
        after = " ".join(text[closing + 1 : line_end].split()[:_CUE_WORDS])
        cue = self._concept("title_cue")
        return any(cue.search(fold(part).data) for part in (before, after) if part)

    def policy_question(self, at: int) -> bool:
        lo, hi, question = self._doc.sentence_around(at)
        known = self._policy.get(lo)
        if known is None:
            known = question and self._has("policy", lo, hi) and not self._has("personal", lo, hi)
            self._policy[lo] = known
        return known

    def edit_dispute(self, at: int) -> bool:
        lo, hi, _ = self._doc.sentence_around(at, neighbours=1)
        known = self._edits.get(lo)
        if known is None:
            known = self._has("edit_dispute", lo, hi)
            self._edits[lo] = known
        return known

    def _has(self, concept: str, lo: int, hi: int) -> bool:
        """Whether `concept` occurs in data[lo:hi]."""
        return self._concept(concept).search(self._doc.data, lo, hi) is not None


def _opening(text: str, start: int) -> int | None:
    """The index of the quotation mark that opens a quotation around `start`, if any."""
    i = start - 1
    stop = max(0, start - _REACH)
    while i >= stop:
        c = text[i]
        if c == "\n":
            return None
        if c in OPENING:
            if c in _APOSTROPHES and i > 0 and text[i - 1].isalnum():
                i -= 1  # an apostrophe inside a word ("I'll")
                continue
            return i
        if c in CLOSING:
            return None
        i -= 1
    return None


def _closing(text: str, end: int) -> int | None:
    """The index of the quotation mark that closes a quotation around `end`, if any."""
    i = end
    stop = min(len(text), end + _REACH)
    while i < stop:
        c = text[i]
        if c == "\n":
            return None
        if c in CLOSING:
            if c in _APOSTROPHES and i + 1 < len(text) and text[i + 1].isalnum():
                i += 1
                continue
            return i
        if c in OPENING:
            return None
        i += 1
    return None
