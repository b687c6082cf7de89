"""What triage found: hits with the report's own words, and the reasons staff read on a ticket.

A hit names its category (what kind of risk), its signal (what fired: a lexicon phrase, a
window rule over several sentences, or the reporter's own words of fear), the lexicon entry
or rule that fired (language and id, so staff can look it up or disable it) and the words
of the report that fired it: a short excerpt, plus the offsets of the matched words in the
subject or body, so a page can highlight them in the message.

The reason stored on a ticket (Ticket.triage_reasons, a list of strings) quotes the
report, never the lexicon's own phrase: `threat of harm: "…he will come to my house…"
(phrase en/come-to-my-house)`. The wording model (queues.triage.model) names itself and
its score, and quotes the sentence that weighed most: `threat of harm: "…I know which bus
you take…" (wording model, score 0.87)`; it has no lexicon language. Signals that come
from outside the text (mail to the safety address, the form's at-risk box) have reasons of
their own (`signal_reason`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

CATEGORIES: Final = (
    "threat",
    "self_harm",
    "child_safety",
    "illegal",
    "offsite_contact",
    "personal_data",
    "at_risk",
)
LANGUAGES: Final = ("en", "de", "fr", "es")  # the data files shipped; a new one is a new file
_LANGUAGE_CODE: Final = re.compile(r"[a-z]{2,3}")
CATEGORY_LABELS: Final[dict[str, str]] = {
    "threat": "threat of harm",
    "self_harm": "self-harm or suicide risk",
    "child_safety": "child safety",
    "illegal": "illegal act",
    "offsite_contact": "contact outside the site",
    "personal_data": "personal data published",
    "at_risk": "the reporter says they are at risk",
}
# What fired. "phrase": one lexicon entry; "rule": concepts together in a few sentences;
# "fear": the reporter's own words of fear or of being at risk (entries of category at_risk);
# "model": the wording model's probability reached its threshold (queues.triage.model).
SIGNALS: Final = ("phrase", "rule", "fear", "model")
SIGNAL_LABELS: Final[dict[str, str]] = {
    "phrase": "phrase",
    "rule": "rule",
    "fear": "own words",
    "model": "wording model",
}

# Signals that do not come from the text: the ingest path and the public form add them.
EXTERNAL_SIGNALS: Final[dict[str, str]] = {
    "safety-address": "signal: the report was sent to the safety address",
    "at-risk-box": "signal: the reporter ticked the form's at-risk box",
}

FIELDS: Final = ("subject", "body")


@dataclass(frozen=True, slots=True)
class Span:
    """Where matched words are: `field` ("subject" or "body") and Python string offsets in
    it (text[start:end] are the words)."""

    field: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TriageHit:
    """One entry or rule that fired, with the report's own words (or the wording model's
    hit: signal "model", no language, its score)."""

    category: str
    language: str  # the lexicon's language; "" for the wording model (all languages)
    entry: str  # the entry's or rule's id in that language's lexicon
    signal: str = "phrase"
    excerpt: str = ""  # the report's words around the match, one line, "…" where cut
    spans: tuple[Span, ...] = ()
    score: float | None = None  # the wording model's probability, rounded to 0.01

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown triage category {self.category!r}")
        if self.signal not in SIGNALS:
            raise ValueError(f"unknown triage signal {self.signal!r}")
        if self.signal == "model":
            if self.language or self.score is None or not 0 <= self.score <= 1:
                raise ValueError("a wording model hit has a score and no language")
        elif not _LANGUAGE_CODE.fullmatch(self.language):
            raise ValueError(f"not a language code: {self.language!r}")

    @property
    def key(self) -> tuple[str, str]:
        """(language, entry id): what staff disable."""
        return self.language, self.entry

    def reason(self) -> str:
        """E.g. `threat of harm: "…I will kill you…" (phrase en/kill-you)`, or for the
        wording model `threat of harm: "…" (wording model, score 0.87)`."""
        quoted = f' "{self.excerpt}"' if self.excerpt else ""
        label = SIGNAL_LABELS[self.signal]
        if self.signal == "model":
            return f"{CATEGORY_LABELS[self.category]}:{quoted} ({label}, score {self.score:.2f})"
        return f"{CATEGORY_LABELS[self.category]}:{quoted} ({label} {self.language}/{self.entry})"


def reasons(hits: Iterable[TriageHit]) -> list[str]:
    """The reason strings of `hits`, in order, without repeats."""
    return list(dict.fromkeys(hit.reason() for hit in hits))


def signal_reason(name: str) -> str:
    """The reason for a signal from outside the text: "safety-address" (mail to the safety
    address) or "at-risk-box" (the public form's box). Raises ValueError for others."""
    try:
        return EXTERNAL_SIGNALS[name]
    except KeyError:
        raise ValueError(f"unknown triage signal {name!r}") from None
